// Residual: out = a + b, forward and backward.
using System.Numerics.Tensors;

namespace NextToken.Kernels;

/// <summary>The residual connection.</summary>
public static class Residual
{
    /// <summary>a, b, outp are (N): outp = a + b.</summary>
    public static void Forward(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> outp, int N) =>
        TensorPrimitives.Add(a[..N], b[..N], outp[..N]);

    /// <summary>dout is (N); accumulates da += dout and db += dout.</summary>
    public static void Backward(ReadOnlySpan<float> dout, Span<float> da, Span<float> db, int N)
    {
        TensorPrimitives.Add(da[..N], dout[..N], da[..N]);
        TensorPrimitives.Add(db[..N], dout[..N], db[..N]);
    }
}
