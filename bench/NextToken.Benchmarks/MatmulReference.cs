// MatmulReference: the first, simple Matmul (row dot products and axpys through TensorPrimitives), kept as the
// baseline that GemmBenchmarks measures the packed, blocked Gemm against.
using System.Numerics.Tensors;

namespace NextToken.Benchmarks;

/// <summary>The pre-Gemm linear layer: same contract as NextToken.Kernels.Matmul (weights (OC, C), backward accumulates).</summary>
internal static unsafe class MatmulReference
{
    /// <summary>
    /// inp is (N, C), weight is (OC, C), bias is (OC) or empty, outp is (N, OC).
    /// Effectively computes outp = inp @ weight^T + bias. Overwrites outp.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
                               Span<float> outp, int N, int C, int OC)
    {
        if (N == 0 || OC == 0) return;
        CheckSizes(inp.Length, weight.Length, bias.Length, outp.Length, N, C, OC);
        fixed (float* pi = inp, pw = weight, pb = bias, po = outp)
        {
            float* i0 = pi, w0 = pw, b0 = pb, o0 = po;
            bool hasBias = !bias.IsEmpty;
            // Parallel over rows: each output row is computed by one thread, in a fixed order, so results are
            // bit-identical whatever the number of threads.
            Parallel.For(0, N, n =>
            {
                var x = new ReadOnlySpan<float>(i0 + (long)n * C, C);
                float* orow = o0 + (long)n * OC;
                for (int o = 0; o < OC; o++)
                    orow[o] = (hasBias ? b0[o] : 0f) + TensorPrimitives.Dot(x, new ReadOnlySpan<float>(w0 + (long)o * C, C));
            });
        }
    }

    /// <summary>
    /// dout is (N, OC); inp is (N, C); weight is (OC, C). Accumulates dinp (N, C) += dout @ weight,
    /// dweight (OC, C) += dout^T @ inp and dbias (OC) += column sums of dout. Any of dinp, dweight, dbias may be
    /// empty to skip it (frozen weights, LoRA, the first layer's input).
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> inp, ReadOnlySpan<float> weight,
                                Span<float> dinp, Span<float> dweight, Span<float> dbias, int N, int C, int OC)
    {
        if (N == 0 || OC == 0) return;
        fixed (float* pd = dout, pi = inp, pw = weight, pdi = dinp, pdw = dweight, pdb = dbias)
        {
            float* d0 = pd, i0 = pi, w0 = pw, di0 = pdi, dw0 = pdw, db0 = pdb;
            if (!dinp.IsEmpty)
            {
                Parallel.For(0, N, n =>
                {
                    var row = new Span<float>(di0 + (long)n * C, C);
                    float* drow = d0 + (long)n * OC;
                    for (int o = 0; o < OC; o++)
                    {
                        float g = drow[o];
                        if (g != 0f) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(w0 + (long)o * C, C), g, row, row);
                    }
                });
            }
            if (!dweight.IsEmpty || !dbias.IsEmpty)
            {
                bool doW = !dweight.IsEmpty, doB = !dbias.IsEmpty;
                Parallel.For(0, OC, o =>
                {
                    var wrow = doW ? new Span<float>(dw0 + (long)o * C, C) : default;
                    float bsum = 0f;
                    for (int n = 0; n < N; n++)
                    {
                        float g = d0[(long)n * OC + o];
                        bsum += g;
                        if (doW && g != 0f) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(i0 + (long)n * C, C), g, wrow, wrow);
                    }
                    if (doB) db0[o] += bsum;
                });
            }
        }
    }

    private static void CheckSizes(int inp, int weight, int bias, int outp, int N, int C, int OC)
    {
        if (inp < (long)N * C || weight < (long)OC * C || (bias != 0 && bias < OC) || outp < (long)N * OC)
            throw new ArgumentException($"matmul buffers too small for N={N}, C={C}, OC={OC}");
    }
}
