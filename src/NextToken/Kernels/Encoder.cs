// Encoder: token embedding plus (optionally) position embedding, forward and backward, with explicit positions.
using System.Numerics.Tensors;

namespace NextToken.Kernels;

/// <summary>Embedding lookup: out[n,:] = wte[tokens[n],:] + wpe[positions[n],:].</summary>
public static class Encoder
{
    /// <summary>
    /// tokens is (N) ids; wte is (V, C); wpe is (maxT, C) or empty (rotary models); positions is (N), the position of
    /// each row (row-relative, restarting in each packed document, or a KV cache's length plus the row); outp is (N, C).
    /// </summary>
    public static void Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<float> wte, ReadOnlySpan<float> wpe, ReadOnlySpan<int> positions,
                               Span<float> outp, int N, int C)
    {
        for (int n = 0; n < N; n++)
        {
            var o = outp.Slice(n * C, C);
            var e = wte.Slice(tokens[n] * C, C);
            if (wpe.IsEmpty) e.CopyTo(o);
            else TensorPrimitives.Add(e, wpe.Slice(positions[n] * C, C), o);
        }
    }

    /// <summary>
    /// dout is (N, C). Accumulates dwte (V, C) at the used rows and dwpe (maxT, C) at the used positions (either empty
    /// to skip: frozen, fixed or no table). Runs serially so repeated tokens add in a fixed order (bit-identical runs).
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions, Span<float> dwte, Span<float> dwpe, int N, int C)
    {
        for (int n = 0; n < N; n++)
        {
            var d = dout.Slice(n * C, C);
            if (!dwte.IsEmpty)
            {
                var w = dwte.Slice(tokens[n] * C, C);
                TensorPrimitives.Add(w, d, w);
            }
            if (!dwpe.IsEmpty)
            {
                var p = dwpe.Slice(positions[n] * C, C);
                TensorPrimitives.Add(p, d, p);
            }
        }
    }

    /// <summary>Fills table (maxT, C) with the fixed sinusoidal encoding of Vaswani et al. 2017, section 3.5.</summary>
    public static void Sinusoidal(Span<float> table, int maxT, int C)
    {
        for (int pos = 0; pos < maxT; pos++)
            for (int i = 0; i < C; i += 2)
            {
                double angle = pos / Math.Pow(10000.0, (double)i / C);
                table[pos * C + i] = (float)Math.Sin(angle);
                if (i + 1 < C) table[pos * C + i + 1] = (float)Math.Cos(angle);
            }
    }
}
