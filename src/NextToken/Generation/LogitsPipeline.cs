// LogitsPipeline: the logits processors (penalties, temperature, truncation filters) applied in a configurable order.
namespace NextToken.Generation;

/// <summary>
/// Turns one row of raw logits into the logits that are sampled from, like Hugging Face's LogitsProcessorList and
/// llama.cpp's sampler chain. Stages run in <see cref="GenerationOptions.ProcessorOrder"/>; filters set removed
/// tokens to −∞, so the sampled distribution is softmax of the result. Each filter measures probabilities of the
/// logits it receives (after the stages before it), so order matters: top-k then top-p renormalises over the k.
/// All scratch is allocated once per pipeline: a step allocates nothing. Not thread-safe: one per sequence group.
/// </summary>
public sealed class LogitsPipeline
{
    /// <summary>
    /// The default order: edits that depend on the text (bias, bans, penalties, min-new-tokens) on raw logits first,
    /// then temperature, then the truncation filters from the coarsest to the finest (as Hugging Face applies them).
    /// </summary>
    public static IReadOnlyList<LogitsStage> DefaultOrder { get; } =
    [
        LogitsStage.LogitBias, LogitsStage.BannedSequences, LogitsStage.NoRepeatNgram, LogitsStage.RepetitionPenalty,
        LogitsStage.PresenceFrequencyPenalty, LogitsStage.MinNewTokens, LogitsStage.Temperature, LogitsStage.TopK,
        LogitsStage.TopP, LogitsStage.MinP, LogitsStage.TypicalP, LogitsStage.EpsilonCutoff, LogitsStage.EtaCutoff,
    ];

    private readonly GenerationOptions _o;
    private readonly int _vocab;
    private readonly int? _endOfText;
    private readonly LogitsStage[] _order;
    private readonly (int Id, float Bias)[] _bias;
    private readonly int[][] _banned;
    private readonly float[] _probs, _keys;
    private readonly int[] _index, _stamp, _count;
    private int _stampGeneration;

    /// <summary>Creates a pipeline for a vocabulary of <paramref name="vocabSize"/> ids.</summary>
    public LogitsPipeline(int vocabSize, GenerationOptions options, int? endOfTextId)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        _o = options.Validate();
        _vocab = vocabSize;
        _endOfText = endOfTextId;
        _order = options.ProcessorOrder.ToArray();
        _bias = options.LogitBias.Select(kv => (kv.Key, kv.Value)).OrderBy(b => b.Key).ToArray();
        foreach (var (id, _) in _bias) CheckId(id, "logit bias");
        _banned = options.BannedSequences.Select(s => s.ToArray()).ToArray();
        foreach (var s in _banned) foreach (int id in s) CheckId(id, "banned sequence");
        _probs = new float[vocabSize];
        _keys = new float[vocabSize];
        _index = new int[vocabSize];
        _stamp = new int[vocabSize];
        _count = new int[vocabSize];
    }

    private void CheckId(int id, string what)
    {
        if ((uint)id >= (uint)_vocab) throw new ArgumentException($"{what} names token id {id}, outside the vocabulary (0..{_vocab - 1})");
    }

    /// <summary>
    /// Applies every stage to <paramref name="logits"/> (length vocabulary) in order. <paramref name="sequence"/> is
    /// the whole text so far (prompt then generated ids); the first <paramref name="promptLength"/> are the prompt.
    /// With <paramref name="editsOnly"/> only the stages before temperature that edit logits run (beam search, which
    /// scores log-probabilities instead of sampling).
    /// </summary>
    public void Apply(Span<float> logits, ReadOnlySpan<int> sequence, int promptLength, bool editsOnly = false)
    {
        if (logits.Length != _vocab) throw new ArgumentException($"logits has {logits.Length} entries, the vocabulary {_vocab}");
        foreach (var stage in _order)
        {
            switch (stage)
            {
                case LogitsStage.LogitBias:
                    foreach (var (id, b) in _bias) logits[id] += b;
                    break;
                case LogitsStage.BannedSequences:
                    foreach (var s in _banned)
                        if (sequence.EndsWith(s.AsSpan(0, s.Length - 1))) logits[s[^1]] = float.NegativeInfinity;
                    break;
                case LogitsStage.NoRepeatNgram:
                    NoRepeatNgram(logits, sequence, _o.NoRepeatNgramSize);
                    break;
                case LogitsStage.RepetitionPenalty:
                    if (_o.RepetitionPenalty != 1f) RepetitionPenalty(logits, sequence, _o.RepetitionPenalty);
                    break;
                case LogitsStage.PresenceFrequencyPenalty:
                    if (_o.PresencePenalty != 0f || _o.FrequencyPenalty != 0f) PresenceFrequency(logits, sequence[Math.Min(promptLength, sequence.Length)..]);
                    break;
                case LogitsStage.MinNewTokens:
                    if (_endOfText is int eot && sequence.Length - promptLength < _o.MinNewTokens) logits[eot] = float.NegativeInfinity;
                    break;
                case LogitsStage.Temperature:
                    if (!editsOnly && _o.Temperature > 0f && _o.Temperature != 1f)
                    {
                        float inv = 1f / _o.Temperature;
                        if (float.IsInfinity(inv)) { KeepMax(logits); break; } // T → 0 is greedy
                        // A tiny temperature may overflow to +∞ (then softmax is NaN): clamp to the largest float.
                        for (int i = 0; i < logits.Length; i++) logits[i] = Math.Min(logits[i] * inv, float.MaxValue);
                    }
                    break;
                case LogitsStage.TopK:
                    if (!editsOnly && _o.TopK > 0 && _o.TopK < _vocab) TopK(logits, _o.TopK);
                    break;
                case LogitsStage.TopP:
                    if (!editsOnly && _o.TopP < 1f) Nucleus(logits, _o.TopP, typical: false);
                    break;
                case LogitsStage.MinP:
                    if (!editsOnly && _o.MinP > 0f) MinP(logits, _o.MinP);
                    break;
                case LogitsStage.TypicalP:
                    if (!editsOnly && _o.TypicalP < 1f) Nucleus(logits, _o.TypicalP, typical: true);
                    break;
                case LogitsStage.EpsilonCutoff:
                    if (!editsOnly && _o.EpsilonCutoff > 0f) Cutoff(logits, _o.EpsilonCutoff, eta: false);
                    break;
                case LogitsStage.EtaCutoff:
                    if (!editsOnly && _o.EtaCutoff > 0f) Cutoff(logits, _o.EtaCutoff, eta: true);
                    break;
            }
        }
    }

    private static void KeepMax(Span<float> logits)
    {
        float max = logits[Sampling.ArgMax(logits)];
        for (int i = 0; i < logits.Length; i++) if (logits[i] < max) logits[i] = float.NegativeInfinity;
    }

    // Bans every token that would complete an n-gram already present: the last n-1 tokens are matched against
    // every earlier window (O(length · n), no hashing, no allocation).
    private static void NoRepeatNgram(Span<float> logits, ReadOnlySpan<int> seq, int n)
    {
        if (n <= 0 || seq.Length < n) return;
        if (n == 1) { foreach (int t in seq) logits[t] = float.NegativeInfinity; return; }
        var tail = seq[^(n - 1)..];
        for (int i = 0; i + n <= seq.Length; i++)
            if (seq.Slice(i, n - 1).SequenceEqual(tail)) logits[seq[i + n - 1]] = float.NegativeInfinity;
    }

    // CTRL (Keskar et al. 2019, eq. in section 4.1) as Hugging Face applies it: each distinct token of the text once.
    private void RepetitionPenalty(Span<float> logits, ReadOnlySpan<int> seq, float theta)
    {
        int g = NextStamp();
        foreach (int t in seq)
        {
            if (_stamp[t] == g) continue;
            _stamp[t] = g;
            logits[t] = logits[t] > 0 ? logits[t] / theta : logits[t] * theta;
        }
    }

    // OpenAI: mu[j] -= c[j]·frequency_penalty + (c[j] > 0)·presence_penalty over the generated tokens.
    private void PresenceFrequency(Span<float> logits, ReadOnlySpan<int> generated)
    {
        foreach (int t in generated) _count[t]++;
        foreach (int t in generated)
        {
            int c = _count[t];
            if (c == 0) continue;
            logits[t] -= c * _o.FrequencyPenalty + _o.PresencePenalty;
            _count[t] = 0;
        }
    }

    private int NextStamp()
    {
        if (++_stampGeneration == int.MaxValue) { Array.Clear(_stamp); _stampGeneration = 1; }
        return _stampGeneration;
    }

    // Keeps logits ≥ the k-th largest (ties with it stay, as in Hugging Face). A size-k min-heap finds the threshold
    // in O(V log k) instead of sorting the vocabulary.
    private void TopK(Span<float> logits, int k)
    {
        var heap = _keys.AsSpan(0, k);
        int n = 0;
        foreach (float l in logits)
        {
            if (l == float.NegativeInfinity) continue;
            if (n < k) { heap[n] = l; SiftUp(heap, n++); }
            else if (l > heap[0]) { heap[0] = l; SiftDown(heap, 0, k); }
        }
        if (n < k) return;
        float threshold = heap[0];
        for (int i = 0; i < logits.Length; i++) if (logits[i] < threshold) logits[i] = float.NegativeInfinity;
    }

    private static void SiftUp(Span<float> h, int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (h[parent] <= h[i]) break;
            (h[parent], h[i]) = (h[i], h[parent]);
            i = parent;
        }
    }

    private static void SiftDown(Span<float> h, int i, int n)
    {
        while (true)
        {
            int l = 2 * i + 1, smallest = i;
            if (l < n && h[l] < h[smallest]) smallest = l;
            if (l + 1 < n && h[l + 1] < h[smallest]) smallest = l + 1;
            if (smallest == i) return;
            (h[smallest], h[i]) = (h[i], h[smallest]);
            i = smallest;
        }
    }

    /// <summary>Softmax of <paramref name="logits"/> into _probs (−∞ → 0); returns the entropy in nats when asked.</summary>
    private double Softmax(ReadOnlySpan<float> logits, bool entropy = false)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits) if (l > max) max = l;
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) { float e = MathF.Exp(logits[i] - max); _probs[i] = e; sum += e; }
        float inv = (float)(1.0 / sum);
        double h = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float p = _probs[i] *= inv;
            if (entropy && p > 0) h -= p * Math.Log(p);
        }
        return h;
    }

    // Top-p: tokens in decreasing probability while the mass before them is < p. Typical-p: tokens in increasing
    // |−log p − H| (H the entropy) while the mass before them is < p. At least one token always stays.
    private void Nucleus(Span<float> logits, float p, bool typical)
    {
        double h = Softmax(logits, entropy: typical);
        // Top-p keeps a prefix of the tokens sorted by probability, so if the tokens with probability ≥ t already
        // hold mass ≥ p, the nucleus lies among them: sort only those (a few hundred of 50k for a trained model).
        float floor = 0;
        if (!typical)
        {
            double m3 = 0, m4 = 0, m5 = 0;
            foreach (float pi in _probs.AsSpan(0, logits.Length))
            {
                if (pi >= 1e-5f) { m5 += pi; if (pi >= 1e-4f) { m4 += pi; if (pi >= 1e-3f) m3 += pi; } }
            }
            floor = m3 >= p ? 1e-3f : m4 >= p ? 1e-4f : m5 >= p ? 1e-5f : 0;
        }
        int n = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float pi = _probs[i];
            if (pi <= 0 || pi < floor) { logits[i] = float.NegativeInfinity; continue; }
            _keys[n] = typical ? (float)Math.Abs(-Math.Log(pi) - h) : -pi;
            _index[n++] = i;
        }
        var keys = _keys.AsSpan(0, n);
        var index = _index.AsSpan(0, n);
        keys.Sort(index);
        double mass = 0;
        for (int j = 0; j < n; j++)
        {
            if (mass >= p) logits[index[j]] = float.NegativeInfinity;
            mass += _probs[index[j]];
        }
    }

    private void MinP(Span<float> logits, float minP)
    {
        Softmax(logits);
        float max = 0;
        for (int i = 0; i < logits.Length; i++) max = Math.Max(max, _probs[i]);
        float threshold = minP * max;
        for (int i = 0; i < logits.Length; i++) if (_probs[i] < threshold) logits[i] = float.NegativeInfinity;
    }

    // Epsilon: drop p < ε. Eta: drop p < min(η, √η·exp(−H)) (Hewitt et al. 2022, eq. 6). The argmax always stays.
    private void Cutoff(Span<float> logits, float epsilon, bool eta)
    {
        double h = Softmax(logits, entropy: eta);
        float threshold = eta ? (float)Math.Min(epsilon, Math.Sqrt(epsilon) * Math.Exp(-h)) : epsilon;
        int best = Sampling.ArgMax(logits);
        for (int i = 0; i < logits.Length; i++) if (_probs[i] < threshold && i != best) logits[i] = float.NegativeInfinity;
    }
}
