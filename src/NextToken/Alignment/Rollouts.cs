// Rollouts: batched sampling of responses over KV caches (one decode step serves every unfinished sequence), and
// SequenceBatch: prompt + response rows laid out for the training forward, with the response tokens' target positions.
using System.Numerics.Tensors;
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Tensors;

namespace NextToken.Alignment;

/// <summary>A prompt and a sampled response, as token ids.</summary>
/// <param name="Prompt">Prompt ids.</param>
/// <param name="Response">Response ids, the end token included when it was reached.</param>
/// <param name="Finished">True when the response ended with the end token (not cut by the length limit).</param>
public sealed record Rollout(int[] Prompt, int[] Response, bool Finished)
{
    /// <summary>Prompt followed by response.</summary>
    public int[] Sequence => [.. Prompt, .. Response];
}

/// <summary>
/// Samples responses from a model at temperature τ (no truncation: PPO's ratios need the policy's own distribution).
/// Prompts are prefilled one by one; then every decode step runs all unfinished sequences as one batch
/// (<see cref="ICausalLm.ForwardBatch"/>), so the weights are read once per step for the whole batch. Caches are kept
/// between calls.
/// </summary>
public sealed class RolloutSampler
{
    private readonly GptModel _model;
    private readonly List<KvCache> _caches = [];
    private float[] _logits = [];
    private float[] _probs = [], _prefill = [];

    /// <summary>A sampler for <paramref name="model"/>.</summary>
    public RolloutSampler(GptModel model) { _model = model; }

    /// <summary>
    /// One response per prompt, at most <paramref name="maxNewTokens"/> tokens, ending at <paramref name="endToken"/>.
    /// Prompts longer than the context less <paramref name="maxNewTokens"/> keep their last tokens.
    /// </summary>
    public Rollout[] Sample(IReadOnlyList<int[]> prompts, int maxNewTokens, int endToken, float temperature, ref Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxNewTokens, 1);
        if (temperature <= 0) throw new ArgumentOutOfRangeException(nameof(temperature), "rollouts sample at a temperature above 0");
        int n = prompts.Count, V = _model.VocabSize;
        int room = _model.ContextLength - maxNewTokens;
        if (room < 1) throw new ArgumentException($"max new tokens {maxNewTokens} leaves no room for a prompt in the context of {_model.ContextLength}");
        while (_caches.Count < n) _caches.Add(_model.CreateCache());
        if (_logits.Length < n * V) _logits = new float[n * V];
        if (_probs.Length < V) _probs = new float[V];
        var responses = new List<int>[n];
        var usedPrompts = new int[n][];
        var active = new List<int>(n);
        for (int i = 0; i < n; i++)
        {
            var p = prompts[i];
            if (p.Length == 0) throw new ArgumentException($"prompt {i} is empty");
            usedPrompts[i] = p.Length > room ? p[^room..] : p;
            _caches[i].Length = 0;
            responses[i] = new List<int>(maxNewTokens);
            active.Add(i);
        }
        // Prefill: prompts of equal length in one forward each (rows cache-major), keeping each one's last logits.
        foreach (var group in Enumerable.Range(0, n).GroupBy(i => usedPrompts[i].Length))
        {
            var members = group.ToArray();
            int L = group.Key;
            for (int g0 = 0; g0 < members.Length; g0 += 64)
            {
                int m = Math.Min(64, members.Length - g0);
                var caches = new KvCache[m];
                var tokens = new int[m * L];
                for (int k = 0; k < m; k++) { caches[k] = _caches[members[g0 + k]]; usedPrompts[members[g0 + k]].CopyTo(tokens, k * L); }
                if (_prefill.Length < m * L * V) _prefill = new float[m * L * V];
                _model.ForwardMany(caches, tokens, L, _prefill);
                for (int k = 0; k < m; k++) _prefill.AsSpan(((k + 1) * L - 1) * V, V).CopyTo(_logits.AsSpan(members[g0 + k] * V, V));
            }
        }
        var finished = new bool[n];
        var stepCaches = new KvCache[n];
        var stepTokens = new int[n];
        for (int step = 0; step < maxNewTokens && active.Count > 0; step++)
        {
            // Sample one token for every active sequence from its row of logits.
            for (int k = 0; k < active.Count; k++)
            {
                int i = active[k];
                var row = step == 0 ? _logits.AsSpan(i * V, V) : _logits.AsSpan(k * V, V);
                int token = SampleToken(row, temperature, ref rng);
                responses[i].Add(token);
                if (token == endToken) finished[i] = true;
            }
            var next = new List<int>(active.Count);
            foreach (int i in active)
                if (!finished[i] && responses[i].Count < maxNewTokens) next.Add(i);
            active = next;
            if (active.Count == 0) break;
            for (int k = 0; k < active.Count; k++) { stepCaches[k] = _caches[active[k]]; stepTokens[k] = responses[active[k]][^1]; }
            _model.ForwardBatch(stepCaches.AsSpan(0, active.Count), stepTokens.AsSpan(0, active.Count), _logits.AsSpan(0, active.Count * V));
        }
        var result = new Rollout[n];
        for (int i = 0; i < n; i++) result[i] = new Rollout(usedPrompts[i], [.. responses[i]], finished[i]);
        return result;
    }

    private int SampleToken(ReadOnlySpan<float> logits, float temperature, ref Rng rng)
    {
        var p = _probs.AsSpan(0, logits.Length);
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, p);
        if (temperature != 1f) TensorPrimitives.Divide(p, temperature, p);
        TensorPrimitives.Exp(p, p);
        double u = rng.NextDouble() * TensorPrimitives.Sum(p), acc = 0;
        for (int v = 0; v < p.Length; v++) { acc += p[v]; if (u < acc) return v; }
        return logits.Length - 1;
    }
}

/// <summary>
/// Rollouts laid out as rows of a training batch (B, T): row b holds prompt + response left-aligned (padding after it
/// reads token 0 and is never a target, so causal attention keeps it out of every real position). The response's token t
/// is the target at position prompt.Length − 1 + t: <see cref="Targets"/> holds it there and
/// <see cref="CrossEntropy.IgnoreIndex"/> elsewhere; <see cref="Mask"/> marks those positions.
/// </summary>
public sealed class SequenceBatch
{
    /// <summary>Lays out <paramref name="rollouts"/> in rows of length <paramref name="T"/>.</summary>
    public SequenceBatch(IReadOnlyList<Rollout> rollouts, int T)
    {
        B = rollouts.Count; this.T = T;
        Inputs = new int[B * T];
        Targets = new int[B * T];
        Mask = new bool[B * T];
        Weights = new float[B * T];
        Targets.AsSpan().Fill(CrossEntropy.IgnoreIndex);
        Start = new int[B]; Length = new int[B]; Last = new int[B];
        for (int b = 0; b < B; b++)
        {
            var r = rollouts[b];
            int p = r.Prompt.Length, n = r.Response.Length;
            if (p + n > T + 1 || p + n - 1 > T) throw new ArgumentException($"rollout {b} has {p + n} tokens; rows hold {T}");
            r.Prompt.CopyTo(Inputs, b * T);
            r.Response.AsSpan(0, Math.Min(n, T - p)).CopyTo(Inputs.AsSpan(b * T + p));
            for (int t = 0; t < n; t++)
            {
                int pos = b * T + p - 1 + t;
                Targets[pos] = r.Response[t];
                Mask[pos] = true;
                Weights[pos] = 1f;
            }
            Start[b] = b * T + p - 1;
            Length[b] = n;
            Last[b] = b * T + Math.Min(p + n, T) - 1;
        }
    }

    /// <summary>Rows.</summary>
    public int B { get; }
    /// <summary>Row length.</summary>
    public int T { get; }
    /// <summary>Input ids (B, T).</summary>
    public int[] Inputs { get; }
    /// <summary>Targets (B, T): response tokens at their positions, ignored elsewhere.</summary>
    public int[] Targets { get; }
    /// <summary>True at response positions.</summary>
    public bool[] Mask { get; }
    /// <summary>1 at response positions, 0 elsewhere.</summary>
    public float[] Weights { get; }
    /// <summary>Flat index of row b's first response position.</summary>
    public int[] Start { get; }
    /// <summary>Response length of row b.</summary>
    public int[] Length { get; }
    /// <summary>Flat index of row b's last token (where a reward model reads its score).</summary>
    public int[] Last { get; }
    /// <summary>Number of response tokens.</summary>
    public int Tokens => Length.Sum();

    /// <summary>Row length for rollouts of prompts up to <paramref name="maxPrompt"/> tokens and responses up to <paramref name="maxNewTokens"/>.</summary>
    public static int RowLength(int maxPrompt, int maxNewTokens, int context) => Math.Min(context, maxPrompt + maxNewTokens);
}
