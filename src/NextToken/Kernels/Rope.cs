// Rope: rotary position embeddings on the q and k heads of a fused QKV buffer, forward and backward, at explicit positions.
namespace NextToken.Kernels;

/// <summary>
/// Rotary embeddings (Su et al. 2021, RoFormer, eq. 34): within each head, pairs (x[2i], x[2i+1]) at position p
/// are rotated by angle p * base^(-2i/HS). Applied in place to q and k; the backward is the inverse rotation.
/// </summary>
public static class Rope
{
    /// <summary>Fills cos and sin tables, each (maxT, HS/2).</summary>
    public static void Tables(Span<float> cos, Span<float> sin, int maxT, int HS, float theta)
    {
        int half = HS / 2;
        for (int p = 0; p < maxT; p++)
            for (int i = 0; i < half; i++)
            {
                double angle = p * Math.Pow(theta, -2.0 * i / HS);
                cos[p * half + i] = (float)Math.Cos(angle);
                sin[p * half + i] = (float)Math.Sin(angle);
            }
    }

    /// <summary>
    /// x is (rows, stride); the <paramref name="heads"/> heads of HS columns starting at column 0 of each row are rotated
    /// in place (in a fused (N, (NH + 2·NKV)·HS) QKV buffer: NH + NKV heads, the queries and the keys). Row r sits at
    /// <paramref name="positions"/>[r]. <paramref name="inverse"/> applies the transpose rotation (the backward pass).
    /// </summary>
    public static void Apply(Span<float> x, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, ReadOnlySpan<int> positions,
                             int rows, int stride, int heads, int HS, bool inverse)
    {
        int half = HS / 2;
        float sign = inverse ? -1f : 1f;
        for (int r = 0; r < rows; r++)
        {
            int pos = positions[r];
            var c = cos.Slice(pos * half, half);
            var s = sin.Slice(pos * half, half);
            var row = x.Slice(r * stride, heads * HS);
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++)
                {
                    int j = h * HS + 2 * i;
                    float a = row[j], b = row[j + 1];
                    float ci = c[i], si = sign * s[i];
                    row[j] = a * ci - b * si;
                    row[j + 1] = a * si + b * ci;
                }
        }
    }
}
