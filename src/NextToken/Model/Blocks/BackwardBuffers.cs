// BackwardBuffers: the gradient buffers backward reuses layer after layer, declared once, allocated only when a backward runs.
using NextToken.Tensors;

namespace NextToken.Model.Blocks;

/// <summary>
/// Gradients of the residual stream and of each block-internal tensor for one (B, T). Only the residual stream's
/// gradient crosses layers; the rest is scratch for one layer at a time. Allocated lazily: an inference-only model
/// or a frozen reference never allocates them.
/// </summary>
internal sealed class BackwardBuffers
{
    public readonly TensorLayout Layout = new();
    public readonly TensorSlot DRes, DRes2, DTmp, DLn, DQkv, DAtty, DFch, DAct, DHidden;

    public BackwardBuffers(GptConfig cfg, int N)
    {
        int C = cfg.EmbeddingSize, F = cfg.MlpSize, Fin = cfg.Mlp == MlpKind.SwiGlu ? 2 * F : F;
        TensorSlot Add(string n, params int[] s) => Layout.Add(n, TensorKind.Activation, s);
        DRes = Add("d_res", N, C); DRes2 = Add("d_res2", N, C); DTmp = Add("d_tmp", N, C); DLn = Add("d_ln", N, C);
        DQkv = Add("d_qkv", N, cfg.QkvSize); DAtty = Add("d_atty", N, cfg.Heads * cfg.HeadSize);
        DFch = Add("d_fch", N, Fin); DAct = Add("d_act", N, F); DHidden = Add("d_hidden", N, C);
    }
}
