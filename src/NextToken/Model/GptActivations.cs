// GptActivations: the activation arena of one (B, T), laid out by a single (name, shape) list that the blocks declare.
using NextToken.Model.Blocks;
using NextToken.Tensors;

namespace NextToken.Model;

/// <summary>
/// Everything the forward pass keeps for backward (each block's <see cref="BlockActivations"/>, the embedding and the
/// final norm), the LM head's row-chunk buffer, and the per-token integers (ids, targets, positions, the document
/// mask's first key). Allocated once per (B, T) and reused every step; the backward buffers come separately
/// (<see cref="EnsureBackward"/>) and only when a backward runs.
/// </summary>
internal sealed class GptActivations
{
    public readonly int B, T;
    public readonly float[] Data;
    public readonly int[] Inputs, Targets, Positions, KeyStart;
    public readonly TensorLayout Layout = new();
    public readonly BlockActivations[] Blocks;
    public readonly TensorSlot Encoded, Lnf, LnfMean, LnfRstd, Losses, Logits, RowScale;
    public readonly TensorSlot? EmbMask;
    public readonly int LogitRows;
    public BackwardBuffers? BackwardSlots;
    public float[]? BackwardData;
    /// <summary>dL/d(prefix embeddings) (B, K, P, C) written by the last backward of a forward with a prefix.</summary>
    public float[]? PrefixGradient;
    public int PrefixLength;
    /// <summary>K: embedding spans per row; <see cref="PrefixStarts"/> (B·K) where each starts.</summary>
    public int PrefixSpans;
    public int[] PrefixStarts = [];
    public bool UseKeyStart;

    public GptActivations(GptConfig cfg, int B, int T, bool dropout)
    {
        this.B = B; this.T = T;
        int C = cfg.EmbeddingSize, N = B * T;
        TensorSlot Add(string n, params int[] s) => Layout.Add(n, TensorKind.Activation, s);
        Encoded = Add("encoded", N, C);
        EmbMask = dropout ? Add("emb_mask", N, C) : null;
        // The two branch outputs (before their residual add) are only read by that add: one buffer serves every layer.
        var proj = Add("proj", N, C);
        Blocks = new BlockActivations[cfg.Layers];
        for (int l = 0; l < cfg.Layers; l++) Blocks[l] = BlockActivations.Declare(Layout, $"h.{l}.", cfg, B, T, proj, dropout);
        Lnf = Add("lnf", N, C); LnfMean = Add("lnf_mean", N); LnfRstd = Add("lnf_rstd", N);
        Losses = Add("losses", N);
        RowScale = Add("row_scale", N);
        // The LM head runs over row chunks so the logits buffer stays bounded (about 32M floats) at large B*T*V.
        LogitRows = (int)Math.Clamp(32L * 1024 * 1024 / cfg.VocabSize, 1, N);
        Logits = Add("logits", LogitRows, cfg.VocabSize);
        Data = new float[Layout.Size];
        Inputs = new int[N]; Targets = new int[N]; Positions = new int[N]; KeyStart = new int[N];
    }

    public Span<float> this[TensorSlot s] => Data.AsSpan((int)s.Offset, (int)s.Length);

    /// <summary>The backward buffers, allocated on first use.</summary>
    public BackwardBuffers EnsureBackward(GptConfig cfg)
    {
        if (BackwardSlots is null)
        {
            BackwardSlots = new BackwardBuffers(cfg, B * T);
            BackwardData = new float[BackwardSlots.Layout.Size];
        }
        return BackwardSlots;
    }

    public Span<float> Grad(TensorSlot s) => BackwardData!.AsSpan((int)s.Offset, (int)s.Length);
}
