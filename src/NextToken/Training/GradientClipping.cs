// GradientClipping: global-norm clipping over the whole gradient arena (parallel, deterministic).
using System.Numerics.Tensors;
using NextToken.Kernels;

namespace NextToken.Training;

/// <summary>Scales all gradients so their global L2 norm is at most a bound (Pascanu et al. 2013).</summary>
public static unsafe class GradientClipping
{
    private const int Chunk = 1 << 16;
    [ThreadStatic] private static double[]? t_partials;

    private struct Ctx
    {
        public float* G;
        public double* Partial;
        public long N;
        public float Scale;
    }

    /// <summary>Returns the norm before clipping; <paramref name="maxNorm"/> ≤ 0 only measures.</summary>
    public static float ClipGlobalNorm(float[] gradients, float maxNorm)
    {
        float norm = GlobalNorm(gradients);
        float scale = ClipScale(norm, maxNorm);
        if (scale != 1f)
        {
            fixed (float* g = gradients)
            {
                var ctx = new Ctx { G = g, N = gradients.Length, Scale = scale };
                ParallelRows.For(Chunks(gradients.Length), &ctx, &ScaleChunk);
            }
        }
        return norm;
    }

    /// <summary>
    /// The factor <see cref="ClipGlobalNorm"/> multiplies the gradients by: maxNorm / (norm + 1e-6) above the bound, else 1.
    /// Pass it to <see cref="AdamW.Update"/> to clip without a separate pass over the gradients.
    /// </summary>
    public static float ClipScale(float norm, float maxNorm) => maxNorm > 0 && norm > maxNorm ? maxNorm / (norm + 1e-6f) : 1f;

    /// <summary>
    /// L2 norm of the whole arena: sums of squares of fixed 64K-float chunks (in parallel), added in chunk order in
    /// double, so the result does not depend on the thread count.
    /// </summary>
    public static float GlobalNorm(float[] gradients)
    {
        int chunks = Chunks(gradients.Length);
        var partials = t_partials;
        if (partials is null || partials.Length < chunks) t_partials = partials = new double[chunks];
        fixed (float* g = gradients)
        fixed (double* part = partials)
        {
            var ctx = new Ctx { G = g, Partial = part, N = gradients.Length };
            ParallelRows.For(chunks, &ctx, &SquaresChunk);
        }
        double sum = 0;
        for (int i = 0; i < chunks; i++) sum += partials[i];
        return (float)Math.Sqrt(sum);
    }

    private static int Chunks(long n) => (int)((n + Chunk - 1) / Chunk);

    private static void SquaresChunk(void* p, int k)
    {
        ref var c = ref *(Ctx*)p;
        long i = (long)k * Chunk;
        c.Partial[k] = TensorPrimitives.SumOfSquares(new ReadOnlySpan<float>(c.G + i, (int)Math.Min(Chunk, c.N - i)));
    }

    private static void ScaleChunk(void* p, int k)
    {
        ref var c = ref *(Ctx*)p;
        long i = (long)k * Chunk;
        var s = new Span<float>(c.G + i, (int)Math.Min(Chunk, c.N - i));
        TensorPrimitives.Multiply(s, c.Scale, s);
    }
}
