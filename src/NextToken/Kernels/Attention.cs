// Attention: causal multi-head self-attention, forward and backward, plus the KV-cache decode form.
using System.Numerics.Tensors;

namespace NextToken.Kernels;

/// <summary>
/// Causal self-attention over a fused QKV buffer. Heads are interleaved along C: head h of q occupies columns
/// h*HS .. h*HS+HS-1 of the first C columns, k the next C, v the last C (GPT-2's c_attn layout).
/// The kernel keeps whatever it needs for backward in a scratch buffer of <see cref="ScratchSize"/> floats, so its
/// strategy (stored probabilities, or flash-style statistics with recompute) can change without the model knowing.
/// </summary>
public static unsafe class Attention
{
    /// <summary>Floats of scratch that <see cref="Forward"/> fills and <see cref="Backward"/> reads.</summary>
    public static long ScratchSize(int B, int T, int C, int NH) => (long)B * NH * T * T;

    /// <summary>
    /// qkv is (B, T, 3C), outp is (B, T, C), scratch is (<see cref="ScratchSize"/>).
    /// Effectively computes, per head, outp = softmax(q k^T / sqrt(HS) + causal mask) v.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> qkv, Span<float> outp, Span<float> scratch, int B, int T, int C, int NH)
    {
        int HS = C / NH, C3 = 3 * C;
        float scale = 1f / MathF.Sqrt(HS);
        fixed (float* pq = qkv, po = outp, pa = scratch)
        {
            float* q0 = pq, o0 = po, a0 = pa;
            Parallel.For(0, B * NH * T, idx =>
            {
                int t = idx % T, h = (idx / T) % NH, b = idx / (T * NH);
                float* q = q0 + ((long)b * T + t) * C3 + h * HS;
                float* att = a0 + (((long)b * NH + h) * T + t) * T;
                float max = float.NegativeInfinity;
                for (int t2 = 0; t2 <= t; t2++)
                {
                    float* k = q0 + ((long)b * T + t2) * C3 + C + h * HS;
                    float s = TensorPrimitives.Dot(new ReadOnlySpan<float>(q, HS), new ReadOnlySpan<float>(k, HS)) * scale;
                    att[t2] = s;
                    if (s > max) max = s;
                }
                float sum = 0f;
                for (int t2 = 0; t2 <= t; t2++) { float e = MathF.Exp(att[t2] - max); att[t2] = e; sum += e; }
                float inv = 1f / sum;
                for (int t2 = 0; t2 <= t; t2++) att[t2] *= inv;
                for (int t2 = t + 1; t2 < T; t2++) att[t2] = 0f;
                var o = new Span<float>(o0 + ((long)b * T + t) * C + h * HS, HS);
                o.Clear();
                for (int t2 = 0; t2 <= t; t2++)
                {
                    float* v = q0 + ((long)b * T + t2) * C3 + 2 * C + h * HS;
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(v, HS), att[t2], o, o);
                }
            });
        }
    }

    /// <summary>
    /// dout is (B, T, C); qkv and scratch as left by <see cref="Forward"/>; accumulates dqkv (B, T, 3C).
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> qkv, ReadOnlySpan<float> scratch, Span<float> dqkv,
                                int B, int T, int C, int NH)
    {
        int HS = C / NH, C3 = 3 * C;
        float scale = 1f / MathF.Sqrt(HS);
        fixed (float* pd = dout, pq = qkv, pa = scratch, pdq = dqkv)
        {
            float* d0 = pd, q0 = pq, a0 = pa, dq0 = pdq;
            // Parallel over (b, h): dk and dv of a position receive contributions from every later query of the same
            // head, so a head is owned by one thread and the sums run in a fixed order.
            Parallel.For(0, B * NH, bh =>
            {
                int h = bh % NH, b = bh / NH;
                float* datt = stackalloc float[T];
                for (int t = 0; t < T; t++)
                {
                    float* att = a0 + (((long)b * NH + h) * T + t) * T;
                    float* dO = d0 + ((long)b * T + t) * C + h * HS;
                    var dOs = new ReadOnlySpan<float>(dO, HS);
                    // out = sum_t2 att[t2] v[t2]  =>  datt[t2] = dO . v[t2],  dv[t2] += att[t2] dO
                    for (int t2 = 0; t2 <= t; t2++)
                    {
                        float* v = q0 + ((long)b * T + t2) * C3 + 2 * C + h * HS;
                        float* dv = dq0 + ((long)b * T + t2) * C3 + 2 * C + h * HS;
                        datt[t2] = TensorPrimitives.Dot(dOs, new ReadOnlySpan<float>(v, HS));
                        var dvs = new Span<float>(dv, HS);
                        TensorPrimitives.MultiplyAdd(dOs, att[t2], dvs, dvs);
                    }
                    // softmax backward: dpre[t2] = att[t2] (datt[t2] - sum_j att[j] datt[j])
                    float dot = 0f;
                    for (int t2 = 0; t2 <= t; t2++) dot += att[t2] * datt[t2];
                    float* q = q0 + ((long)b * T + t) * C3 + h * HS;
                    var dqs = new Span<float>(dq0 + ((long)b * T + t) * C3 + h * HS, HS);
                    for (int t2 = 0; t2 <= t; t2++)
                    {
                        float dpre = att[t2] * (datt[t2] - dot) * scale;
                        if (dpre == 0f) continue;
                        float* k = q0 + ((long)b * T + t2) * C3 + C + h * HS;
                        var dks = new Span<float>(dq0 + ((long)b * T + t2) * C3 + C + h * HS, HS);
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(k, HS), dpre, dqs, dqs);
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(q, HS), dpre, dks, dks);
                    }
                }
            });
        }
    }

    /// <summary>
    /// Decode form for generation. q is (TN, C) for TN new positions whose keys/values are already written to
    /// keys/values (Tk, C) at rows Tk-TN .. Tk-1; outp is (TN, C). New position i attends to rows 0 .. Tk-TN+i.
    /// scores is scratch of at least Tk floats per worker (allocated here per head on the stack when Tk is small).
    /// </summary>
    public static void Decode(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> outp,
                              int TN, int Tk, int C, int NH)
    {
        int HS = C / NH;
        float scale = 1f / MathF.Sqrt(HS);
        fixed (float* pq = q, pk = keys, pv = values, po = outp)
        {
            float* q0 = pq, k0 = pk, v0 = pv, o0 = po;
            Parallel.For(0, TN * NH, idx =>
            {
                int h = idx % NH, i = idx / NH;
                int last = Tk - TN + i; // inclusive
                float[]? rented = null;
                Span<float> s = last + 1 <= 2048 ? stackalloc float[last + 1] : (rented = System.Buffers.ArrayPool<float>.Shared.Rent(last + 1)).AsSpan(0, last + 1);
                var qs = new ReadOnlySpan<float>(q0 + (long)i * C + h * HS, HS);
                float max = float.NegativeInfinity;
                for (int t2 = 0; t2 <= last; t2++)
                {
                    float v = TensorPrimitives.Dot(qs, new ReadOnlySpan<float>(k0 + (long)t2 * C + h * HS, HS)) * scale;
                    s[t2] = v;
                    if (v > max) max = v;
                }
                float sum = 0f;
                for (int t2 = 0; t2 <= last; t2++) { float e = MathF.Exp(s[t2] - max); s[t2] = e; sum += e; }
                float inv = 1f / sum;
                var o = new Span<float>(o0 + (long)i * C + h * HS, HS);
                o.Clear();
                for (int t2 = 0; t2 <= last; t2++)
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(v0 + (long)t2 * C + h * HS, HS), s[t2] * inv, o, o);
                if (rented != null) System.Buffers.ArrayPool<float>.Shared.Return(rented);
            });
        }
    }
}
