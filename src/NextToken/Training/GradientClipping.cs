// GradientClipping: global-norm clipping over the whole gradient arena.
using System.Numerics.Tensors;

namespace NextToken.Training;

/// <summary>Scales all gradients so their global L2 norm is at most a bound (Pascanu et al. 2013).</summary>
public static class GradientClipping
{
    /// <summary>Returns the norm before clipping; <paramref name="maxNorm"/> ≤ 0 only measures.</summary>
    public static float ClipGlobalNorm(float[] gradients, float maxNorm)
    {
        // Sum of squares in fixed-size chunks accumulated in double: same result regardless of threads.
        double sum = 0;
        const int chunk = 1 << 16;
        for (int i = 0; i < gradients.Length; i += chunk)
        {
            var s = gradients.AsSpan(i, Math.Min(chunk, gradients.Length - i));
            sum += TensorPrimitives.SumOfSquares(s);
        }
        float norm = (float)Math.Sqrt(sum);
        if (maxNorm > 0 && norm > maxNorm) TensorPrimitives.Multiply(gradients, maxNorm / (norm + 1e-6f), gradients);
        return norm;
    }
}
