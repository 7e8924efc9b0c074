// Matmul: the linear layer out = inp @ weight^T + bias, forward and backward (llm.c's matmul_forward/backward),
// on the packed, blocked, multithreaded Gemm (and its GEMV path for the few rows of decoding).
namespace NextToken.Kernels;

/// <summary>
/// Linear layer kernels. Weights are stored (OC, C) as in llm.c (PyTorch's nn.Linear). The three products of
/// training map onto one <see cref="Gemm"/> with different strides, so no transpose is ever written out:
/// forward out = inp · weightᵀ (A row-major, B read across weight rows), input gradient dinp += dout · weight
/// (both row-major) and weight gradient dweight += doutᵀ · inp (A read down dout's columns).
/// <para>
/// Every output element is summed in k order (bias first in the forward, the existing value first in backward),
/// whatever the thread count or tiling, so results are bit-identical run to run and between 1 and 2 threads.
/// With at most <see cref="GemvMaxRows"/> rows the forward is a GEMV that streams the weights once at memory
/// bandwidth, split over output channels; blocking figures and the choice of tile are in <see cref="Gemm"/>.
/// </para>
/// </summary>
public static unsafe class Matmul
{
    /// <summary>
    /// Forward products with at most this many rows take the GEMV path (packing would not pay off). With four input rows
    /// per pass over four weight rows (Gemm.Dot4x4) and horizontal sums taken four at a time, the GEMV beats the packed
    /// GEMM up to 16 rows on every GPT-2 shape (ms per product, 2 cores, GEMV at 16 rows against GEMM at 17: LM head
    /// 768 → 50257 8.0 vs 13.4; MLP 768 → 3072 0.50 vs 0.75; 384 → 50257 3.7 vs 6.3; 384 → 1152 0.08 vs 0.12). With one
    /// input row at a time (Dot4 only) the crossing was at 7 rows.
    /// </summary>
    internal const int GemvMaxRows = 16;

    /// <summary>
    /// inp is (N, C), weight is (OC, C), bias is (OC) or empty, outp is (N, OC).
    /// Effectively computes outp = inp @ weight^T + bias. Overwrites outp.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
                               Span<float> outp, int N, int C, int OC)
        => Forward(inp, weight, bias, outp, N, C, OC, GemmIsa.Auto, Gemm.DefaultThreads);

    /// <summary><see cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int, int, int)"/> on a chosen path and thread count (tests, benchmarks).</summary>
    internal static void Forward(ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
                                 Span<float> outp, int N, int C, int OC, GemmIsa isa, int threads)
    {
        CheckDims(N, C, OC, threads);
        if (N == 0 || OC == 0) return;
        if (inp.Length < (long)N * C || weight.Length < (long)OC * C || (!bias.IsEmpty && bias.Length < OC) || outp.Length < (long)N * OC)
            throw new ArgumentException($"matmul forward buffers too small for N={N}, C={C}, OC={OC}: need inp {(long)N * C}, weight {(long)OC * C}, bias 0 or {OC}, outp {(long)N * OC} floats");
        if (KernelCounters.Enabled) KernelCounters.AddMatmulForward((long)N * C * OC);
        isa = isa.Resolve();
        fixed (float* pi = inp, pw = weight, pb = bias, po = outp)
        {
            float* b = bias.IsEmpty ? null : pb;
            if (N <= GemvMaxRows) Gemm.Gemv(pi, pw, b, po, N, C, OC, isa, threads);
            else Gemm.Run(pi, C, 1, pw, 1, C, po, OC, b, N, OC, C, accumulate: false, isa, threads);
        }
    }

    /// <summary>
    /// dout is (N, OC); inp is (N, C); weight is (OC, C). Accumulates dinp (N, C) += dout @ weight,
    /// dweight (OC, C) += dout^T @ inp and dbias (OC) += column sums of dout. Any of dinp, dweight, dbias may be
    /// empty to skip it (frozen weights, LoRA, the first layer's input).
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> inp, ReadOnlySpan<float> weight,
                                Span<float> dinp, Span<float> dweight, Span<float> dbias, int N, int C, int OC)
        => Backward(dout, inp, weight, dinp, dweight, dbias, N, C, OC, GemmIsa.Auto, Gemm.DefaultThreads);

    /// <summary><see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, Span{float}, int, int, int)"/> on a chosen path and thread count (tests, benchmarks).</summary>
    internal static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> inp, ReadOnlySpan<float> weight,
                                  Span<float> dinp, Span<float> dweight, Span<float> dbias, int N, int C, int OC,
                                  GemmIsa isa, int threads)
    {
        CheckDims(N, C, OC, threads);
        if (N == 0 || OC == 0) return;
        if (dout.Length < (long)N * OC
            || (!dinp.IsEmpty && (dinp.Length < (long)N * C || weight.Length < (long)OC * C))
            || (!dweight.IsEmpty && (dweight.Length < (long)OC * C || inp.Length < (long)N * C))
            || (!dbias.IsEmpty && dbias.Length < OC))
            throw new ArgumentException($"matmul backward buffers too small for N={N}, C={C}, OC={OC}: need dout {(long)N * OC}, " +
                                        $"dinp and inp {(long)N * C}, dweight and weight {(long)OC * C}, dbias {OC} floats (or empty outputs)");
        if (KernelCounters.Enabled) KernelCounters.AddMatmulBackward((long)N * C * OC * ((dinp.IsEmpty ? 0 : 1) + (dweight.IsEmpty ? 0 : 1)));
        isa = isa.Resolve();
        fixed (float* pd = dout, pi = inp, pw = weight, pdi = dinp, pdw = dweight, pdb = dbias)
        {
            // dinp (N, C) += dout (N, OC) · weight (OC, C): both operands row-major.
            if (!dinp.IsEmpty && C > 0)
                Gemm.Run(pd, OC, 1, pw, C, 1, pdi, C, null, N, C, OC, accumulate: true, isa, threads);
            // dweight (OC, C) += doutᵀ (OC, N) · inp (N, C): A(o, n) = dout[n·OC + o], packed straight from dout's rows.
            if (!dweight.IsEmpty && C > 0)
                Gemm.Run(pd, 1, OC, pi, C, 1, pdw, C, null, OC, C, N, accumulate: true, isa, threads);
            if (!dbias.IsEmpty) Gemm.ColumnSums(pd, pdb, N, OC, threads);
        }
    }

    private static void CheckDims(int N, int C, int OC, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(N);
        ArgumentOutOfRangeException.ThrowIfNegative(C);
        ArgumentOutOfRangeException.ThrowIfNegative(OC);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
    }
}
