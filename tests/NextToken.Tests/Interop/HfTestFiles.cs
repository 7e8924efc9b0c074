// HfTestFiles: TEST-ONLY writers of foreign model files, written from the published formats (safetensors: 8-byte
// little-endian header size, JSON header {name: {dtype, shape, data_offsets}}, "__metadata__", raw little-endian data;
// Hugging Face's GPT-2, GPT-1 and LLaMA module names and layouts). They never call NextToken's exporters.
using System.Text;
using System.Text.Json;
using NextToken.Model;
using NextToken.Tensors;

namespace NextToken.Tests.Interop;

/// <summary>One tensor as a Hugging Face file stores it: name, shape, values (already rounded to the dtype).</summary>
internal sealed record HfTensorData(string Name, int[] Shape, double[] Values);

/// <summary>A tiny foreign model: its tensors in the foreign layout and the same weights in the oracle's layout.</summary>
internal sealed record TinyForeignModel(GptConfig Config, List<HfTensorData> Tensors, TensorLayout Layout, double[] OracleParameters);

internal static class HfTestFiles
{
    /// <summary>The value a dtype stores for <paramref name="v"/> (F16: IEEE half; BF16: the upper 16 bits of fp32, rounded to nearest even).</summary>
    public static double Round(double v, string dtype) => dtype switch
    {
        "F32" => (float)v,
        "F16" => (double)(Half)(float)v,
        "BF16" => BitConverter.Int32BitsToSingle((int)((BitConverter.SingleToUInt32Bits((float)v) + 0x7FFF + ((BitConverter.SingleToUInt32Bits((float)v) >> 16) & 1)) & 0xFFFF0000)),
        _ => v,
    };

    private static byte[] Encode(double[] values, string dtype)
    {
        var ms = new MemoryStream();
        var w = new BinaryWriter(ms);
        foreach (double v in values)
        {
            float f = (float)v;
            switch (dtype)
            {
                case "F32": w.Write(f); break;
                case "F16": w.Write(BitConverter.HalfToUInt16Bits((Half)f)); break;
                case "BF16": w.Write((ushort)(BitConverter.SingleToUInt32Bits(f) >> 16)); break; // values are already bf16-exact
                case "F64": w.Write(v); break;
                case "I64": w.Write((long)v); break;
                default: throw new ArgumentException(dtype);
            }
        }
        return ms.ToArray();
    }

    /// <summary>Writes a safetensors file; <paramref name="dtypeOf"/> picks each tensor's dtype (default F32).</summary>
    public static void WriteSafeTensors(string path, IEnumerable<HfTensorData> tensors, Func<string, string>? dtypeOf = null, bool withMetadata = true)
    {
        var header = new Dictionary<string, object>();
        if (withMetadata) header["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" };
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach (var t in tensors)
        {
            string dtype = dtypeOf?.Invoke(t.Name) ?? "F32";
            var bytes = Encode(t.Values, dtype);
            header[t.Name] = new Dictionary<string, object> { ["dtype"] = dtype, ["shape"] = t.Shape, ["data_offsets"] = new[] { offset, offset + bytes.Length } };
            offset += bytes.Length;
            blobs.Add(bytes);
        }
        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)json.Length));
        f.Write(json);
        foreach (var b in blobs) f.Write(b);
    }

    /// <summary>Writes config.json from key/value pairs.</summary>
    public static void WriteConfig(string dir, Dictionary<string, object?> config) =>
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(config));

    /// <summary>Writes the tensors as <paramref name="shards"/> files plus model.safetensors.index.json (round robin by tensor).</summary>
    public static void WriteSharded(string dir, List<HfTensorData> tensors, int shards, Func<string, string>? dtypeOf = null)
    {
        var map = new Dictionary<string, string>();
        for (int s = 0; s < shards; s++)
        {
            string file = $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
            var mine = tensors.Where((_, i) => i % shards == s).ToList();
            WriteSafeTensors(Path.Combine(dir, file), mine, dtypeOf);
            foreach (var t in mine) map[t.Name] = file;
        }
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"),
            JsonSerializer.Serialize(new Dictionary<string, object> { ["metadata"] = new Dictionary<string, long> { ["total_size"] = 0 }, ["weight_map"] = map }));
    }

    private static double[] Random(Rng r, long n, double scale, double mean, string dtype)
    {
        var v = new double[n];
        for (long i = 0; i < n; i++) v[i] = Round(mean + scale * r.NextGaussian(), dtype);
        return v;
    }

    private static void Put(TensorLayout layout, double[] p, string name, double[] values)
    {
        var s = layout[name];
        Assert.True(values.Length <= s.Length, $"{name}: {values.Length} values for a slot of {s.Length}");
        Array.Copy(values, 0, p, s.Offset, values.Length);
    }

    // Hugging Face Conv1D stores (in, out) and computes x @ W + b: the oracle's (out, in) matrix is its transpose.
    private static double[] TransposeConv1D(double[] w, int inDim, int outDim)
    {
        var t = new double[w.Length];
        for (int i = 0; i < inDim; i++)
            for (int o = 0; o < outDim; o++) t[o * inDim + i] = w[i * outDim + o];
        return t;
    }

    /// <summary>
    /// A GPT-2 (or, with <paramref name="gpt1"/>, an openai-gpt) model in Hugging Face's layout: Conv1D weights (in, out),
    /// the causal-mask buffers attn.bias / attn.masked_bias, names under <paramref name="prefix"/>.
    /// </summary>
    public static TinyForeignModel Gpt2(string dtype = "F32", string prefix = "transformer.", bool gpt1 = false, ulong seed = 3, int vocab = 23, int inner = 0)
    {
        int V = vocab, T = 16, L = 2, NH = 2, C = 8, F = inner > 0 ? inner : 4 * C;
        var cfg = new GptConfig
        {
            VocabSize = V, ContextLength = T, Layers = L, Heads = NH, EmbeddingSize = C, MlpHiddenSize = inner, LayerNormEpsilon = 1e-5f,
            Norm = gpt1 ? NormPlacement.Post : NormPlacement.Pre,
        };
        var layout = GptModel.CreateUninitialised(cfg).Layout;
        var p = new double[layout.Size];
        var r = new Rng(seed);
        var list = new List<HfTensorData>();
        void Add(string hf, int[] shape, double scale, double mean, string? ours, Func<double[], double[]>? toOracle = null)
        {
            var v = Random(r, shape.Aggregate(1L, (a, b) => a * b), scale, mean, dtype);
            list.Add(new HfTensorData(prefix + hf, shape, v));
            if (ours is not null) Put(layout, p, ours, toOracle is null ? v : toOracle(v));
        }
        Add(gpt1 ? "tokens_embed.weight" : "wte.weight", [V, C], 0.5, 0, "wte.weight");
        Add(gpt1 ? "positions_embed.weight" : "wpe.weight", [T, C], 0.5, 0, "wpe.weight");
        for (int l = 0; l < L; l++)
        {
            string h = $"h.{l}.";
            Add(h + "ln_1.weight", [C], 0.2, 1, h + "ln_1.weight");
            Add(h + "ln_1.bias", [C], 0.2, 0, h + "ln_1.bias");
            Add(h + "attn.c_attn.weight", [C, 3 * C], 0.5, 0, h + "attn.c_attn.weight", w => TransposeConv1D(w, C, 3 * C));
            Add(h + "attn.c_attn.bias", [3 * C], 0.2, 0, h + "attn.c_attn.bias");
            Add(h + "attn.c_proj.weight", [C, C], 0.5, 0, h + "attn.c_proj.weight", w => TransposeConv1D(w, C, C));
            Add(h + "attn.c_proj.bias", [C], 0.2, 0, h + "attn.c_proj.bias");
            Add(h + "ln_2.weight", [C], 0.2, 1, h + "ln_2.weight");
            Add(h + "ln_2.bias", [C], 0.2, 0, h + "ln_2.bias");
            Add(h + "mlp.c_fc.weight", [C, F], 0.5, 0, h + "mlp.c_fc.weight", w => TransposeConv1D(w, C, F));
            Add(h + "mlp.c_fc.bias", [F], 0.2, 0, h + "mlp.c_fc.bias");
            Add(h + "mlp.c_proj.weight", [F, C], 0.5, 0, h + "mlp.c_proj.weight", w => TransposeConv1D(w, F, C));
            Add(h + "mlp.c_proj.bias", [C], 0.2, 0, h + "mlp.c_proj.bias");
            // The causal mask buffers older checkpoints carry (not weights).
            if (!gpt1)
            {
                var mask = new double[T * T];
                for (int i = 0; i < T; i++) for (int j = 0; j <= i; j++) mask[i * T + j] = 1;
                list.Add(new HfTensorData(prefix + h + "attn.bias", [1, 1, T, T], mask));
                list.Add(new HfTensorData(prefix + h + "attn.masked_bias", [], [-10000]));
            }
        }
        if (!gpt1)
        {
            Add("ln_f.weight", [C], 0.2, 1, "ln_f.weight");
            Add("ln_f.bias", [C], 0.2, 0, "ln_f.bias");
        }
        return new TinyForeignModel(cfg, list, layout, p);
    }

    /// <summary>config.json for <see cref="Gpt2"/>.</summary>
    public static Dictionary<string, object?> Gpt2Config(TinyForeignModel m, bool gpt1 = false) => gpt1
        ? new() { ["model_type"] = "openai-gpt", ["architectures"] = new[] { "OpenAIGPTLMHeadModel" }, ["vocab_size"] = m.Config.VocabSize, ["n_positions"] = m.Config.ContextLength,
                  ["n_embd"] = m.Config.EmbeddingSize, ["n_layer"] = m.Config.Layers, ["n_head"] = m.Config.Heads, ["afn"] = "gelu", ["layer_norm_epsilon"] = 1e-5 }
        : new() { ["model_type"] = "gpt2", ["architectures"] = new[] { "GPT2LMHeadModel" }, ["vocab_size"] = m.Config.VocabSize, ["n_positions"] = m.Config.ContextLength,
                  ["n_ctx"] = m.Config.ContextLength, ["n_embd"] = m.Config.EmbeddingSize, ["n_layer"] = m.Config.Layers, ["n_head"] = m.Config.Heads,
                  ["n_inner"] = m.Config.MlpHiddenSize > 0 ? m.Config.MlpHiddenSize : null, ["activation_function"] = "gelu_new", ["layer_norm_epsilon"] = 1e-5,
                  ["tie_word_embeddings"] = true };

    /// <summary>
    /// Hugging Face's convert_llama_weights_to_hf.py <c>permute</c>: w.view(n_heads, dim1 // n_heads // 2, 2, dim2)
    /// .transpose(1, 2).reshape(dim1, dim2) — from Meta's interleaved-pair rows (the oracle's RoPE) to HF's rotate-half rows.
    /// </summary>
    public static double[] PermuteToHf(double[] w, int heads, int dim1, int dim2)
    {
        int half = dim1 / heads / 2;
        var o = new double[w.Length];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++)
                    for (int c = 0; c < dim2; c++)
                        o[((h * 2 + j) * half + i) * dim2 + c] = w[((h * half + i) * 2 + j) * dim2 + c]; // view index (h, i, j, c) → (h, j, i, c)
        return o;
    }

    /// <summary>A LLaMA-family model (GQA 4 heads / 2 KV heads, SwiGLU, RMSNorm, RoPE) in Hugging Face's LlamaForCausalLM layout.</summary>
    public static TinyForeignModel Llama(string dtype = "F32", bool tied = true, ulong seed = 5, float theta = 10000f)
    {
        int V = 29, T = 16, L = 2, NH = 4, NKV = 2, C = 16, HS = C / NH, F = 24;
        var cfg = new GptConfig
        {
            VocabSize = V, ContextLength = T, Layers = L, Heads = NH, KvHeads = NKV, EmbeddingSize = C, MlpHiddenSize = F, Mlp = MlpKind.SwiGlu,
            NormKind = NormKind.RmsNorm, Positions = PositionEncoding.Rotary, RotaryBase = theta, Bias = false, TiedEmbeddings = tied, LayerNormEpsilon = 1e-6f,
        };
        var layout = GptModel.CreateUninitialised(cfg).Layout;
        var p = new double[layout.Size];
        var r = new Rng(seed);
        var list = new List<HfTensorData>();
        double[] Gen(long n, double scale, double mean) => Random(r, n, scale, mean, dtype);
        void Direct(string hf, int[] shape, double scale, double mean, string ours)
        {
            var v = Gen(shape.Aggregate(1L, (a, b) => a * b), scale, mean);
            list.Add(new HfTensorData(hf, shape, v));
            Put(layout, p, ours, v);
        }
        Direct("model.embed_tokens.weight", [V, C], 0.5, 0, "wte.weight");
        for (int l = 0; l < L; l++)
        {
            string h = $"h.{l}.", hp = $"model.layers.{l}.";
            Direct(hp + "input_layernorm.weight", [C], 0.2, 1, h + "ln_1.weight");
            // The oracle rotates adjacent pairs: q and k are drawn in that layout and written in HF's rotate-half layout.
            var q = Gen(NH * HS * C, 0.5, 0); var k = Gen(NKV * HS * C, 0.5, 0); var v = Gen(NKV * HS * C, 0.5, 0);
            list.Add(new HfTensorData(hp + "self_attn.q_proj.weight", [NH * HS, C], PermuteToHf(q, NH, NH * HS, C)));
            list.Add(new HfTensorData(hp + "self_attn.k_proj.weight", [NKV * HS, C], PermuteToHf(k, NKV, NKV * HS, C)));
            list.Add(new HfTensorData(hp + "self_attn.v_proj.weight", [NKV * HS, C], v));
            Put(layout, p, h + "attn.c_attn.weight", [.. q, .. k, .. v]);
            Direct(hp + "self_attn.o_proj.weight", [C, NH * HS], 0.5, 0, h + "attn.c_proj.weight");
            Direct(hp + "post_attention_layernorm.weight", [C], 0.2, 1, h + "ln_2.weight");
            var gate = Gen(F * C, 0.5, 0); var up = Gen(F * C, 0.5, 0);
            list.Add(new HfTensorData(hp + "mlp.gate_proj.weight", [F, C], gate));
            list.Add(new HfTensorData(hp + "mlp.up_proj.weight", [F, C], up));
            Put(layout, p, h + "mlp.c_fc.weight", [.. gate, .. up]);
            Direct(hp + "mlp.down_proj.weight", [C, F], 0.5, 0, h + "mlp.c_proj.weight");
            list.Add(new HfTensorData(hp + "self_attn.rotary_emb.inv_freq", [HS / 2], Enumerable.Range(0, HS / 2).Select(i => Math.Pow(theta, -2.0 * i / HS)).ToArray()));
        }
        Direct("model.norm.weight", [C], 0.2, 1, "ln_f.weight");
        if (!tied) Direct("lm_head.weight", [V, C], 0.5, 0, "lm_head.weight");
        return new TinyForeignModel(cfg, list, layout, p);
    }

    /// <summary>config.json for <see cref="Llama"/>.</summary>
    public static Dictionary<string, object?> LlamaConfig(TinyForeignModel m) => new()
    {
        ["model_type"] = "llama", ["architectures"] = new[] { "LlamaForCausalLM" }, ["vocab_size"] = m.Config.VocabSize,
        ["max_position_embeddings"] = m.Config.ContextLength, ["hidden_size"] = m.Config.EmbeddingSize, ["intermediate_size"] = m.Config.MlpHiddenSize,
        ["num_hidden_layers"] = m.Config.Layers, ["num_attention_heads"] = m.Config.Heads, ["num_key_value_heads"] = m.Config.KvHeads,
        ["hidden_act"] = "silu", ["rms_norm_eps"] = 1e-6, ["rope_theta"] = (double)m.Config.RotaryBase, ["tie_word_embeddings"] = m.Config.TiedEmbeddings,
        ["attention_bias"] = false, ["mlp_bias"] = false, ["rope_scaling"] = null, ["torch_dtype"] = "float32",
    };

    /// <summary>Writes a whole directory: config.json and model.safetensors (or shards).</summary>
    public static void WriteDirectory(string dir, TinyForeignModel m, Dictionary<string, object?> config, string dtype = "F32", int shards = 1)
    {
        Directory.CreateDirectory(dir);
        WriteConfig(dir, config);
        Func<string, string> dt = name => name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith("masked_bias", StringComparison.Ordinal) ? "F32" : dtype;
        if (shards == 1) WriteSafeTensors(Path.Combine(dir, "model.safetensors"), m.Tensors, dt);
        else WriteSharded(dir, m.Tensors, shards, dt);
    }
}
