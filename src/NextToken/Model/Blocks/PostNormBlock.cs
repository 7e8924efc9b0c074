// PostNormBlock: GPT-1's composition of a block — each residual sum normalised (the original transformer).
using NextToken.Kernels;

namespace NextToken.Model.Blocks;

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
