// GptActivations: the training-time activation arena for one (B, T), laid out by a single (name, shape) list.
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Model;

/// <summary>
/// Everything the forward pass keeps for backward, plus the few gradient buffers backward reuses layer after layer
/// (only the residual stream's gradient spans the whole depth). Allocated once per (B, T) and reused every step.
/// </summary>
internal sealed class GptActivations
{
    public readonly int B, T;
    public readonly float[] Data;
    public readonly int[] Inputs;
    public readonly TensorLayout Layout = new();
    // Per layer: offsets of each saved activation.
    public readonly TensorSlot[] Ln1, Ln1Mean, Ln1Rstd, Qkv, AttScratch, Atty, AttProj, Resid2, Ln2, Ln2Mean, Ln2Rstd, Fch, FchGelu, FcProj, Resid3;
    public readonly TensorSlot?[] AttMask, MlpMask;
    public readonly TensorSlot Encoded, Lnf, LnfMean, LnfRstd, Losses, Logits;
    public readonly TensorSlot? EmbMask;
    // Gradient buffers reused across layers.
    public readonly TensorSlot DRes, DRes2, DTmp, DLn, DQkv, DAtty, DFch, DFchGelu, DHidden;
    public readonly int LogitRows;

    public GptActivations(GptConfig cfg, int B, int T)
    {
        this.B = B; this.T = T;
        int C = cfg.EmbeddingSize, F = cfg.MlpSize, L = cfg.Layers, NH = cfg.Heads;
        int N = B * T;
        bool drop = cfg.Dropout > 0;
        var a = Layout;
        TensorSlot Add(string n, params int[] s) => a.Add(n, TensorKind.Activation, s);
        Encoded = Add("encoded", N, C);
        EmbMask = drop ? Add("emb_mask", N, C) : null;
        Ln1 = new TensorSlot[L]; Ln1Mean = new TensorSlot[L]; Ln1Rstd = new TensorSlot[L]; Qkv = new TensorSlot[L];
        AttScratch = new TensorSlot[L]; Atty = new TensorSlot[L]; AttProj = new TensorSlot[L]; Resid2 = new TensorSlot[L];
        Ln2 = new TensorSlot[L]; Ln2Mean = new TensorSlot[L]; Ln2Rstd = new TensorSlot[L]; Fch = new TensorSlot[L];
        FchGelu = new TensorSlot[L]; FcProj = new TensorSlot[L]; Resid3 = new TensorSlot[L];
        AttMask = new TensorSlot?[L]; MlpMask = new TensorSlot?[L];
        long scratch = Attention.ScratchSize(B, T, C, NH);
        if (scratch > int.MaxValue) throw new ArgumentException($"attention scratch for batch {B} x {T} is too large");
        // The two branch outputs (before the residual add) are only read by that add: one buffer serves every layer.
        var proj = Add("proj", N, C);
        for (int l = 0; l < L; l++)
        {
            string p = $"l{l}.";
            Ln1[l] = Add(p + "ln1", N, C); Ln1Mean[l] = Add(p + "ln1_mean", N); Ln1Rstd[l] = Add(p + "ln1_rstd", N);
            Qkv[l] = Add(p + "qkv", N, 3 * C); AttScratch[l] = Add(p + "att", (int)Math.Max(1, scratch)); Atty[l] = Add(p + "atty", N, C);
            AttProj[l] = proj; Resid2[l] = Add(p + "resid2", N, C);
            Ln2[l] = Add(p + "ln2", N, C); Ln2Mean[l] = Add(p + "ln2_mean", N); Ln2Rstd[l] = Add(p + "ln2_rstd", N);
            Fch[l] = Add(p + "fch", N, F); FchGelu[l] = Add(p + "fch_gelu", N, F); FcProj[l] = proj;
            Resid3[l] = Add(p + "resid3", N, C);
            if (drop) { AttMask[l] = Add(p + "att_mask", N, C); MlpMask[l] = Add(p + "mlp_mask", N, C); }
        }
        Lnf = Add("lnf", N, C); LnfMean = Add("lnf_mean", N); LnfRstd = Add("lnf_rstd", N);
        Losses = Add("losses", N);
        // The LM head runs over row chunks so the logits buffer stays bounded (about 32M floats) at large B*T*V.
        LogitRows = (int)Math.Clamp(32L * 1024 * 1024 / cfg.VocabSize, 1, N);
        Logits = Add("logits", LogitRows, cfg.VocabSize);
        DRes = Add("d_res", N, C); DRes2 = Add("d_res2", N, C); DTmp = Add("d_tmp", N, C); DLn = Add("d_ln", N, C);
        DQkv = Add("d_qkv", N, 3 * C); DAtty = Add("d_atty", N, C); DFch = Add("d_fch", N, F); DFchGelu = Add("d_fch_gelu", N, F);
        DHidden = Add("d_hidden", N, C);
        Data = new float[a.Size];
        Inputs = new int[N];
    }

    public Span<float> this[TensorSlot s] => Data.AsSpan((int)s.Offset, (int)s.Length);
}
