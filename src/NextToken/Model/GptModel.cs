// GptModel: the GPT family in one configurable model; training forward/backward over arenas, and KV-cache inference.
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Model;

/// <summary>
/// A GPT whose parameters, gradients and activations live in contiguous arenas described by (name, shape) lists.
/// Training: <c>Forward(inputs, targets, …)</c> then <see cref="Backward"/> (gradients accumulate until <see cref="ZeroGradients"/>).
/// Custom heads (value, reward, classification) use <see cref="ForwardHidden"/> and <see cref="BackwardFromHidden"/>.
/// Generation: <see cref="ICausalLm.Forward"/> over a <see cref="KvCache"/>.
/// </summary>
public sealed partial class GptModel : ICausalLm
{
    private readonly LayerSlots[] _layers;
    private readonly TensorSlot _wte, _lmHead;
    private readonly TensorSlot? _wpe, _lnfW, _lnfB;
    private readonly float[]? _fixedPositions;      // sinusoidal table (ContextLength, C)
    private readonly float[]? _ropeCos, _ropeSin;   // (ContextLength, HS/2)
    private GptActivations? _acts;
    private bool _haveHeadGradient;
    private int _lastCounted;

    /// <summary>Creates a model with GPT-2 initialisation from <paramref name="seed"/>.</summary>
    public GptModel(GptConfig config, ulong seed = 1337) : this(config, initialise: true, seed) { }

    private GptModel(GptConfig config, bool initialise, ulong seed)
    {
        Config = config.Validate();
        Layout = GptParameters.Layout(config);
        Parameters = new float[Layout.Size];
        _wte = Layout["wte.weight"];
        _lmHead = config.TiedEmbeddings ? _wte : Layout["lm_head.weight"];
        _wpe = Layout.Contains("wpe.weight") ? Layout["wpe.weight"] : null;
        _lnfW = Layout.Contains("ln_f.weight") ? Layout["ln_f.weight"] : null;
        _lnfB = Layout.Contains("ln_f.bias") ? Layout["ln_f.bias"] : null;
        _layers = Enumerable.Range(0, config.Layers).Select(l => LayerSlots.Resolve(Layout, l)).ToArray();
        int C = config.EmbeddingSize;
        if (config.Positions == PositionEncoding.Sinusoidal)
        {
            _fixedPositions = new float[config.ContextLength * C];
            Encoder.Sinusoidal(_fixedPositions, config.ContextLength, C);
        }
        else if (config.Positions == PositionEncoding.Rotary)
        {
            int half = config.HeadSize / 2;
            _ropeCos = new float[config.ContextLength * half];
            _ropeSin = new float[config.ContextLength * half];
            Rope.Tables(_ropeCos, _ropeSin, config.ContextLength, config.HeadSize, config.RotaryBase);
        }
        DropoutRng = new Rng(seed, 7);
        if (initialise) Initialise(seed);
    }

    /// <summary>Creates a model whose parameters will be filled by a loader (all zeros until then).</summary>
    public static GptModel CreateUninitialised(GptConfig config) => new(config, initialise: false, 0);

    /// <summary>The architecture.</summary>
    public GptConfig Config { get; }
    /// <summary>Names, shapes and offsets of every parameter tensor.</summary>
    public TensorLayout Layout { get; }
    /// <summary>All parameters in one arena (see <see cref="Layout"/>).</summary>
    public float[] Parameters { get; }
    /// <summary>Gradients, same layout as <see cref="Parameters"/>; allocated by <see cref="EnableGradients"/>.</summary>
    public float[]? Gradients { get; private set; }
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

    /// <summary>The parameter tensor called <paramref name="name"/>.</summary>
    public Span<float> Parameter(string name) => Slice(Parameters, Layout[name]);
    /// <summary>The gradient of the parameter tensor called <paramref name="name"/>.</summary>
    public Span<float> Gradient(string name) => Slice(Gradients ?? throw new InvalidOperationException("gradients are not enabled"), Layout[name]);

    private static Span<float> Slice(float[] arena, TensorSlot? s) => s is null ? Span<float>.Empty : arena.AsSpan((int)s.Offset, (int)s.Length);
    private Span<float> P(TensorSlot? s) => Slice(Parameters, s);
    private Span<float> G(TensorSlot? s) => Slice(Gradients!, s);

    /// <summary>Allocates the gradient arena (idempotent).</summary>
    public void EnableGradients() => Gradients ??= new float[Layout.Size];

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGradients() => ParallelRows.Clear(Gradients ?? throw new InvalidOperationException("gradients are not enabled"));

    /// <summary>
    /// GPT-2 initialisation (Radford et al. 2019, section 2.3): weights N(0, 0.02), residual projections
    /// (attn.c_proj, mlp.c_proj) scaled by 1/sqrt(2·layers), biases 0, LayerNorm gains 1. Vocabulary padding rows stay 0.
    /// </summary>
    public void Initialise(ulong seed)
    {
        var rng = new Rng(seed);
        float residualStd = Config.InitStd / MathF.Sqrt(2f * Config.Layers);
        Array.Clear(Parameters);
        foreach (var s in Layout.Slots)
        {
            var p = P(s);
            switch (s.Kind)
            {
                case TensorKind.Gain: p.Fill(1f); break;
                case TensorKind.Bias: break;
                default:
                    bool residual = s.Name.EndsWith("c_proj.weight", StringComparison.Ordinal);
                    bool vocab = s.Name is "wte.weight" or "lm_head.weight";
                    var init = vocab ? p[..(Config.VocabSize * Config.EmbeddingSize)] : p;
                    rng.FillNormal(init, 0f, residual ? residualStd : Config.InitStd);
                    break;
            }
        }
    }

    private GptActivations Acts(int B, int T)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(B, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(T, 1);
        if (T > Config.ContextLength) throw new ArgumentException($"sequence length {T} exceeds the model's context length {Config.ContextLength}");
        if (_acts is null || _acts.B != B || _acts.T != T) { _acts = null; _acts = new GptActivations(Config, B, T); }
        return _acts;
    }

    private void CheckTokens(ReadOnlySpan<int> tokens, string what)
    {
        int V = Config.VocabSize;
        foreach (int id in tokens)
            if ((uint)id >= (uint)V) throw new ArgumentOutOfRangeException(what, $"{what} id {id} is outside the vocabulary (0..{V - 1})");
    }

    /// <summary>
    /// Runs the transformer on inputs (B, T) and returns the final hidden states (B, T, C): after the final
    /// LayerNorm for pre-LN models, the last block's output for post-LN ones. The span stays valid until the next call.
    /// </summary>
    public ReadOnlySpan<float> ForwardHidden(ReadOnlySpan<int> inputs, int B, int T)
    {
        if (inputs.Length != B * T) throw new ArgumentException($"inputs has {inputs.Length} ids, expected B*T = {B * T}");
        CheckTokens(inputs, "input token");
        var a = Acts(B, T);
        int C = Config.EmbeddingSize, NH = Config.Heads, N = B * T, F = Config.MlpSize;
        float eps = Config.LayerNormEpsilon;
        bool pre = Config.Norm == NormPlacement.Pre, drop = Training && Config.Dropout > 0;
        _haveHeadGradient = false;

        // Embeddings (positions added here unless rotary).
        inputs.CopyTo(a.Inputs);
        var x = a[a.Encoded];
        Encoder.Forward(inputs, P(_wte), _wpe is not null ? P(_wpe) : _fixedPositions, x, B, T, C);
        if (drop) Dropout.Forward(x, x, a[a.EmbMask!], Config.Dropout, ref DropoutRng, N * C);

        for (int l = 0; l < Config.Layers; l++)
        {
            var w = _layers[l];
            var qkv = a[a.Qkv[l]];
            var attnIn = pre ? a[a.Ln1[l]] : x;
            if (pre) LayerNorm.Forward(x, P(w.Ln1W), P(w.Ln1B), a[a.Ln1[l]], a[a.Ln1Mean[l]], a[a.Ln1Rstd[l]], N, C, eps);
            MatmulForward(attnIn, P(w.Attn), P(w.AttnB), qkv, N, C, 3 * C);
            if (_ropeCos is not null)
            {
                Rope.Apply(qkv, _ropeCos, _ropeSin, N, T, 3 * C, 0, C, NH, 0, inverse: false);
                Rope.Apply(qkv, _ropeCos, _ropeSin, N, T, 3 * C, C, C, NH, 0, inverse: false);
            }
            AttentionForward(qkv, a[a.Atty[l]], a[a.AttScratch[l]], B, T, C, NH);
            MatmulForward(a[a.Atty[l]], P(w.AttnProj), P(w.AttnProjB), a[a.AttProj[l]], N, C, C);
            if (drop) Dropout.Forward(a[a.AttProj[l]], a[a.AttProj[l]], a[a.AttMask[l]!], Config.Dropout, ref DropoutRng, N * C);
            Residual.Forward(x, a[a.AttProj[l]], a[a.Resid2[l]], N * C);
            var mlpIn = pre ? a[a.Ln2[l]] : a[a.Ln1[l]];
            if (pre) LayerNorm.Forward(a[a.Resid2[l]], P(w.Ln2W), P(w.Ln2B), a[a.Ln2[l]], a[a.Ln2Mean[l]], a[a.Ln2Rstd[l]], N, C, eps);
            else LayerNorm.Forward(a[a.Resid2[l]], P(w.Ln1W), P(w.Ln1B), a[a.Ln1[l]], a[a.Ln1Mean[l]], a[a.Ln1Rstd[l]], N, C, eps);
            MatmulForward(mlpIn, P(w.Fc), P(w.FcB), a[a.Fch[l]], N, C, F);
            Gelu.Forward(a[a.Fch[l]], a[a.FchGelu[l]], N * F);
            MatmulForward(a[a.FchGelu[l]], P(w.FcProj), P(w.FcProjB), a[a.FcProj[l]], N, F, C);
            if (drop) Dropout.Forward(a[a.FcProj[l]], a[a.FcProj[l]], a[a.MlpMask[l]!], Config.Dropout, ref DropoutRng, N * C);
            Residual.Forward(pre ? a[a.Resid2[l]] : mlpIn, a[a.FcProj[l]], a[a.Resid3[l]], N * C);
            if (pre) x = a[a.Resid3[l]];
            else
            {
                LayerNorm.Forward(a[a.Resid3[l]], P(w.Ln2W), P(w.Ln2B), a[a.Ln2[l]], a[a.Ln2Mean[l]], a[a.Ln2Rstd[l]], N, C, eps);
                x = a[a.Ln2[l]];
            }
        }
        if (Config.FinalNorm)
        {
            LayerNorm.Forward(x, P(_lnfW!), P(_lnfB), a[a.Lnf], a[a.LnfMean], a[a.LnfRstd], N, C, eps);
            return a[a.Lnf];
        }
        x.CopyTo(a[a.Lnf]);
        return a[a.Lnf];
    }

    /// <summary>
    /// Language-model forward: hidden states, then the LM head fused with softmax cross-entropy over row chunks.
    /// Returns the mean loss over targets that are not <see cref="CrossEntropy.IgnoreIndex"/>. With
    /// <paramref name="computeGradients"/> the head's backward runs inside this call (the logits chunk becomes its
    /// gradient in place, so no (B·T, V) tensor is kept): dlogits are scaled by gradScale / counted targets, the
    /// head's weight gradient is accumulated, and <see cref="Backward"/> continues from the hidden states.
    /// </summary>
    public float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int B, int T, bool computeGradients = false, float gradScale = 1f)
    {
        if (targets.Length != B * T) throw new ArgumentException($"targets has {targets.Length} ids, expected B*T = {B * T}");
        foreach (int t in targets)
            if (t != CrossEntropy.IgnoreIndex && (uint)t >= (uint)Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(targets), $"target id {t} is outside the vocabulary (0..{Config.VocabSize - 1})");
        if (computeGradients) EnableGradients();
        var hidden = ForwardHidden(inputs, B, T);
        var a = _acts!;
        int C = Config.EmbeddingSize, V = Config.VocabSize, N = B * T;
        int counted = 0;
        foreach (int t in targets) if (t != CrossEntropy.IgnoreIndex) counted++;
        float dloss = computeGradients && counted > 0 ? gradScale / counted : 0f;
        var dhidden = a[a.DHidden];
        if (computeGradients) ParallelRows.Clear(dhidden);
        var losses = a[a.Losses];
        var wHead = P(_lmHead)[..(V * C)];
        for (int r0 = 0; r0 < N; r0 += a.LogitRows)
        {
            int rows = Math.Min(a.LogitRows, N - r0);
            var logits = a[a.Logits][..(rows * V)];
            var h = hidden.Slice(r0 * C, rows * C);
            MatmulForward(h, wHead, default, logits, rows, C, V);
            CrossEntropy.ForwardBackward(logits, targets.Slice(r0, rows), losses.Slice(r0, rows), rows, V, dloss);
            if (computeGradients)
                MatmulBackward(logits, h, wHead, dhidden.Slice(r0 * C, rows * C), G(_lmHead)[..(V * C)], default, rows, C, V);
        }
        _haveHeadGradient = computeGradients;
        _lastCounted = counted;
        double sum = 0;
        foreach (float l in losses[..N]) sum += l;
        return counted == 0 ? 0f : (float)(sum / counted);
    }

    /// <summary>Number of targets the last <c>Forward(inputs, targets, …)</c> counted (those not ignored).</summary>
    public int LastTargetCount => _lastCounted;

    /// <summary>Per-position losses of the last <c>Forward(inputs, targets, …)</c> (B·T), 0 where ignored.</summary>
    public ReadOnlySpan<float> LastLosses => _acts is null ? default : _acts[_acts.Losses][..(_acts.B * _acts.T)];

    /// <summary>Computes the full logits (B, T, V) for inputs (B, T); used by evaluation and tests.</summary>
    public void ForwardLogits(ReadOnlySpan<int> inputs, int B, int T, Span<float> logits)
    {
        int C = Config.EmbeddingSize, V = Config.VocabSize;
        if (logits.Length < B * T * V) throw new ArgumentException($"logits needs {B * T * V} floats");
        var hidden = ForwardHidden(inputs, B, T);
        MatmulForward(hidden, P(_lmHead)[..(V * C)], default, logits, B * T, C, V);
    }

    /// <summary>Backward pass of the language-model loss computed by <c>Forward(inputs, targets, …)</c> with gradients.</summary>
    public void Backward()
    {
        if (!_haveHeadGradient) throw new InvalidOperationException("call Forward(..., computeGradients: true) before Backward()");
        _haveHeadGradient = false;
        BackwardFromHidden(_acts![_acts.DHidden]);
    }

    /// <summary>
    /// Backward from a gradient of the hidden states returned by <see cref="ForwardHidden"/> (B, T, C): accumulates
    /// every parameter gradient. The model's backward, the forward's list of layer calls reversed.
    /// </summary>
    public void BackwardFromHidden(ReadOnlySpan<float> dhidden)
    {
        EnableGradients();
        var a = _acts ?? throw new InvalidOperationException("run a forward pass first");
        int B = a.B, T = a.T, C = Config.EmbeddingSize, NH = Config.Heads, N = B * T, F = Config.MlpSize, L = Config.Layers;
        bool pre = Config.Norm == NormPlacement.Pre, drop = Training && Config.Dropout > 0;
        if (dhidden.Length != N * C) throw new ArgumentException($"dhidden must be (B, T, C) = {N * C} floats");
        var dres = a[a.DRes];
        var dres2 = a[a.DRes2];
        var dln = a[a.DLn];

        // Final LayerNorm (pre-LN), else the hidden state is the last block's output.
        if (Config.FinalNorm)
        {
            ParallelRows.Clear(dres);
            var xL = pre ? a[a.Resid3[L - 1]] : a[a.Ln2[L - 1]];
            LayerNorm.Backward(dhidden, xL, P(_lnfW!), a[a.LnfMean], a[a.LnfRstd], dres, G(_lnfW!), G(_lnfB), N, C);
        }
        else dhidden.CopyTo(dres);

        for (int l = L - 1; l >= 0; l--)
        {
            var w = _layers[l];
            var x = l == 0 ? a[a.Encoded] : pre ? a[a.Resid3[l - 1]] : a[a.Ln2[l - 1]];
            if (pre)
            {
                // resid3 = resid2 + fcproj: dres flows to resid2 unchanged and to the MLP branch.
                MlpBackward(a, w, l, dres, a[a.Ln2[l]], dln, clearInput: true, drop, N, C, F);
                LayerNorm.Backward(dln, a[a.Resid2[l]], P(w.Ln2W), a[a.Ln2Mean[l]], a[a.Ln2Rstd[l]], dres, G(w.Ln2W), G(w.Ln2B), N, C);
                // resid2 = x + attproj
                AttentionBackward(a, w, l, dres, a[a.Ln1[l]], dln, clearInput: true, drop, B, T, C, NH);
                LayerNorm.Backward(dln, x, P(w.Ln1W), a[a.Ln1Mean[l]], a[a.Ln1Rstd[l]], dres, G(w.Ln1W), G(w.Ln1B), N, C);
            }
            else
            {
                // out = LN2(resid3), resid3 = ln1 + fcproj, ln1 = LN1(resid2), resid2 = x + attproj
                ParallelRows.Clear(dres2);
                LayerNorm.Backward(dres, a[a.Resid3[l]], P(w.Ln2W), a[a.Ln2Mean[l]], a[a.Ln2Rstd[l]], dres2, G(w.Ln2W), G(w.Ln2B), N, C);
                MlpBackward(a, w, l, dres2, a[a.Ln1[l]], dres2, clearInput: false, drop, N, C, F); // dln1 = dresid3 + MLP input grad
                ParallelRows.Clear(dres);
                LayerNorm.Backward(dres2, a[a.Resid2[l]], P(w.Ln1W), a[a.Ln1Mean[l]], a[a.Ln1Rstd[l]], dres, G(w.Ln1W), G(w.Ln1B), N, C);
                AttentionBackward(a, w, l, dres, x, dres, clearInput: false, drop, B, T, C, NH);
            }
        }
        if (drop) Dropout.Backward(dres, a[a.EmbMask!], dres, N * C);
        Encoder.Backward(dres, a.Inputs, G(_wte), _wpe is not null ? G(_wpe) : default, B, T, C);
    }
}
