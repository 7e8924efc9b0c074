// HfTensorMap: the one table of how each NextToken tensor is made of Hugging Face tensors (names, shapes, transposes,
// q/k/v and gate/up concatenation, the RoPE row permutation), read in one direction by import and in the other by export.
using NextToken.Model;

namespace NextToken.Interop;

/// <summary>How a Hugging Face tensor is laid out relative to ours.</summary>
internal enum HfTransform
{
    /// <summary>Same layout: HF rows are our rows.</summary>
    None,
    /// <summary>GPT's Conv1D stores (in, out); ours is (out, in).</summary>
    Transpose,
    /// <summary>
    /// LLaMA q/k rows in Hugging Face's rotate-half order: within each head, HF row j·HS/2 + i is our row 2i + j (we rotate
    /// adjacent pairs), the inverse of the permutation in HF's convert_llama_weights_to_hf.py.
    /// </summary>
    RopePermute,
}

/// <summary>One HF tensor that fills rows [<see cref="Row"/>, Row + rows) of one of our tensors.</summary>
internal sealed record HfPart(string HfName, int[] HfShape, int Row, HfTransform Transform, int Heads = 0)
{
    /// <summary>Rows of ours this part fills.</summary>
    public int Rows => Transform == HfTransform.Transpose ? HfShape[1] : HfShape[0];
    public long Length => HfShape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>Our tensor <see cref="Name"/> and the HF tensors it is made of.</summary>
internal sealed record HfTensor(string Name, HfPart[] Parts);

internal static class HfTensorMap
{
    /// <summary>
    /// The mapping for <paramref name="cfg"/> as <paramref name="arch"/>; <paramref name="prefix"/> is the base model's
    /// prefix in the file ("transformer." or "" for GPT-2/GPT-1; LLaMA always uses "model.").
    /// </summary>
    public static List<HfTensor> Build(HfArchitecture arch, GptConfig cfg, string prefix)
    {
        int C = cfg.EmbeddingSize, V = cfg.VocabSize, F = cfg.MlpSize, NH = cfg.Heads, NKV = cfg.KvHeadCount, HS = cfg.HeadSize;
        var map = new List<HfTensor>();
        void One(string ours, string hf, int[] shape, HfTransform t = HfTransform.None) => map.Add(new HfTensor(ours, [new HfPart(hf, shape, 0, t)]));
        if (arch is HfArchitecture.Gpt2 or HfArchitecture.OpenAiGpt)
        {
            string p = prefix;
            bool gpt1 = arch == HfArchitecture.OpenAiGpt;
            One("wte.weight", p + (gpt1 ? "tokens_embed.weight" : "wte.weight"), [V, C]);
            One("wpe.weight", p + (gpt1 ? "positions_embed.weight" : "wpe.weight"), [cfg.ContextLength, C]);
            for (int l = 0; l < cfg.Layers; l++)
            {
                string h = $"h.{l}.", hp = p + h;
                One(h + "ln_1.weight", hp + "ln_1.weight", [C]);
                One(h + "ln_1.bias", hp + "ln_1.bias", [C]);
                One(h + "attn.c_attn.weight", hp + "attn.c_attn.weight", [C, 3 * C], HfTransform.Transpose);
                One(h + "attn.c_attn.bias", hp + "attn.c_attn.bias", [3 * C]);
                One(h + "attn.c_proj.weight", hp + "attn.c_proj.weight", [C, C], HfTransform.Transpose);
                One(h + "attn.c_proj.bias", hp + "attn.c_proj.bias", [C]);
                One(h + "ln_2.weight", hp + "ln_2.weight", [C]);
                One(h + "ln_2.bias", hp + "ln_2.bias", [C]);
                One(h + "mlp.c_fc.weight", hp + "mlp.c_fc.weight", [C, F], HfTransform.Transpose);
                One(h + "mlp.c_fc.bias", hp + "mlp.c_fc.bias", [F]);
                One(h + "mlp.c_proj.weight", hp + "mlp.c_proj.weight", [F, C], HfTransform.Transpose);
                One(h + "mlp.c_proj.bias", hp + "mlp.c_proj.bias", [C]);
            }
            if (!gpt1)
            {
                One("ln_f.weight", p + "ln_f.weight", [C]);
                One("ln_f.bias", p + "ln_f.bias", [C]);
            }
        }
        else
        {
            One("wte.weight", "model.embed_tokens.weight", [V, C]);
            for (int l = 0; l < cfg.Layers; l++)
            {
                string h = $"h.{l}.", hp = $"model.layers.{l}.";
                One(h + "ln_1.weight", hp + "input_layernorm.weight", [C]);
                map.Add(new HfTensor(h + "attn.c_attn.weight",
                [
                    new HfPart(hp + "self_attn.q_proj.weight", [NH * HS, C], 0, HfTransform.RopePermute, NH),
                    new HfPart(hp + "self_attn.k_proj.weight", [NKV * HS, C], NH * HS, HfTransform.RopePermute, NKV),
                    new HfPart(hp + "self_attn.v_proj.weight", [NKV * HS, C], (NH + NKV) * HS, HfTransform.None),
                ]));
                One(h + "attn.c_proj.weight", hp + "self_attn.o_proj.weight", [C, NH * HS]);
                One(h + "ln_2.weight", hp + "post_attention_layernorm.weight", [C]);
                map.Add(new HfTensor(h + "mlp.c_fc.weight",
                [
                    new HfPart(hp + "mlp.gate_proj.weight", [F, C], 0, HfTransform.None),
                    new HfPart(hp + "mlp.up_proj.weight", [F, C], F, HfTransform.None),
                ]));
                One(h + "mlp.c_proj.weight", hp + "mlp.down_proj.weight", [C, F]);
                if (cfg.Bias)
                {
                    map.Add(new HfTensor(h + "attn.c_attn.bias",
                    [
                        new HfPart(hp + "self_attn.q_proj.bias", [NH * HS], 0, HfTransform.RopePermute, NH),
                        new HfPart(hp + "self_attn.k_proj.bias", [NKV * HS], NH * HS, HfTransform.RopePermute, NKV),
                        new HfPart(hp + "self_attn.v_proj.bias", [NKV * HS], (NH + NKV) * HS, HfTransform.None),
                    ]));
                    One(h + "attn.c_proj.bias", hp + "self_attn.o_proj.bias", [C]);
                    map.Add(new HfTensor(h + "mlp.c_fc.bias",
                    [
                        new HfPart(hp + "mlp.gate_proj.bias", [F], 0, HfTransform.None),
                        new HfPart(hp + "mlp.up_proj.bias", [F], F, HfTransform.None),
                    ]));
                    One(h + "mlp.c_proj.bias", hp + "mlp.down_proj.bias", [C]);
                }
            }
            One("ln_f.weight", "model.norm.weight", [C]);
        }
        if (!cfg.TiedEmbeddings) One("lm_head.weight", "lm_head.weight", [V, C]);
        return map;
    }

    /// <summary>Tensors a Hugging Face file may hold that are not weights (causal-mask buffers, RoPE tables, a tied head's copy).</summary>
    public static bool Ignorable(string name, GptConfig cfg) =>
        name.EndsWith(".attn.bias", StringComparison.Ordinal) && !name.Contains("c_attn", StringComparison.Ordinal)
        || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal)
        || name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)
        || (cfg.TiedEmbeddings && name == "lm_head.weight");

    /// <summary>Writes HF data <paramref name="hf"/> (shape part.HfShape) into our rows <paramref name="ours"/> (part.Rows × cols).</summary>
    public static void ToOurs(HfPart part, ReadOnlySpan<float> hf, Span<float> ours)
    {
        switch (part.Transform)
        {
            case HfTransform.None: hf.CopyTo(ours); break;
            case HfTransform.Transpose:
            {
                Transpose(hf, ours, part.HfShape[0], part.HfShape[1]);
                break;
            }
            case HfTransform.RopePermute: RopePermute(part, hf, ours, toOurs: true); break;
        }
    }

    // Row (h, half j, i) of HF's rotate-half layout is row (h, pair i, j) of ours; toOurs picks the direction.
    private static void RopePermute(HfPart part, ReadOnlySpan<float> src, Span<float> dst, bool toOurs)
    {
        int rows = part.HfShape[0], cols = part.HfShape.Length > 1 ? part.HfShape[1] : 1, hs = rows / part.Heads, half = hs / 2;
        for (int h = 0; h < part.Heads; h++)
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++)
                {
                    int hfRow = h * hs + j * half + i, ourRow = h * hs + 2 * i + j;
                    src.Slice((toOurs ? hfRow : ourRow) * cols, cols).CopyTo(dst.Slice((toOurs ? ourRow : hfRow) * cols, cols));
                }
    }

    /// <summary>The inverse of <see cref="ToOurs"/>: our rows into HF layout.</summary>
    public static void ToHf(HfPart part, ReadOnlySpan<float> ours, Span<float> hf)
    {
        switch (part.Transform)
        {
            case HfTransform.None: ours.CopyTo(hf); break;
            case HfTransform.Transpose:
            {
                Transpose(ours, hf, part.HfShape[1], part.HfShape[0]);
                break;
            }
            case HfTransform.RopePermute: RopePermute(part, ours, hf, toOurs: false); break;
        }
    }

    /// <summary>dst (cols, rows) = srcᵀ for src (rows, cols), in 32 × 32 tiles so both sides stay in cache (GPT-2 124M sample start 2.6 s → 1.7 s here).</summary>
    private static void Transpose(ReadOnlySpan<float> src, Span<float> dst, int rows, int cols)
    {
        const int B = 32;
        for (int r0 = 0; r0 < rows; r0 += B)
            for (int c0 = 0; c0 < cols; c0 += B)
            {
                int r1 = Math.Min(rows, r0 + B), c1 = Math.Min(cols, c0 + B);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
            }
    }
}
