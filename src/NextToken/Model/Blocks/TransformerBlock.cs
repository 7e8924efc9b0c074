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

/// <summary>GPT-2's block: x + attn(norm1(x)), then r + mlp(norm2(r)).</summary>
public sealed class PreNormBlock : TransformerBlock
{
    internal PreNormBlock(Norm norm1, SelfAttention attention, Norm norm2, Mlp mlp) : base(norm1, attention, norm2, mlp) { }

    internal override void Forward(in BlockContext ctx, ReadOnlySpan<float> x, BlockActivations s)
    {
        int N = ctx.N;
        var proj = ctx[s.Proj];
        Norm1.Forward(ctx.Ps, x, ctx[s.Norm1], ctx[s.Mean1], ctx[s.Rstd1], N);
        Attention.Forward(in ctx, ctx[s.Norm1], ctx[s.Qkv], ctx[s.Lse], ctx[s.Atty], proj);
        Drop(in ctx, proj, s.AttMask, Norm1.Width);
        Residual.Forward(x, proj, ctx[s.Resid2], ctx.N * Norm1.Width);
        Norm2.Forward(ctx.Ps, ctx[s.Resid2], ctx[s.Norm2], ctx[s.Mean2], ctx[s.Rstd2], N);
        Mlp.Forward(in ctx, ctx[s.Norm2], ctx[s.Fch], ctx[s.Act], proj);
        Drop(in ctx, proj, s.MlpMask, Norm1.Width);
        Residual.Forward(ctx[s.Resid2], proj, ctx[s.Resid3], ctx.N * Norm1.Width);
    }

    internal override void Backward(in BlockContext ctx, ReadOnlySpan<float> x, BlockActivations s, Span<float> dres)
    {
        int N = ctx.N;
        var d = ctx.DSlots!;
        var dln = ctx.Grad(d.DLn);
        // resid3 = resid2 + mlp(norm2(resid2)): dres reaches resid2 unchanged and through the MLP branch.
        ParallelRows.Clear(dln);
        var dyMlp = UnDrop(ctx, dres, s.MlpMask);
        Mlp.Backward(in ctx, dyMlp, ctx[s.Norm2], ctx[s.Fch], ctx[s.Act], dln, ctx.Grad(d.DAct), ctx.Grad(d.DFch));
        Norm2.Backward(ctx.Ps, dln, ctx[s.Resid2], ctx[s.Mean2], ctx[s.Rstd2], dres, N);
        // resid2 = x + attn(norm1(x))
        ParallelRows.Clear(dln);
        var dyAtt = UnDrop(ctx, dres, s.AttMask);
        Attention.Backward(in ctx, dyAtt, ctx[s.Norm1], ctx[s.Qkv], ctx[s.Lse], ctx[s.Atty], dln, ctx.Grad(d.DAtty), ctx.Grad(d.DQkv));
        Norm1.Backward(ctx.Ps, dln, x, ctx[s.Mean1], ctx[s.Rstd1], dres, N);
    }
}

/// <summary>GPT-1's block (the original transformer): r = norm1(x + attn(x)), out = norm2(r + mlp(r)).</summary>
public sealed class PostNormBlock : TransformerBlock
{
    internal PostNormBlock(Norm norm1, SelfAttention attention, Norm norm2, Mlp mlp) : base(norm1, attention, norm2, mlp) { }

    internal override void Forward(in BlockContext ctx, ReadOnlySpan<float> x, BlockActivations s)
    {
        int N = ctx.N;
        var proj = ctx[s.Proj];
        Attention.Forward(in ctx, x, ctx[s.Qkv], ctx[s.Lse], ctx[s.Atty], proj);
        Drop(in ctx, proj, s.AttMask, Norm1.Width);
        Residual.Forward(x, proj, ctx[s.Resid2], ctx.N * Norm1.Width);
        Norm1.Forward(ctx.Ps, ctx[s.Resid2], ctx[s.Norm1], ctx[s.Mean1], ctx[s.Rstd1], N);
        Mlp.Forward(in ctx, ctx[s.Norm1], ctx[s.Fch], ctx[s.Act], proj);
        Drop(in ctx, proj, s.MlpMask, Norm1.Width);
        Residual.Forward(ctx[s.Norm1], proj, ctx[s.Resid3], ctx.N * Norm1.Width);
        Norm2.Forward(ctx.Ps, ctx[s.Resid3], ctx[s.Norm2], ctx[s.Mean2], ctx[s.Rstd2], N);
    }

    internal override void Backward(in BlockContext ctx, ReadOnlySpan<float> x, BlockActivations s, Span<float> dres)
    {
        int N = ctx.N;
        var d = ctx.DSlots!;
        var dres2 = ctx.Grad(d.DRes2);
        // out = norm2(resid3): dres2 = d resid3.
        ParallelRows.Clear(dres2);
        Norm2.Backward(ctx.Ps, dres, ctx[s.Resid3], ctx[s.Mean2], ctx[s.Rstd2], dres2, N);
        // resid3 = norm1 + mlp(norm1): d norm1 = d resid3 + the MLP's input gradient (the MLP reads dres2 before adding to it).
        var dyMlp = UnDrop(ctx, dres2, s.MlpMask);
        Mlp.Backward(in ctx, dyMlp, ctx[s.Norm1], ctx[s.Fch], ctx[s.Act], dres2, ctx.Grad(d.DAct), ctx.Grad(d.DFch));
        // norm1 = norm1(resid2): dres = d resid2.
        ParallelRows.Clear(dres);
        Norm1.Backward(ctx.Ps, dres2, ctx[s.Resid2], ctx[s.Mean1], ctx[s.Rstd1], dres, N);
        // resid2 = x + attn(x): dx = d resid2 + the attention's input gradient.
        var dyAtt = UnDrop(ctx, dres, s.AttMask);
        Attention.Backward(in ctx, dyAtt, x, ctx[s.Qkv], ctx[s.Lse], ctx[s.Atty], dres, ctx.Grad(d.DAtty), ctx.Grad(d.DQkv));
    }
}
