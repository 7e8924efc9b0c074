// AdamW: Adam with decoupled weight decay over whole parameter arenas, one fused pass per tensor.
using NextToken.Tensors;

namespace NextToken.Training;

/// <summary>
/// AdamW over an arena: m and v share the parameters' layout, so the update is one loop per tensor. Weight decay
/// applies to <see cref="TensorKind.Matrix"/> and <see cref="TensorKind.Embedding"/> tensors only, as nanoGPT does
/// for every 2-D tensor.
/// </summary>
public sealed unsafe class AdamW
{
    private readonly TensorLayout _layout;

    /// <summary>Creates zeroed moments for <paramref name="layout"/>.</summary>
    public AdamW(TensorLayout layout, AdamWOptions options)
    {
        _layout = layout;
        Options = options;
        M = new float[layout.Size];
        V = new float[layout.Size];
    }

    /// <summary>Hyper-parameters.</summary>
    public AdamWOptions Options { get; }
    /// <summary>First moments (same layout as the parameters).</summary>
    public float[] M { get; }
    /// <summary>Second moments (same layout as the parameters).</summary>
    public float[] V { get; }
    /// <summary>Number of updates applied so far (bias correction uses it).</summary>
    public long Step { get; set; }

    /// <summary>One update at learning rate <paramref name="lr"/>: m, v, bias correction, decoupled decay.</summary>
    public void Update(float[] parameters, float[] gradients, float lr)
    {
        Step++;
        float b1 = Options.Beta1, b2 = Options.Beta2, eps = Options.Epsilon;
        float c1 = 1f / (1f - MathF.Pow(b1, Step)), c2 = 1f / (1f - MathF.Pow(b2, Step));
        foreach (var slot in _layout.Slots)
        {
            float wd = slot.Kind is TensorKind.Matrix or TensorKind.Embedding ? Options.WeightDecay : 0f;
            long off = slot.Offset, n = slot.Length;
            fixed (float* p0 = parameters, g0 = gradients, m0 = M, v0 = V)
            {
                float* p = p0 + off, g = g0 + off, m = m0 + off, v = v0 + off;
                // Element-wise, so chunks are independent and the result does not depend on the thread count.
                const int chunk = 1 << 16;
                int chunks = (int)((n + chunk - 1) / chunk);
                Parallel.For(0, chunks, k =>
                {
                    long end = Math.Min(n, (long)(k + 1) * chunk);
                    for (long i = (long)k * chunk; i < end; i++)
                    {
                        float gi = g[i];
                        float mi = m[i] = b1 * m[i] + (1f - b1) * gi;
                        float vi = v[i] = b2 * v[i] + (1f - b2) * gi * gi;
                        p[i] -= lr * (mi * c1 / (MathF.Sqrt(vi * c2) + eps) + wd * p[i]);
                    }
                });
            }
        }
    }
}
