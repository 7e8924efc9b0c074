// Residual: out = a + b (parallel over chunks: one thread alone does not saturate memory). Its backward is the identity
// on both branches, which the model applies by accumulating the same gradient into each.
using System.Numerics.Tensors;

namespace NextToken.Kernels;

/// <summary>The residual connection.</summary>
public static unsafe class Residual
{
    private const int Chunk = 32768;

    private struct Ctx
    {
        public float* A, B, Out;
        public int N;
    }

    /// <summary>a, b, outp are (N): outp = a + b (outp may alias a or b).</summary>
    public static void Forward(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> outp, int N)
    {
        if (N <= 0) return;
        if (a.Length < N || b.Length < N || outp.Length < N) throw new ArgumentException($"residual buffers shorter than N = {N}");
        fixed (float* pa = a, pb = b, po = outp)
        {
            var ctx = new Ctx { A = pa, B = pb, Out = po, N = N };
            ParallelRows.For((N + Chunk - 1) / Chunk, &ctx, &AddChunk);
        }
    }

    private static void AddChunk(void* p, int k)
    {
        ref var c = ref *(Ctx*)p;
        int i = k * Chunk, n = Math.Min(Chunk, c.N - i);
        TensorPrimitives.Add(new ReadOnlySpan<float>(c.A + i, n), new ReadOnlySpan<float>(c.B + i, n), new Span<float>(c.Out + i, n));
    }
}
