// PreNormBlock: GPT-2's composition of a block — norm before each branch, residual around it, final norm after the stack.
using NextToken.Kernels;

namespace NextToken.Model.Blocks;

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
