// VisionEncoder: a small ViT over an image's patch vectors — bidirectional pre-LN transformer blocks and a final LayerNorm —
// between the projector and the decoder, so that every patch sees the whole image before the causal decoder reads it.
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Tensors;

namespace NextToken.Vision;

/// <summary>
/// The optional image encoder of <see cref="GptConfig.ImageEncoderLayers"/>: x (B·NP, C), the projected patches plus
/// <c>img.pos</c>, goes through E blocks x += attn(LN1(x)); x += MLP(LN2(x)) with full (not causal) attention among the NP
/// patches of one image (the model's heads, GELU MLP of 4C, GPT-2 tensor names under <c>img.enc.L.</c>), then
/// <c>img.enc.ln_f</c>. Forward keeps every activation in a <see cref="Activations"/>; backward reads them.
/// </summary>
public static class VisionEncoder
{
    /// <summary>The encoder's saved activations for B images (grown as needed, reused between steps).</summary>
    public sealed class Activations
    {
        internal int B, M;
        internal float[][] In = [], Ln1 = [], Mean1 = [], Rstd1 = [], Qkv = [], Probs = [], Atty = [], Mid = [], Ln2 = [], Mean2 = [], Rstd2 = [], FcPre = [], FcAct = [];
        internal float[] Last = [], MeanF = [], RstdF = [];
        internal float[] D1 = [], D2 = [], D3 = [], DQkv = [], DFc = [], DFcPre = [];

        internal void Ensure(GptConfig cfg, int B)
        {
            int C = cfg.EmbeddingSize, NP = cfg.ImagePatches, E = cfg.ImageEncoderLayers, NH = cfg.Heads, M = B * NP;
            this.B = B;
            if (M <= this.M && In.Length == E) return;
            this.M = M;
            float[][] Make(int per) => [.. Enumerable.Range(0, E).Select(_ => new float[(long)M * per])];
            In = Make(C); Ln1 = Make(C); Mean1 = Make(1); Rstd1 = Make(1); Qkv = Make(3 * C); Probs = [.. Enumerable.Range(0, E).Select(_ => new float[B * NH * NP * NP])];
            Atty = Make(C); Mid = Make(C); Ln2 = Make(C); Mean2 = Make(1); Rstd2 = Make(1); FcPre = Make(4 * C); FcAct = Make(4 * C);
            Last = new float[M * C]; MeanF = new float[M]; RstdF = new float[M];
            D1 = new float[M * C]; D2 = new float[M * C]; D3 = new float[M * C]; DQkv = new float[M * 3 * C]; DFc = new float[M * 4 * C]; DFcPre = new float[M * 4 * C];
        }
    }

    private static ReadOnlySpan<float> P(GptModel m, string name) => m.Parameter(name);

    /// <summary>Declares the encoder's tensors: img.pos (NP, C), each layer's block (GPT-2 names under img.enc.L.), img.enc.ln_f.</summary>
    internal static void Declare(TensorLayout layout, GptConfig cfg)
    {
        int C = cfg.EmbeddingSize;
        layout.Add("img.pos", TensorKind.Embedding, cfg.ImagePatches, C);
        for (int l = 0; l < cfg.ImageEncoderLayers; l++)
        {
            var n = Names(l);
            layout.Add(n.Ln1W, TensorKind.Gain, C);
            layout.Add(n.Ln1B, TensorKind.Bias, C);
            layout.Add(n.AttnW, TensorKind.Matrix, 3 * C, C);
            layout.Add(n.AttnB, TensorKind.Bias, 3 * C);
            layout.Add(n.ProjW, TensorKind.Matrix, C, C);
            layout.Add(n.ProjB, TensorKind.Bias, C);
            layout.Add(n.Ln2W, TensorKind.Gain, C);
            layout.Add(n.Ln2B, TensorKind.Bias, C);
            layout.Add(n.FcW, TensorKind.Matrix, 4 * C, C);
            layout.Add(n.FcB, TensorKind.Bias, 4 * C);
            layout.Add(n.Fc2W, TensorKind.Matrix, C, 4 * C);
            layout.Add(n.Fc2B, TensorKind.Bias, C);
        }
        layout.Add("img.enc.ln_f.weight", TensorKind.Gain, C);
        layout.Add("img.enc.ln_f.bias", TensorKind.Bias, C);
    }

    // Tensor names of layer l (built once per layer index, so a training step formats no strings).
    private sealed record LayerNames(string Ln1W, string Ln1B, string AttnW, string AttnB, string ProjW, string ProjB,
                                     string Ln2W, string Ln2B, string FcW, string FcB, string Fc2W, string Fc2B);

    private static LayerNames[] s_names = [];
    private static readonly object NamesGate = new();

    private static LayerNames Names(int l)
    {
        var names = s_names;
        if (l < names.Length) return names[l];
        lock (NamesGate)
        {
            if (l < s_names.Length) return s_names[l];
            var grown = new LayerNames[l + 1];
            for (int i = 0; i <= l; i++)
            {
                string p = $"img.enc.{i}.";
                grown[i] = new LayerNames(p + "ln_1.weight", p + "ln_1.bias", p + "attn.c_attn.weight", p + "attn.c_attn.bias", p + "attn.c_proj.weight",
                                          p + "attn.c_proj.bias", p + "ln_2.weight", p + "ln_2.bias", p + "mlp.c_fc.weight", p + "mlp.c_fc.bias",
                                          p + "mlp.c_proj.weight", p + "mlp.c_proj.bias");
            }
            s_names = grown;
            return grown[l];
        }
    }

    /// <summary>x is (B·NP, C): the encoder's input, overwritten with its output; a keeps what backward needs.</summary>
    public static void Forward(GptModel model, Span<float> x, int B, Activations a)
    {
        var cfg = model.Config;
        int C = cfg.EmbeddingSize, NP = cfg.ImagePatches, M = B * NP;
        float eps = cfg.LayerNormEpsilon;
        a.Ensure(cfg, B);
        for (int l = 0; l < cfg.ImageEncoderLayers; l++)
        {
            var n = Names(l);
            x[..(M * C)].CopyTo(a.In[l]);
            LayerNorm.Forward(a.In[l], P(model, n.Ln1W), P(model, n.Ln1B), a.Ln1[l], a.Mean1[l], a.Rstd1[l], M, C, eps);
            Matmul.Forward(a.Ln1[l].AsSpan(0, M * C), P(model, n.AttnW), P(model, n.AttnB), a.Qkv[l], M, C, 3 * C);
            AttentionForward(a.Qkv[l], a.Probs[l], a.Atty[l], B, NP, cfg.Heads, C);
            Matmul.Forward(a.Atty[l].AsSpan(0, M * C), P(model, n.ProjW), P(model, n.ProjB), a.Mid[l], M, C, C);
            System.Numerics.Tensors.TensorPrimitives.Add(a.Mid[l].AsSpan(0, M * C), a.In[l].AsSpan(0, M * C), a.Mid[l].AsSpan(0, M * C));
            LayerNorm.Forward(a.Mid[l], P(model, n.Ln2W), P(model, n.Ln2B), a.Ln2[l], a.Mean2[l], a.Rstd2[l], M, C, eps);
            Matmul.Forward(a.Ln2[l].AsSpan(0, M * C), P(model, n.FcW), P(model, n.FcB), a.FcPre[l], M, C, 4 * C);
            Gelu.Forward(a.FcPre[l], a.FcAct[l], M * 4 * C);
            Matmul.Forward(a.FcAct[l].AsSpan(0, M * 4 * C), P(model, n.Fc2W), P(model, n.Fc2B), x, M, 4 * C, C);
            System.Numerics.Tensors.TensorPrimitives.Add(x[..(M * C)], a.Mid[l].AsSpan(0, M * C), x[..(M * C)]);
        }
        x[..(M * C)].CopyTo(a.Last);
        LayerNorm.Forward(a.Last, P(model, "img.enc.ln_f.weight"), P(model, "img.enc.ln_f.bias"), x, a.MeanF, a.RstdF, M, C, eps);
    }

    /// <summary>
    /// dx is (B·NP, C): dL/d(output) in, dL/d(input) out; accumulates the encoder's parameter gradients. a is the
    /// activations of the forward of the same input.
    /// </summary>
    public static void Backward(GptModel model, Span<float> dx, int B, Activations a)
    {
        var cfg = model.Config;
        int C = cfg.EmbeddingSize, NP = cfg.ImagePatches, M = B * NP, MC = M * C;
        var dres = a.D1.AsSpan(0, MC);
        dres.Clear();
        LayerNorm.Backward(dx[..MC], a.Last, P(model, "img.enc.ln_f.weight"), a.MeanF, a.RstdF, dres, model.Gradient("img.enc.ln_f.weight"), model.Gradient("img.enc.ln_f.bias"), M, C);
        var tmp = a.D2.AsSpan(0, MC);
        var dmid = a.D3.AsSpan(0, MC);
        for (int l = cfg.ImageEncoderLayers - 1; l >= 0; l--)
        {
            var n = Names(l);
            // x = mid + MLP(LN2(mid)): dmid = dres + LN2ᵀ(fcᵀ(GELU'(projᵀ dres))).
            var dfc = a.DFc.AsSpan(0, M * 4 * C);
            var dfcPre = a.DFcPre.AsSpan(0, M * 4 * C);
            dfc.Clear(); dfcPre.Clear(); tmp.Clear();
            Matmul.Backward(dres, a.FcAct[l], P(model, n.Fc2W), dfc, model.Gradient(n.Fc2W), model.Gradient(n.Fc2B), M, 4 * C, C);
            Gelu.Backward(a.FcPre[l], dfc, dfcPre, M * 4 * C);
            Matmul.Backward(dfcPre, a.Ln2[l], P(model, n.FcW), tmp, model.Gradient(n.FcW), model.Gradient(n.FcB), M, C, 4 * C);
            dres.CopyTo(dmid);
            LayerNorm.Backward(tmp, a.Mid[l], P(model, n.Ln2W), a.Mean2[l], a.Rstd2[l], dmid, model.Gradient(n.Ln2W), model.Gradient(n.Ln2B), M, C);
            // mid = in + proj(attn(c_attn(LN1(in)))): din = dmid + LN1ᵀ(c_attnᵀ(attnᵀ(projᵀ dmid))).
            tmp.Clear();
            Matmul.Backward(dmid, a.Atty[l], P(model, n.ProjW), tmp, model.Gradient(n.ProjW), model.Gradient(n.ProjB), M, C, C);
            var dqkv = a.DQkv.AsSpan(0, M * 3 * C);
            dqkv.Clear();
            AttentionBackward(tmp, a.Qkv[l], a.Probs[l], dqkv, B, NP, cfg.Heads, C);
            tmp.Clear();
            Matmul.Backward(dqkv, a.Ln1[l], P(model, n.AttnW), tmp, model.Gradient(n.AttnW), model.Gradient(n.AttnB), M, C, 3 * C);
            dmid.CopyTo(dres);
            LayerNorm.Backward(tmp, a.In[l], P(model, n.Ln1W), a.Mean1[l], a.Rstd1[l], dres, model.Gradient(n.Ln1W), model.Gradient(n.Ln1B), M, C);
        }
        dres.CopyTo(dx);
    }

    // Full attention within each image: qkv (B·NP, 3C) as GPT-2's c_attn (q, k, v; head h at columns h·HS); probs
    // (B, NH, NP, NP) = softmax(q·k / sqrt(HS)); atty (B·NP, C) = probs · v.
    private static void AttentionForward(ReadOnlySpan<float> qkv, Span<float> probs, Span<float> atty, int B, int NP, int NH, int C)
    {
        int HS = C / NH;
        float scale = 1f / MathF.Sqrt(HS);
        atty[..(B * NP * C)].Clear();
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < NP; i++)
                {
                    var q = qkv.Slice((b * NP + i) * 3 * C + h * HS, HS);
                    var row = probs.Slice(((b * NH + h) * NP + i) * NP, NP);
                    for (int j = 0; j < NP; j++)
                        row[j] = scale * System.Numerics.Tensors.TensorPrimitives.Dot(q, qkv.Slice((b * NP + j) * 3 * C + C + h * HS, HS));
                    // Softmax with the row maximum subtracted first (scores can exceed exp's float range).
                    float max = System.Numerics.Tensors.TensorPrimitives.Max(row);
                    System.Numerics.Tensors.TensorPrimitives.Subtract(row, max, row);
                    System.Numerics.Tensors.TensorPrimitives.Exp(row, row);
                    System.Numerics.Tensors.TensorPrimitives.Divide(row, System.Numerics.Tensors.TensorPrimitives.Sum(row), row);
                    var o = atty.Slice((b * NP + i) * C + h * HS, HS);
                    for (int j = 0; j < NP; j++)
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(qkv.Slice((b * NP + j) * 3 * C + 2 * C + h * HS, HS), row[j], o, o);
                }
    }

    // Backward of AttentionForward: accumulates dqkv from datty. dv_j += Σ_i p_ij do_i; dp_ij = do_i·v_j;
    // ds_ij = p_ij (dp_ij − Σ_k p_ik dp_ik); dq_i += scale Σ_j ds_ij k_j; dk_j += scale Σ_i ds_ij q_i.
    private static void AttentionBackward(ReadOnlySpan<float> datty, ReadOnlySpan<float> qkv, ReadOnlySpan<float> probs, Span<float> dqkv, int B, int NP, int NH, int C)
    {
        int HS = C / NH;
        float scale = 1f / MathF.Sqrt(HS);
        Span<float> ds = stackalloc float[NP];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < NP; i++)
                {
                    var row = probs.Slice(((b * NH + h) * NP + i) * NP, NP);
                    var dout = datty.Slice((b * NP + i) * C + h * HS, HS);
                    float dot = 0;
                    for (int j = 0; j < NP; j++)
                    {
                        int vj = (b * NP + j) * 3 * C + 2 * C + h * HS;
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(dout, row[j], dqkv.Slice(vj, HS), dqkv.Slice(vj, HS));
                        ds[j] = System.Numerics.Tensors.TensorPrimitives.Dot(dout, qkv.Slice(vj, HS));
                        dot += row[j] * ds[j];
                    }
                    int qi = (b * NP + i) * 3 * C + h * HS;
                    for (int j = 0; j < NP; j++)
                    {
                        float g = row[j] * (ds[j] - dot) * scale;
                        int kj = (b * NP + j) * 3 * C + C + h * HS;
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(qkv.Slice(kj, HS), g, dqkv.Slice(qi, HS), dqkv.Slice(qi, HS));
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(qkv.Slice(qi, HS), g, dqkv.Slice(kj, HS), dqkv.Slice(kj, HS));
                    }
                }
    }
}
