// GptModel: the GPT family in one configurable model — the forward as a flat list of block calls, the backward as
// the same list reversed, per-token weighted losses, log-probabilities with a two-phase backward, packed documents,
// embedding prefixes and frozen parameters; KV-cache inference in GptModel.Inference.cs.
using NextToken.Kernels;
using NextToken.Model.Blocks;
using NextToken.Tensors;

namespace NextToken.Model;

/// <summary>
/// A GPT whose parameters, gradients and activations live in contiguous arenas described by (name, shape) lists that
/// its blocks declare (<see cref="Blocks"/>).
/// <list type="bullet">
/// <item>Language-model training: <c>Forward(inputs, targets, …, computeGradients: true)</c> then <see cref="Backward()"/>
/// (gradients accumulate until <see cref="ZeroGradients"/>); optional per-target weights; <see cref="ForwardSum"/>
/// for a mean over several micro-batches.</item>
/// <item>Losses computed outside the model (policy gradients, DPO, value and reward heads): <see cref="ForwardLogProbs"/>
/// and/or <see cref="ForwardHidden"/>, then <see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float})"/>
/// with dL/d(log p) and/or dL/d(hidden).</item>
/// <item>Generation: <see cref="ICausalLm.Forward"/> over a <see cref="KvCache"/> — the same blocks, one new row per token.</item>
/// </list>
/// </summary>
public sealed partial class GptModel : ICausalLm
{
    private readonly GptArchitecture _arch;
    private readonly ParameterStore _ps;
    private readonly Dictionary<string, Linear> _linears = new(StringComparer.Ordinal);
    private readonly float[]? _fixedPositions;      // sinusoidal table (ContextLength, C)
    private GptActivations? _acts;
    private bool _haveHeadGradient, _haveTargets;
    private int _lastCounted;

    /// <summary>Creates a model with GPT-2 initialisation from <paramref name="seed"/>.</summary>
    public GptModel(GptConfig config, ulong seed = 1337) : this(config, initialise: true, seed) { }

    private GptModel(GptConfig config, bool initialise, ulong seed)
    {
        Config = config.Validate();
        int C = config.EmbeddingSize;
        float[]? ropeCos = null, ropeSin = null;
        if (config.Positions == PositionEncoding.Sinusoidal)
        {
            _fixedPositions = new float[config.ContextLength * C];
            Encoder.Sinusoidal(_fixedPositions, config.ContextLength, C);
        }
        else if (config.Positions == PositionEncoding.Rotary)
        {
            int half = config.HeadSize / 2;
            ropeCos = new float[config.ContextLength * half];
            ropeSin = new float[config.ContextLength * half];
            Rope.Tables(ropeCos, ropeSin, config.ContextLength, config.HeadSize, config.RotaryBase);
        }
        _arch = GptArchitecture.Build(config, ropeCos, ropeSin);
        _ps = new ParameterStore(_arch.Layout);
        foreach (var b in _arch.Blocks)
            foreach (var lin in b.Linears) _linears.Add(lin.Name, lin);
        DropoutRng = new Rng(seed, 7);
        if (initialise) Initialise(seed);
    }

    /// <summary>Creates a model whose parameters will be filled by a loader (all zeros until then).</summary>
    public static GptModel CreateUninitialised(GptConfig config) => new(config, initialise: false, 0);

    /// <summary>
    /// A new model with this one's configuration and a copy of its parameters — no gradients, adapters or frozen flags
    /// (a frozen reference, a reward or value model started from a policy).
    /// </summary>
    public GptModel Clone()
    {
        var copy = CreateUninitialised(Config);
        Parameters.CopyTo(copy.Parameters, 0);
        return copy;
    }

    /// <summary>The architecture.</summary>
    public GptConfig Config { get; }
    /// <summary>Names, shapes and offsets of every parameter tensor.</summary>
    public TensorLayout Layout => _arch.Layout;
    /// <summary>All parameters in one arena (see <see cref="Layout"/>).</summary>
    public float[] Parameters => _ps.Values;
    /// <summary>Gradients of the trainable tensors, laid out by <see cref="GradientLayout"/>; allocated by <see cref="EnableGradients"/>.</summary>
    public float[]? Gradients => _ps.Gradients;
    /// <summary>Layout of <see cref="Gradients"/> (and of the optimizer's moments): the trainable tensors only, same names.</summary>
    public TensorLayout GradientLayout => _ps.GradientLayout;
    /// <summary>The transformer blocks, bottom to top.</summary>
    public IReadOnlyList<TransformerBlock> Blocks => _arch.Blocks;
    /// <summary>True while training: dropout is active.</summary>
    public bool Training { get; set; }
    /// <summary>The generator dropout draws from (part of a checkpoint's state).</summary>
    public Rng DropoutRng;

    /// <summary>Number of parameters over the real vocabulary (padding rows excluded).</summary>
    public long ParameterCount => GptParameters.Count(Config);
    /// <inheritdoc/>
    public int VocabSize => Config.VocabSize;
    /// <inheritdoc/>
    public int ContextLength => Config.ContextLength;
    /// <inheritdoc/>
    public int HiddenSize => Config.EmbeddingSize;

    /// <summary>True when the model has a tensor called <paramref name="name"/>.</summary>
    public bool HasParameter(string name) => Layout.Slots.Any(s => s.Name == name);

    /// <summary>The parameter tensor called <paramref name="name"/>.</summary>
    public Span<float> Parameter(string name) => _ps.P(Layout[name]);

    /// <summary>The gradient of the parameter tensor called <paramref name="name"/>.</summary>
    public Span<float> Gradient(string name)
    {
        var s = Layout[name];
        if (Gradients is null) throw new InvalidOperationException("gradients are not enabled: call EnableGradients() or a forward with gradients first");
        if (!_ps.IsTrainable(s)) throw new InvalidOperationException($"tensor '{name}' is frozen: it has no gradient");
        return _ps.G(s);
    }

    /// <summary>The linear layer called <paramref name="name"/> (e.g. <c>h.0.attn.c_attn</c>), to attach an <see cref="ILinearAdapter"/>.</summary>
    public Linear Linear(string name) =>
        _linears.TryGetValue(name, out var l) ? l : throw new KeyNotFoundException($"no linear layer named '{name}'; layers are h.N.attn.c_attn, h.N.attn.c_proj, h.N.mlp.c_fc, h.N.mlp.c_proj");

    /// <summary>All linear layers of the blocks (adapter targets), bottom to top.</summary>
    public IEnumerable<Linear> Linears => _linears.Values;

    /// <summary>Whether the tensor called <paramref name="name"/> receives gradients.</summary>
    public bool IsTrainable(string name) => _ps.IsTrainable(Layout[name]);

    /// <summary>
    /// Freezes (or unfreezes) every tensor <paramref name="select"/> picks: a frozen tensor gets no gradient memory, no
    /// optimizer state and no weight-gradient product. Changing the set reallocates the gradient arena (zeroed), so
    /// create the optimizer afterwards.
    /// </summary>
    public void SetTrainable(Func<TensorSlot, bool> select, bool trainable) => _ps.SetTrainable(select, trainable);

    /// <summary>Freezes every tensor <paramref name="select"/> picks (see <see cref="SetTrainable"/>).</summary>
    public void Freeze(Func<TensorSlot, bool> select) => _ps.SetTrainable(select, false);

    /// <summary>Allocates the gradient arena (idempotent).</summary>
    public void EnableGradients() => _ps.EnableGradients();

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGradients() => ParallelRows.Clear(Gradients ?? throw new InvalidOperationException("gradients are not enabled"));

    /// <summary>
    /// GPT-2 initialisation (Radford et al. 2019, section 2.3): weights N(0, 0.02), residual projections
    /// (attn.c_proj, mlp.c_proj) scaled by 1/sqrt(2·layers), biases 0, norm gains 1. Vocabulary padding rows stay 0.
    /// The image patch positions (img.row, img.col, img.pos) start ten times larger, N(0, 0.2): measured on builtin:shapes, a patch's
    /// place is then readable from the first steps (docs/multimodal.md).
    /// </summary>
    public void Initialise(ulong seed)
    {
        var rng = new Rng(seed);
        float residualStd = Config.InitStd / MathF.Sqrt(2f * Config.Layers);
        Array.Clear(Parameters);
        foreach (var s in Layout.Slots)
        {
            var p = _ps.P(s);
            switch (s.Kind)
            {
                case TensorKind.Gain: p.Fill(1f); break;
                case TensorKind.Bias: break;
                default:
                    bool residual = s.Name.EndsWith("c_proj.weight", StringComparison.Ordinal);
                    bool grid = s.Name is "img.row" or "img.col" or "img.pos";
                    var init = p[..(int)GptParameters.RealLength(Config, s)];
                    rng.FillNormal(init, 0f, residual ? residualStd : grid ? 10f * Config.InitStd : Config.InitStd);
                    break;
            }
        }
    }

    private GptActivations Acts(int B, int T)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(B, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(T, 1);
        if (T > Config.ContextLength) throw new ArgumentException($"sequence length {T} exceeds the model's context length {Config.ContextLength}");
        if (_acts is null || _acts.B != B || _acts.T != T) { _acts = null; _acts = new GptActivations(Config, B, T, Config.Dropout > 0); }
        return _acts;
    }

    private void CheckTokens(ReadOnlySpan<int> tokens, string what)
    {
        int V = Config.VocabSize;
        foreach (int id in tokens)
            if ((uint)id >= (uint)V) throw new ArgumentOutOfRangeException(what, $"{what} id {id} is outside the vocabulary (0..{V - 1})");
    }

    // Copies ids, positions and the document mask of a batch into the activation arena, validating them.
    private GptActivations Prepare(ReadOnlySpan<int> inputs, int B, int T, in BatchLayout extras)
    {
        if (inputs.Length != B * T) throw new ArgumentException($"inputs has {inputs.Length} ids, expected B*T = {B * T}");
        var a = Acts(B, T);
        int N = B * T, P = extras.PrefixLength, C = Config.EmbeddingSize;
        if (P < 0 || P > T) throw new ArgumentOutOfRangeException(nameof(extras), $"prefix length {P} must be between 0 and the sequence length {T}");
        var starts = extras.PrefixStarts;
        int K = P == 0 ? 0 : starts.IsEmpty ? 1 : starts.Length / B;
        if (P > 0 && !starts.IsEmpty && (starts.Length % B != 0 || K == 0))
            throw new ArgumentException($"prefix starts has {starts.Length} entries, expected B·K = {B}·K");
        if (P > 0 && extras.PrefixEmbeddings.Length != B * K * P * C)
            throw new ArgumentException($"prefix embeddings have {extras.PrefixEmbeddings.Length} floats, expected (B, K, P, C) = {B * K * P * C}");
        if (a.PrefixStarts.Length < B * K) a.PrefixStarts = new int[B * K];
        for (int b = 0; b < B; b++)
            for (int k = 0, end = 0; k < K; k++)
            {
                int s0 = starts.IsEmpty ? 0 : starts[b * K + k];
                if (s0 < 0) { end = int.MaxValue; a.PrefixStarts[b * K + k] = -1; continue; } // unused: this span and the rest of the row's
                if (end == int.MaxValue)
                    throw new ArgumentOutOfRangeException(nameof(extras), $"prefix span {k} of row {b} starts at {s0} after an unused span: unused spans (negative starts) come last in a row");
                if (s0 < end || s0 + P > T)
                    throw new ArgumentOutOfRangeException(nameof(extras), $"prefix span {k} of row {b} starts at {s0}: spans of {P} positions must be ascending, apart, and inside the row of {T}");
                a.PrefixStarts[b * K + k] = s0;
                end = s0 + P;
            }
        a.PrefixLength = P;
        a.PrefixSpans = K;
        inputs.CopyTo(a.Inputs);
        for (int n = 0; n < B * K; n++)
            if (a.PrefixStarts[n] >= 0) a.Inputs.AsSpan(n / K * T + a.PrefixStarts[n], P).Clear(); // embedding positions read no token
        for (int b = 0; b < B; b++)
            foreach (var (from, to) in TokenSegments(a, b)) CheckTokens(inputs.Slice(b * T + from, to - from), "input token");
        var docs = extras.DocumentIds;
        if (!docs.IsEmpty && docs.Length != N) throw new ArgumentException($"document ids has {docs.Length} entries, expected B*T = {N}");
        a.UseKeyStart = !docs.IsEmpty;
        for (int b = 0; b < B; b++)
        {
            int start = 0;
            for (int t = 0; t < T; t++)
            {
                int n = b * T + t;
                if (t > 0 && !docs.IsEmpty && docs[n] != docs[n - 1]) start = t;
                a.KeyStart[n] = start;
                a.Positions[n] = t - start;
            }
        }
        var pos = extras.PositionIds;
        if (!pos.IsEmpty)
        {
            if (pos.Length != N) throw new ArgumentException($"position ids has {pos.Length} entries, expected B*T = {N}");
            for (int n = 0; n < N; n++)
                if ((uint)pos[n] >= (uint)Config.ContextLength)
                    throw new ArgumentOutOfRangeException(nameof(extras), $"position id {pos[n]} at row {n / T}, column {n % T} is outside 0..{Config.ContextLength - 1} (the context length)");
            pos.CopyTo(a.Positions);
        }
        _haveHeadGradient = false;
        _haveTargets = false;
        return a;
    }

    private BlockContext Context(GptActivations a, bool drop)
    {
        var ctx = new BlockContext
        {
            Ps = _ps, A = a.Data, D = a.BackwardData, DSlots = a.BackwardSlots, B = a.B, T = a.T, N = a.B * a.T,
            Positions = a.Positions, KeyStart = a.UseKeyStart ? a.KeyStart : default, Dropout = drop ? Config.Dropout : 0f,
        };
        ctx.Rng = ref DropoutRng;
        return ctx;
    }

    // The position table added to the token embedding (learned or sinusoidal), empty for rotary models.
    private ReadOnlySpan<float> PositionTable => _arch.PositionEmbedding is { } wpe ? _ps.P(wpe) : _fixedPositions;

    /// <summary>
    /// Runs the transformer on inputs (B, T) and returns the final hidden states (B, T, C): after the final norm for
    /// pre-LN models, the last block's output for post-LN ones. The span stays valid until the next call.
    /// </summary>
    public ReadOnlySpan<float> ForwardHidden(ReadOnlySpan<int> inputs, int B, int T, BatchLayout extras = default)
    {
        var a = Prepare(inputs, B, T, extras);
        int C = Config.EmbeddingSize, N = B * T, P = a.PrefixLength;
        bool drop = Training && Config.Dropout > 0;
        var ctx = Context(a, drop);

        // Embeddings: token (or prefix) + position.
        var x = a[a.Encoded];
        Encoder.Forward(a.Inputs, _ps.P(_arch.TokenEmbedding), PositionTable, a.Positions, x, N, C);
        for (int n = 0; n < B * a.PrefixSpans; n++)
            for (int t = 0; t < P && a.PrefixStarts[n] >= 0; t++)
            {
                int at = n / a.PrefixSpans * T + a.PrefixStarts[n] + t;
                var row = x.Slice(at * C, C);
                extras.PrefixEmbeddings.Slice((n * P + t) * C, C).CopyTo(row);
                if (!PositionTable.IsEmpty) System.Numerics.Tensors.TensorPrimitives.Add(row, PositionTable.Slice(a.Positions[at] * C, C), row);
            }
        if (drop) Dropout.Forward(x, x, a[a.EmbMask!], Config.Dropout, ref DropoutRng, N * C);

        ReadOnlySpan<float> h = x;
        for (int l = 0; l < Config.Layers; l++)
        {
            _arch.Blocks[l].Forward(in ctx, h, a.Blocks[l]);
            h = a[a.Blocks[l].Out];
        }
        if (_arch.FinalNorm is not { } lnf) return h;
        lnf.Forward(_ps, h, a[a.Lnf], a[a.LnfMean], a[a.LnfRstd], N);
        return a[a.Lnf];
    }

    private ReadOnlySpan<float> Hidden(GptActivations a) => _arch.FinalNorm is null ? a[a.Blocks[^1].Out] : a[a.Lnf];

    /// <summary>The final hidden states (B, T, C) of the last forward (any kind: loss, log-probabilities, logits, hidden); empty before one.</summary>
    public ReadOnlySpan<float> LastHidden => _acts is null ? default : Hidden(_acts);
    /// <summary>True once a backward has allocated the backward buffers (an inference-only model never does).</summary>
    internal bool HasBackwardBuffers => _acts?.BackwardData is not null;

    /// <summary>A saved activation of the last forward by name (tests read the dropout masks).</summary>
    internal ReadOnlySpan<float> Activation(string name) => _acts is null ? default : _acts[_acts.Layout[name]];

    private Span<float> HeadWeight => _ps.P(_arch.LmHead)[..(Config.VocabSize * Config.EmbeddingSize)];
    private Span<float> HeadGradient { get { var g = _ps.G(_arch.LmHead); return g.IsEmpty ? g : g[..(Config.VocabSize * Config.EmbeddingSize)]; } }

    // The LM head over the chunk of rows starting at r0: logits (rows, V) = h·Wᵀ in the arena's bounded chunk buffer.
    private Span<float> HeadChunk(GptActivations a, ReadOnlySpan<float> hidden, int r0, out int rows)
    {
        int C = Config.EmbeddingSize, V = Config.VocabSize;
        rows = Math.Min(a.LogitRows, a.B * a.T - r0);
        var logits = a[a.Logits][..(rows * V)];
        Matmul.Forward(hidden.Slice(r0 * C, rows * C), HeadWeight, default, logits, rows, C, V);
        return logits;
    }

    private void CheckTargets(ReadOnlySpan<int> targets, ReadOnlySpan<float> weights, int N)
    {
        if (targets.Length != N) throw new ArgumentException($"targets has {targets.Length} ids, expected B*T = {N}");
        foreach (int t in targets)
            if (t != CrossEntropy.IgnoreIndex && (uint)t >= (uint)Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(targets), $"target id {t} is outside the vocabulary (0..{Config.VocabSize - 1})");
        if (!weights.IsEmpty && weights.Length != N) throw new ArgumentException($"weights has {weights.Length} entries, expected one per target (B*T = {N})");
    }

    private static double WeightSum(ReadOnlySpan<int> targets, ReadOnlySpan<float> weights)
    {
        double w = 0;
        for (int i = 0; i < targets.Length; i++)
            if (targets[i] != CrossEntropy.IgnoreIndex) w += weights.IsEmpty ? 1 : weights[i];
        return w;
    }

    /// <summary>
    /// Language-model forward: the weighted mean of −log p(target) over targets that are not
    /// <see cref="CrossEntropy.IgnoreIndex"/>, with optional per-target <paramref name="weights"/> (a mask is weight 0;
    /// empty means 1 each). With <paramref name="computeGradients"/> the head's backward runs inside this call (the
    /// logits chunk becomes its gradient in place, so no (B·T, V) tensor is kept): target i's dloss is
    /// gradScale·w_i / Σw, the head's weight gradient is accumulated, and <see cref="Backward()"/> continues from the
    /// hidden states.
    /// </summary>
    public float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int B, int T, bool computeGradients = false, float gradScale = 1f,
                         ReadOnlySpan<float> weights = default, BatchLayout extras = default)
    {
        CheckTargets(targets, weights, B * T);
        double w = WeightSum(targets, weights);
        var r = LossCore(inputs, targets, weights, B, T, computeGradients, w > 0 ? (float)(gradScale / w) : 0f, extras);
        return w > 0 ? (float)(r.Sum / w) : 0f;
    }

    /// <summary>
    /// As <see cref="Forward(ReadOnlySpan{int}, ReadOnlySpan{int}, int, int, bool, float, ReadOnlySpan{float}, BatchLayout)"/> but
    /// unnormalised: returns Σ w_i·(−log p_i) and Σ w_i, and target i's dloss is gradScale·w_i. Gradient accumulation
    /// sums the micro-batches and divides by the whole optimizer batch's Σ w (the optimizer's gradient scale), so
    /// micro-batches with different numbers of masked targets give exactly the mean over the big batch.
    /// </summary>
    public LossSum ForwardSum(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int B, int T, bool computeGradients = false, float gradScale = 1f,
                              ReadOnlySpan<float> weights = default, BatchLayout extras = default)
    {
        CheckTargets(targets, weights, B * T);
        return LossCore(inputs, targets, weights, B, T, computeGradients, gradScale, extras);
    }

    private LossSum LossCore(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, ReadOnlySpan<float> weights, int B, int T,
                             bool computeGradients, float scale, in BatchLayout extras)
    {
        if (computeGradients) EnableGradients();
        var hidden = ForwardHidden(inputs, B, T, extras);
        var a = _acts!;
        int C = Config.EmbeddingSize, V = Config.VocabSize, N = B * T;
        targets.CopyTo(a.Targets);
        var rowScale = a[a.RowScale];
        int counted = 0;
        double wsum = 0;
        for (int i = 0; i < N; i++)
        {
            bool valid = targets[i] != CrossEntropy.IgnoreIndex;
            float w = valid ? (weights.IsEmpty ? 1f : weights[i]) : 0f;
            rowScale[i] = w * scale;
            if (valid) { counted++; wsum += w; }
        }
        Span<float> dhidden = default;
        if (computeGradients)
        {
            var d = a.EnsureBackward(Config);
            dhidden = a.Grad(d.DHidden);
            ParallelRows.Clear(dhidden);
        }
        var losses = a[a.Losses];
        var wHead = HeadWeight;
        var gHead = HeadGradient;
        for (int r0 = 0; r0 < N; r0 += a.LogitRows)
        {
            var logits = HeadChunk(a, hidden, r0, out int rows);
            var h = hidden.Slice(r0 * C, rows * C);
            if (computeGradients)
            {
                CrossEntropy.ForwardBackward(logits, targets.Slice(r0, rows), losses.Slice(r0, rows), rowScale.Slice(r0, rows), rows, V);
                Matmul.Backward(logits, h, wHead, dhidden.Slice(r0 * C, rows * C), gHead, default, rows, C, V);
            }
            else CrossEntropy.ForwardBackward(logits, targets.Slice(r0, rows), losses.Slice(r0, rows), rows, V, 0f);
        }
        _haveHeadGradient = computeGradients;
        _haveTargets = true;
        _lastCounted = counted;
        double sum = 0;
        for (int i = 0; i < N; i++)
            if (targets[i] != CrossEntropy.IgnoreIndex) sum += (weights.IsEmpty ? 1.0 : weights[i]) * losses[i];
        return new LossSum(sum, wsum);
    }

    /// <summary>Number of targets the last loss forward counted (those not ignored).</summary>
    public int LastTargetCount => _lastCounted;

    /// <summary>Per-position losses −log p(target) of the last loss forward (B·T), 0 where ignored (unweighted).</summary>
    public ReadOnlySpan<float> LastLosses => _acts is null ? default : _acts[_acts.Losses][..(_acts.B * _acts.T)];

    /// <summary>dL/d(prefix embeddings) (B, K, P, C) from the last backward of a forward with an embedding prefix or spans (K = 1 for a prefix); empty otherwise.</summary>
    public ReadOnlySpan<float> PrefixGradient => _acts?.PrefixGradient is { } g ? g.AsSpan(0, _acts.B * _acts.PrefixSpans * _acts.PrefixLength * Config.EmbeddingSize) : default;

    // The token positions of row b (between its embedding spans), as [from, to) ranges; no allocation.
    private static TokenSegmentList TokenSegments(GptActivations a, int b) => new(a, b);

    private readonly struct TokenSegmentList(GptActivations a, int b)
    {
        public Enumerator GetEnumerator() => new(a, b);
        public struct Enumerator(GptActivations a, int b)
        {
            private int _k = -1, _from, _to;
            public readonly (int From, int To) Current => (_from, _to);
            public bool MoveNext()
            {
                int K = a.PrefixSpans, P = a.PrefixLength;
                while (++_k <= K)
                {
                    _from = _k == 0 ? 0 : a.PrefixStarts[b * K + _k - 1] + P;
                    bool last = _k == K || a.PrefixStarts[b * K + _k] < 0; // the rest of the row after the last used span
                    _to = last ? a.T : a.PrefixStarts[b * K + _k];
                    if (last) _k = K;
                    if (_to > _from) return true;
                }
                return false;
            }
        }
    }

    /// <summary>
    /// Forward that returns log p(target) per position (B·T; 0 where the target is <see cref="CrossEntropy.IgnoreIndex"/>)
    /// and, when <paramref name="entropy"/> is not empty, the entropy of each position's next-token distribution, without
    /// running any backward. Follow with <see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float})"/>.
    /// </summary>
    public void ForwardLogProbs(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int B, int T, Span<float> logProbs, Span<float> entropy = default,
                                BatchLayout extras = default)
    {
        int N = B * T, C = Config.EmbeddingSize, V = Config.VocabSize;
        CheckTargets(targets, default, N);
        if (logProbs.Length < N) throw new ArgumentException($"logProbs needs B*T = {N} floats", nameof(logProbs));
        if (!entropy.IsEmpty && entropy.Length < N) throw new ArgumentException($"entropy needs B*T = {N} floats", nameof(entropy));
        var hidden = ForwardHidden(inputs, B, T, extras);
        var a = _acts!;
        targets.CopyTo(a.Targets);
        for (int r0 = 0; r0 < N; r0 += a.LogitRows)
        {
            var logits = HeadChunk(a, hidden, r0, out int rows);
            CrossEntropy.LogProbs(logits, targets.Slice(r0, rows), logProbs.Slice(r0, rows), entropy.IsEmpty ? default : entropy.Slice(r0, rows), rows, V);
        }
        _haveTargets = true;
    }

    /// <summary>Computes the full logits (B, T, V) for inputs (B, T); used by evaluation and tests.</summary>
    public void ForwardLogits(ReadOnlySpan<int> inputs, int B, int T, Span<float> logits, BatchLayout extras = default)
    {
        int C = Config.EmbeddingSize, V = Config.VocabSize;
        if (logits.Length < B * T * V) throw new ArgumentException($"logits needs {B * T * V} floats");
        var hidden = ForwardHidden(inputs, B, T, extras);
        Matmul.Forward(hidden, HeadWeight, default, logits, B * T, C, V);
    }

    /// <summary>Backward pass of the language-model loss computed by a loss forward with gradients.</summary>
    public void Backward()
    {
        if (!_haveHeadGradient) throw new InvalidOperationException("call Forward(..., computeGradients: true) before Backward()");
        _haveHeadGradient = false;
        var a = _acts!;
        BackwardTrunk(a, a.Grad(a.BackwardSlots!.DHidden));
    }

    /// <summary>
    /// Two-phase backward for losses computed outside the model, after <see cref="ForwardLogProbs"/> or
    /// <see cref="ForwardHidden"/>: <paramref name="dLogProbs"/> (B·T) is dL/d log p(target), <paramref name="dHidden"/>
    /// (B·T·C) is dL/d(final hidden state) from heads (value, reward, classification), <paramref name="dEntropy"/>
    /// (B·T) is dL/d(entropy); any may be empty. They are combined in one pass: the head's logits are recomputed chunk
    /// by chunk, their gradient joins dHidden, and one backward runs through the trunk. Gradients accumulate.
    /// </summary>
    public void Backward(ReadOnlySpan<float> dLogProbs, ReadOnlySpan<float> dHidden, ReadOnlySpan<float> dEntropy = default)
    {
        var a = _acts ?? throw new InvalidOperationException("run a forward pass first");
        int N = a.B * a.T, C = Config.EmbeddingSize, V = Config.VocabSize;
        bool throughHead = !dLogProbs.IsEmpty || !dEntropy.IsEmpty;
        if (!dLogProbs.IsEmpty && dLogProbs.Length != N) throw new ArgumentException($"dLogProbs needs B*T = {N} floats", nameof(dLogProbs));
        if (!dEntropy.IsEmpty && dEntropy.Length != N) throw new ArgumentException($"dEntropy needs B*T = {N} floats", nameof(dEntropy));
        if (!dHidden.IsEmpty && dHidden.Length != N * C) throw new ArgumentException($"dHidden must be (B, T, C) = {N * C} floats", nameof(dHidden));
        if (throughHead && !_haveTargets) throw new InvalidOperationException("dL/d log p needs the targets: run ForwardLogProbs first");
        EnableGradients();
        var d = a.EnsureBackward(Config);
        var dh = a.Grad(d.DHidden);
        if (dHidden.IsEmpty) ParallelRows.Clear(dh); else dHidden.CopyTo(dh);
        if (throughHead)
        {
            var hidden = Hidden(a);
            var wHead = HeadWeight;
            var gHead = HeadGradient;
            for (int r0 = 0; r0 < N; r0 += a.LogitRows)
            {
                var logits = HeadChunk(a, hidden, r0, out int rows);
                var h = hidden.Slice(r0 * C, rows * C);
                CrossEntropy.LogProbBackward(logits, a.Targets.AsSpan(r0, rows), dLogProbs.IsEmpty ? default : dLogProbs.Slice(r0, rows),
                                             dEntropy.IsEmpty ? default : dEntropy.Slice(r0, rows), rows, V);
                Matmul.Backward(logits, h, wHead, dh.Slice(r0 * C, rows * C), gHead, default, rows, C, V);
            }
        }
        _haveHeadGradient = false;
        BackwardTrunk(a, dh);
    }

    /// <summary>Backward from dL/d(hidden states) (B, T, C) of the last <see cref="ForwardHidden"/> (heads without the LM head).</summary>
    public void BackwardFromHidden(ReadOnlySpan<float> dhidden) => Backward(default, dhidden);

    // The lowest block whose backward is needed: 0 when the embeddings (or a prefix) want gradients, else the lowest
    // block with a trainable tensor or an adapter (a frozen base below it needs no backward at all).
    private int LowestBlockNeedingBackward(GptActivations a)
    {
        if (a.PrefixLength > 0 || !_ps.G(_arch.TokenEmbedding).IsEmpty || !_ps.G(_arch.PositionEmbedding).IsEmpty) return 0;
        for (int l = 0; l < _arch.Blocks.Length; l++)
        {
            var b = _arch.Blocks[l];
            foreach (var lin in b.Linears)
                if (lin.Adapter is not null || !_ps.G(lin.Weight).IsEmpty || !_ps.G(lin.Bias).IsEmpty) return l;
            if (!_ps.G(b.Norm1.Weight).IsEmpty || !_ps.G(b.Norm1.Bias).IsEmpty || !_ps.G(b.Norm2.Weight).IsEmpty || !_ps.G(b.Norm2.Bias).IsEmpty) return l;
        }
        return _arch.Blocks.Length;
    }

    // The model's backward: the forward's list of block calls reversed, from dL/d(hidden states).
    private void BackwardTrunk(GptActivations a, ReadOnlySpan<float> dhidden)
    {
        EnableGradients();
        a.EnsureBackward(Config);
        int B = a.B, T = a.T, C = Config.EmbeddingSize, N = B * T, L = Config.Layers, P = a.PrefixLength;
        bool drop = Training && Config.Dropout > 0;
        var ctx = Context(a, drop);
        var dres = a.Grad(a.BackwardSlots!.DRes);
        ReadOnlySpan<float> Input(int l) => l == 0 ? a[a.Encoded] : a[a.Blocks[l - 1].Out];

        if (_arch.FinalNorm is { } lnf)
        {
            ParallelRows.Clear(dres);
            lnf.Backward(_ps, dhidden, Input(L), a[a.LnfMean], a[a.LnfRstd], dres, N);
        }
        else dhidden.CopyTo(dres);

        int lowest = LowestBlockNeedingBackward(a);
        for (int l = L - 1; l >= lowest; l--) _arch.Blocks[l].Backward(in ctx, Input(l), a.Blocks[l], dres);
        if (lowest > 0) return;

        if (drop) Dropout.Backward(dres, a[a.EmbMask!], dres, N * C);
        if (P > 0)
        {
            int K = a.PrefixSpans;
            if (a.PrefixGradient is null || a.PrefixGradient.Length < B * K * P * C) a.PrefixGradient = new float[B * K * P * C];
            for (int n = 0; n < B * K; n++)
            {
                var g = a.PrefixGradient.AsSpan(n * P * C, P * C);
                if (a.PrefixStarts[n] < 0) g.Clear(); // an unused span
                else dres.Slice((n / K * T + a.PrefixStarts[n]) * C, P * C).CopyTo(g);
            }
        }
        var dwte = _ps.G(_arch.TokenEmbedding);
        if (P == 0) Encoder.Backward(dres, a.Inputs, a.Positions, dwte, _ps.G(_arch.PositionEmbedding), N, C);
        else
        {
            // Embedding positions read no token: the token table's gradient comes from the other positions; positions from all.
            for (int b = 0; b < B; b++)
                foreach (var (from, to) in TokenSegments(a, b))
                    Encoder.Backward(dres.Slice((b * T + from) * C, (to - from) * C), a.Inputs.AsSpan(b * T + from, to - from), a.Positions.AsSpan(b * T + from, to - from), dwte, default, to - from, C);
            Encoder.Backward(dres, a.Inputs, a.Positions, default, _ps.G(_arch.PositionEmbedding), N, C);
        }
    }
}
