// TransformerBlock: norm, attention, residual, norm, MLP, residual — composed pre-LN (GPT-2) or post-LN (GPT-1).
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Model.Blocks;

/// <summary>One transformer block: two norms, self-attention and an MLP, composed by <see cref="PreNormBlock"/> or <see cref="PostNormBlock"/>.</summary>
public abstract class TransformerBlock
{
    private protected TransformerBlock(Norm norm1, SelfAttention attention, Norm norm2, Mlp mlp)
    {
        Norm1 = norm1; Attention = attention; Norm2 = norm2; Mlp = mlp;
    }

    /// <summary>Declares block <paramref name="layer"/>'s tensors (<c>h.{layer}.…</c>) and composes it as the config says.</summary>
    internal static TransformerBlock Declare(TensorLayout layout, int layer, GptConfig cfg, float[]? ropeCos, float[]? ropeSin)
    {
        string p = $"h.{layer}.";
        var norm1 = Norm.Declare(layout, p + "ln_1", cfg);
        var attn = SelfAttention.Declare(layout, p + "attn", cfg, ropeCos, ropeSin);
        var norm2 = Norm.Declare(layout, p + "ln_2", cfg);
        var mlp = Mlp.Declare(layout, p + "mlp", cfg);
        return cfg.Norm == NormPlacement.Pre ? new PreNormBlock(norm1, attn, norm2, mlp) : new PostNormBlock(norm1, attn, norm2, mlp);
    }

    /// <summary>First norm (ln_1).</summary>
    public Norm Norm1 { get; }
    /// <summary>Self-attention.</summary>
    public SelfAttention Attention { get; }
    /// <summary>Second norm (ln_2).</summary>
    public Norm Norm2 { get; }
    /// <summary>Feed-forward network.</summary>
    public Mlp Mlp { get; }

    /// <summary>The linear layers of the block, by name (adapter hooks).</summary>
    public IEnumerable<Linear> Linears => [Attention.Qkv, Attention.Proj, Mlp.Fc, Mlp.Proj];

    // x (N, C) → a[s.Out] (N, C). x may be the previous block's output slot of the same arena (decoding reuses one
    // scratch for every layer): each composition reads x only before it writes its output.
    internal abstract void Forward(in BlockContext ctx, ReadOnlySpan<float> x, BlockActivations s);

    // dres (N, C) holds dL/d(block output) on entry and dL/dx on return.
    internal abstract void Backward(in BlockContext ctx, ReadOnlySpan<float> x, BlockActivations s, Span<float> dres);

    // Dropout on a branch output (training only), in place.
    private protected static void Drop(in BlockContext ctx, Span<float> y, TensorSlot? mask, int C)
    {
        if (ctx.Dropout > 0) Dropout.Forward(y, y, ctx[mask!], ctx.Dropout, ref ctx.Rng, ctx.N * C);
    }

    // The gradient at a branch output before dropout: dout itself, or dout ∘ mask in the scratch.
    private protected static ReadOnlySpan<float> UnDrop(in BlockContext ctx, ReadOnlySpan<float> dout, TensorSlot? mask)
    {
        if (ctx.Dropout <= 0) return dout;
        var tmp = ctx.D.AsSpan((int)ctx.DSlots!.DTmp.Offset, dout.Length);
        Dropout.Backward(dout, ctx.A.AsSpan((int)mask!.Offset, dout.Length), tmp, dout.Length);
        return tmp;
    }
}
