// Encoder: token embedding plus (optionally) position embedding, forward and backward.
using System.Numerics.Tensors;

namespace NextToken.Kernels;

/// <summary>Embedding lookup: out[b,t,:] = wte[tokens[b,t],:] + wpe[pos0 + t,:].</summary>
public static unsafe class Encoder
{
    /// <summary>
    /// tokens is (B, T) ids; wte is (V, C); wpe is (maxT, C) or empty (rotary models); outp is (B, T, C).
    /// <paramref name="positionOffset"/> is the position of t = 0 (a KV cache's length during generation).
    /// </summary>
    public static void Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<float> wte, ReadOnlySpan<float> wpe, Span<float> outp,
                               int B, int T, int C, int positionOffset = 0)
    {
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
            {
                int id = tokens[b * T + t];
                var o = outp.Slice((b * T + t) * C, C);
                var e = wte.Slice(id * C, C);
                if (wpe.IsEmpty) e.CopyTo(o);
                else TensorPrimitives.Add(e, wpe.Slice((positionOffset + t) * C, C), o);
            }
    }

    /// <summary>
    /// dout is (B, T, C). Accumulates dwte (V, C) at the used rows and dwpe (maxT, C) (empty to skip: fixed or no
    /// position table). Runs serially so repeated tokens add in a fixed order (bit-identical runs).
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<int> tokens, Span<float> dwte, Span<float> dwpe, int B, int T, int C)
    {
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
            {
                var d = dout.Slice((b * T + t) * C, C);
                if (!dwte.IsEmpty)
                {
                    var w = dwte.Slice(tokens[b * T + t] * C, C);
                    TensorPrimitives.Add(w, d, w);
                }
                if (!dwpe.IsEmpty)
                {
                    var p = dwpe.Slice(t * C, C);
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
