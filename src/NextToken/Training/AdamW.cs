// AdamW: Adam with decoupled weight decay over whole parameter arenas, one fused vectorised pass in parallel chunks.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Training;

/// <summary>
/// AdamW over an arena: m and v share the gradients' layout (the trainable tensors only), so the update is one pass
/// over the arena (split into fixed chunks that never straddle two tensors), each chunk reading its parameters at
/// their own offset. Weight decay applies to <see cref="TensorKind.Matrix"/> and <see cref="TensorKind.Embedding"/>
/// tensors only, as nanoGPT does for every 2-D tensor, unless a <see cref="ParameterGroup"/> says otherwise. The pass reads p, g, m, v
/// and writes p, m, v once (28 bytes per parameter): it runs at memory bandwidth. Element-wise, so the result does not
/// depend on the thread count.
/// </summary>
public sealed unsafe class AdamW
{
    private const int Chunk = 1 << 15;
    private readonly long[] _chunkOffset, _chunkParamOffset;
    private readonly int[] _chunkLength;
    private readonly float[] _chunkDecay, _chunkLr;
    private readonly long _size, _paramSize;

    /// <summary>Creates zeroed moments for <paramref name="layout"/> (every tensor trainable: parameters and gradients share it).</summary>
    public AdamW(TensorLayout layout, AdamWOptions options) : this(layout, layout, options) { }

    /// <summary>
    /// Creates zeroed moments for the tensors of <paramref name="gradients"/> (a model's <c>GradientLayout</c>: its
    /// trainable tensors), updating the same-named tensors of <paramref name="parameters"/>. <paramref name="groups"/>
    /// set per-group learning-rate multipliers and weight decay.
    /// </summary>
    public AdamW(TensorLayout parameters, TensorLayout gradients, AdamWOptions options, IReadOnlyList<ParameterGroup>? groups = null)
    {
        Options = options;
        Groups = groups ?? [];
        _size = gradients.Size;
        _paramSize = parameters.Size;
        M = new float[gradients.Size];
        V = new float[gradients.Size];
        var off = new List<long>(); var poff = new List<long>(); var len = new List<int>(); var dec = new List<float>(); var lrs = new List<float>();
        foreach (var slot in gradients.Slots)
        {
            var p = parameters[slot.Name];
            if (p.Length != slot.Length) throw new ArgumentException($"tensor '{slot.Name}' has {p.Length} parameters but {slot.Length} gradients");
            var group = Groups.FirstOrDefault(g => g.Selects(p));
            float decay = group?.WeightDecay ?? (slot.Kind is TensorKind.Matrix or TensorKind.Embedding ? options.WeightDecay : 0f);
            for (long i = 0; i < slot.Length; i += Chunk)
            {
                off.Add(slot.Offset + i);
                poff.Add(p.Offset + i);
                len.Add((int)Math.Min(Chunk, slot.Length - i));
                dec.Add(decay);
                lrs.Add(group?.LearningRateScale ?? 1f);
            }
        }
        _chunkOffset = off.ToArray(); _chunkParamOffset = poff.ToArray(); _chunkLength = len.ToArray(); _chunkDecay = dec.ToArray(); _chunkLr = lrs.ToArray();
    }

    /// <summary>The parameter groups (empty: defaults for every tensor).</summary>
    public IReadOnlyList<ParameterGroup> Groups { get; }

    /// <summary>Hyper-parameters.</summary>
    public AdamWOptions Options { get; }
    /// <summary>First moments (the gradients' layout).</summary>
    public float[] M { get; }
    /// <summary>Second moments (the gradients' layout).</summary>
    public float[] V { get; }
    /// <summary>Number of updates applied so far (bias correction uses it).</summary>
    public long Step { get; set; }

    private struct Ctx
    {
        public float* P, G, M, V;
        public long* Offset, ParamOffset;
        public int* Length;
        public float* Decay, LrScale;
        public float B1, B2, Eps, C1, C2, Lr, GradScale;
        public bool Clear;
    }

    /// <summary>
    /// One update at learning rate <paramref name="lr"/>: m, v, bias correction, decoupled decay. The gradient is
    /// multiplied by <paramref name="gradScale"/> on the fly (gradient clipping fused into the update: no extra pass
    /// over the gradients). With <paramref name="clearGradients"/> each gradient is set to zero once read, which
    /// replaces the separate zeroing pass before the next step's backward (the gradient's cache line is already
    /// loaded, so only its write-back remains).
    /// </summary>
    public void Update(float[] parameters, float[] gradients, float lr, float gradScale = 1f, bool clearGradients = false)
    {
        if (parameters.Length < _paramSize || gradients.Length < _size)
            throw new ArgumentException($"parameters need {_paramSize} and gradients {_size} floats (the layouts this optimizer was created for)");
        Step++;
        float b1 = Options.Beta1, b2 = Options.Beta2;
        fixed (float* p0 = parameters, g0 = gradients, m0 = M, v0 = V)
        fixed (long* po = _chunkOffset, ppo = _chunkParamOffset)
        fixed (int* pl = _chunkLength)
        fixed (float* pd = _chunkDecay, plr = _chunkLr)
        {
            var ctx = new Ctx
            {
                P = p0, G = g0, M = m0, V = v0, Offset = po, ParamOffset = ppo, Length = pl, Decay = pd, LrScale = plr, B1 = b1, B2 = b2, Eps = Options.Epsilon,
                C1 = 1f / (1f - MathF.Pow(b1, Step)), C2 = 1f / (1f - MathF.Pow(b2, Step)), Lr = lr, GradScale = gradScale, Clear = clearGradients,
            };
            ParallelRows.For(_chunkOffset.Length, &ctx, &UpdateChunk);
        }
    }

    // m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²;  p -= lr (m c1 / (sqrt(v c2) + eps) + wd p).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void UpdateChunk(void* ptr, int k)
    {
        ref var c = ref *(Ctx*)ptr;
        long off = c.Offset[k];
        int n = c.Length[k], i = 0;
        float* p = c.P + c.ParamOffset[k], g = c.G + off, m = c.M + off, v = c.V + off;
        float b1 = c.B1, b2 = c.B2, c1 = c.C1, c2 = c.C2, lr = c.Lr * c.LrScale[k], eps = c.Eps, gs = c.GradScale, wd = c.Decay[k];
        bool clear = c.Clear;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                var gi = Vector512.Load(g + i) * gs;
                if (clear) Vector512<float>.Zero.Store(g + i);
                var mi = b1 * Vector512.Load(m + i) + (1f - b1) * gi;
                var vi = b2 * Vector512.Load(v + i) + (1f - b2) * gi * gi;
                var pi = Vector512.Load(p + i);
                mi.Store(m + i); vi.Store(v + i);
                (pi - lr * (mi * c1 / (Vector512.Sqrt(vi * c2) + Vector512.Create(eps)) + wd * pi)).Store(p + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
            {
                var gi = Vector256.Load(g + i) * gs;
                if (clear) Vector256<float>.Zero.Store(g + i);
                var mi = b1 * Vector256.Load(m + i) + (1f - b1) * gi;
                var vi = b2 * Vector256.Load(v + i) + (1f - b2) * gi * gi;
                var pi = Vector256.Load(p + i);
                mi.Store(m + i); vi.Store(v + i);
                (pi - lr * (mi * c1 / (Vector256.Sqrt(vi * c2) + Vector256.Create(eps)) + wd * pi)).Store(p + i);
            }
        }
        for (; i < n; i++)
        {
            float gi = g[i] * gs;
            if (clear) g[i] = 0f;
            float mi = m[i] = b1 * m[i] + (1f - b1) * gi;
            float vi = v[i] = b2 * v[i] + (1f - b2) * gi * gi;
            p[i] -= lr * (mi * c1 / (MathF.Sqrt(vi * c2) + eps) + wd * p[i]);
        }
    }
}
