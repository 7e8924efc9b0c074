// VectorMath: a fast vectorised exp and the fused "exp of a shifted, scaled row, and its sum" used by the softmax kernels.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NextToken.Kernels;

/// <summary>Vectorised math shared by the attention and cross-entropy kernels (Vector512, Vector256, scalar).</summary>
internal static unsafe class VectorMath
{
    /// <summary>s[j] = exp(s[j]·scale - shift) for j &lt; n, in one pass; returns Σ_j s[j].</summary>
    internal static float ExpScaled(float* s, int n, float scale, float shift) => ExpScaled(s, n, scale, shift, GemmIsa.Auto.Resolve());

    /// <summary><see cref="ExpScaled(float*, int, float, float)"/> on a resolved instruction-set path (kernels that take a path for their tests).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float ExpScaled(float* s, int n, float scale, float shift, GemmIsa isa)
    {
        int j = 0;
        float sum = 0f;
        if (isa == GemmIsa.Vector512)
        {
            var acc = Vector512<float>.Zero;
            var vs = Vector512.Create(scale); var vm = Vector512.Create(shift);
            for (; j + 16 <= n; j += 16)
            {
                var e = FastExp(Vector512.MultiplyAddEstimate(Vector512.Load(s + j), vs, -vm));
                e.Store(s + j);
                acc += e;
            }
            sum = Vector512.Sum(acc);
        }
        else if (isa == GemmIsa.Vector256)
        {
            var acc = Vector256<float>.Zero;
            var vs = Vector256.Create(scale); var vm = Vector256.Create(shift);
            for (; j + 8 <= n; j += 8)
            {
                var e = FastExp(Vector256.MultiplyAddEstimate(Vector256.Load(s + j), vs, -vm));
                e.Store(s + j);
                acc += e;
            }
            sum = Vector256.Sum(acc);
        }
        for (; j < n; j++)
        {
            float e = MathF.Exp(s[j] * scale - shift);
            s[j] = e;
            sum += e;
        }
        return sum;
    }

    // exp(x) for x ≤ ~88: x = k·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial (relative error
    // below 2e-7), times 2^k built in the exponent bits. Inputs below -87 return 0 (no denormals).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> FastExp(Vector512<float> x)
    {
        var under = Vector512.LessThan(x, Vector512.Create(-87f));
        x = Vector512.Max(x, Vector512.Create(-87f));
        var k = Vector512.Round(x * Vector512.Create(1.44269504f));
        var r = Vector512.MultiplyAddEstimate(k, Vector512.Create(-0.693145752f), x);
        r = Vector512.MultiplyAddEstimate(k, Vector512.Create(-1.42860677e-6f), r);
        var p = Vector512.Create(1f / 720);
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1f / 120));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1f / 24));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1f / 6));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(0.5f));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512<float>.One);
        p = Vector512.MultiplyAddEstimate(p, r, Vector512<float>.One);
        var scale = Vector512.ShiftLeft(Vector512.ConvertToInt32(k) + Vector512.Create(127), 23).AsSingle();
        return Vector512.ConditionalSelect(under, Vector512<float>.Zero, p * scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> FastExp(Vector256<float> x)
    {
        var under = Vector256.LessThan(x, Vector256.Create(-87f));
        x = Vector256.Max(x, Vector256.Create(-87f));
        var k = Vector256.Round(x * Vector256.Create(1.44269504f));
        var r = Vector256.MultiplyAddEstimate(k, Vector256.Create(-0.693145752f), x);
        r = Vector256.MultiplyAddEstimate(k, Vector256.Create(-1.42860677e-6f), r);
        var p = Vector256.Create(1f / 720);
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(1f / 120));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(1f / 24));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(1f / 6));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(0.5f));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256<float>.One);
        p = Vector256.MultiplyAddEstimate(p, r, Vector256<float>.One);
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(k) + Vector256.Create(127), 23).AsSingle();
        return Vector256.ConditionalSelect(under, Vector256<float>.Zero, p * scale);
    }
}
