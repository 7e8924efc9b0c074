// BlockActivations: the tensors one transformer block keeps from forward for backward, declared in one place.
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Model.Blocks;

/// <summary>
/// Slots of one block's saved activations inside an activation arena. Named by what produces them: norm1/norm2 are
/// the two norms' outputs (pre-LN: of the block input and of the mid-block residual; post-LN: of the two residual
/// sums), resid2 is the mid-block residual sum, resid3 the end-of-block residual sum. <see cref="Out"/> is the
/// block's output (resid3 for pre-LN, norm2 for post-LN). The branch outputs before their residual add share one
/// buffer (<see cref="Proj"/>) across layers: only that add reads them.
/// </summary>
internal sealed class BlockActivations
{
    public required TensorSlot Norm1, Mean1, Rstd1, Qkv, Lse, Atty, Resid2, Norm2, Mean2, Rstd2, Fch, Act, Resid3, Proj;
    public TensorSlot? AttMask, MlpMask;
    public required TensorSlot Out;

    public static BlockActivations Declare(TensorLayout a, string p, GptConfig cfg, int B, int T, TensorSlot proj, bool dropout)
    {
        int N = B * T, C = cfg.EmbeddingSize, F = cfg.MlpSize, Fin = cfg.Mlp == MlpKind.SwiGlu ? 2 * F : F;
        long lse = Attention.ScratchSize(B, T, cfg.Heads);
        if (lse > int.MaxValue) throw new ArgumentException($"attention scratch for batch {B} x {T} is too large");
        TensorSlot Add(string n, params int[] s) => a.Add(p + n, TensorKind.Activation, s);
        var norm2 = Add("norm2", N, C);
        var resid3 = Add("resid3", N, C);
        return new BlockActivations
        {
            Norm1 = Add("norm1", N, C), Mean1 = Add("mean1", N), Rstd1 = Add("rstd1", N),
            Qkv = Add("qkv", N, cfg.QkvSize), Lse = Add("lse", (int)Math.Max(1, lse)), Atty = Add("atty", N, cfg.Heads * cfg.HeadSize),
            Resid2 = Add("resid2", N, C), Norm2 = norm2, Mean2 = Add("mean2", N), Rstd2 = Add("rstd2", N),
            Fch = Add("fch", N, Fin), Act = Add("act", N, F), Resid3 = resid3, Proj = proj,
            AttMask = dropout ? Add("att_mask", N, C) : null, MlpMask = dropout ? Add("mlp_mask", N, C) : null,
            Out = cfg.Norm == NormPlacement.Pre ? resid3 : norm2,
        };
    }
}
