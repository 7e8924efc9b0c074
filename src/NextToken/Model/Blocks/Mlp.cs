// Mlp: the feed-forward block, GELU or SwiGLU, forward and backward over arena slices.
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Model.Blocks;

/// <summary>
/// GELU: out = proj(GELU(fc(x))) with fc (C → F). SwiGLU: fc (C → 2F) gives gate and up (gate rows first),
/// out = proj(SiLU(gate) ∘ up) (Shazeer 2020).
/// </summary>
public sealed class Mlp
{
    private Mlp(Linear fc, Linear proj, MlpKind kind, int hidden) { Fc = fc; Proj = proj; Kind = kind; Hidden = hidden; }

    internal static Mlp Declare(TensorLayout layout, string name, GptConfig cfg)
    {
        int C = cfg.EmbeddingSize, F = cfg.MlpSize;
        var fc = Linear.Declare(layout, name + ".c_fc", C, cfg.Mlp == MlpKind.SwiGlu ? 2 * F : F, cfg.Bias);
        return new Mlp(fc, Linear.Declare(layout, name + ".c_proj", F, C, cfg.Bias), cfg.Mlp, F);
    }

    /// <summary>The input projection (C → F, or C → 2F for SwiGLU).</summary>
    public Linear Fc { get; }
    /// <summary>The output projection (F → C).</summary>
    public Linear Proj { get; }
    /// <summary>GELU or SwiGLU.</summary>
    public MlpKind Kind { get; }
    /// <summary>F.</summary>
    public int Hidden { get; }

    // x (N, C) → y (N, C); keeps fch (N, F or 2F) and act (N, F).
    internal void Forward(in BlockContext ctx, ReadOnlySpan<float> x, Span<float> fch, Span<float> act, Span<float> y)
    {
        int N = ctx.N, F = Hidden;
        Fc.Forward(ctx.Ps, x, fch, N);
        if (Kind == MlpKind.Gelu) Gelu.Forward(fch, act, N * F);
        else SwiGlu.Forward(fch, act, N, F);
        Proj.Forward(ctx.Ps, act, y, N);
    }

    // dy (N, C) → dx (N, C) += the input gradient (skipped when empty); dAct and dFch are scratch.
    internal void Backward(in BlockContext ctx, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> fch, ReadOnlySpan<float> act,
                           Span<float> dx, Span<float> dAct, Span<float> dFch)
    {
        int N = ctx.N, F = Hidden;
        ParallelRows.Clear(dAct);
        Proj.Backward(ctx.Ps, dy, act, dAct, N);
        ParallelRows.Clear(dFch);
        if (Kind == MlpKind.Gelu) Gelu.Backward(fch, dAct, dFch, N * F);
        else SwiGlu.Backward(fch, dAct, dFch, N, F);
        Fc.Backward(ctx.Ps, dFch, x, dx, N);
    }
}
