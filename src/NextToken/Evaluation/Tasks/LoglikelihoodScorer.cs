// LoglikelihoodScorer: lm-eval's loglikelihood requests on a KV cache — the shared context runs once, choices batched.
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Evaluation.Tasks;

/// <summary>
/// Scores continuations given a context. Tokenization follows lm-eval's HFLM._encode_pair: trailing spaces of the
/// context move to the continuation, the context is encoded alone, the continuation's tokens are those of
/// encode(context + continuation) after the context's count; an empty context becomes the end-of-text token (our
/// tokenizers without one use the newline token, else id 0). Inputs longer than the model are left-truncated as lm-eval
/// does (<c>(context + continuation)[-(max_length + 1):][:-1]</c>), counted in <see cref="Truncated"/>.
/// With <see cref="ShareContext"/> (default) the context of a multiple-choice question runs once into a KV cache and
/// each choice forks it; for the GPT model all choices then run together, padded to the longest, in one forward
/// per chunk (rows = choices × tokens); other models step short choices together through
/// <see cref="ICausalLm.ForwardBatch"/> and run longer ones as one multi-token forward each; without it every
/// choice recomputes the context from scratch (the baseline the throughput benchmark compares against).
/// </summary>
public sealed class LoglikelihoodScorer
{
    private readonly ICausalLm _model;
    private readonly ITokenizer _tokenizer;
    private readonly List<KvCache> _caches = [];
    private readonly float[] _row;
    private float[] _logits = [];
    private const int Chunk = 64;
    // Choices of at most this many tokens after the first advance together through ForwardBatch.
    private const int BatchedSteps = 2;

    /// <summary>Creates a scorer for <paramref name="model"/> with its tokenizer.</summary>
    public LoglikelihoodScorer(ICausalLm model, ITokenizer tokenizer)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        _row = new float[model.VocabSize];
        PrefixToken = tokenizer.EndOfTextId ?? NewlineOrZero(tokenizer);
    }

    private static int NewlineOrZero(ITokenizer tokenizer)
    {
        try { return tokenizer.Encode("\n") is [int nl] ? nl : 0; }
        catch (ArgumentException) { return 0; } // a character vocabulary without a newline
    }

    /// <summary>Run a question's shared context once (true) or once per choice (false).</summary>
    public bool ShareContext { get; set; } = true;
    /// <summary>Requests whose context was cut on the left to fit the model.</summary>
    public int Truncated { get; private set; }
    /// <summary>The token that stands for an empty context (lm-eval's prefix token: end-of-text).</summary>
    public int PrefixToken { get; }

    /// <summary>lm-eval's _encode_pair: (context tokens, continuation tokens).</summary>
    public (int[] Context, int[] Continuation) Encode(string context, string continuation)
    {
        int spaces = context.Length - context.TrimEnd().Length;
        if (spaces > 0) { continuation = context[^spaces..] + continuation; context = context[..^spaces]; }
        if (context.Length == 0) return ([PrefixToken], _tokenizer.Encode(continuation));
        int[] ctx = _tokenizer.Encode(context);
        int[] whole = _tokenizer.Encode(context + continuation);
        return (ctx, whole[Math.Min(ctx.Length, whole.Length)..]);
    }

    /// <summary>Scores each continuation after <paramref name="context"/> (the choices of one question).</summary>
    public TokenScore[] Score(string context, IReadOnlyList<string> continuations)
    {
        var encoded = continuations.Select(c => Encode(context, c)).ToArray();
        // All choices share one context encoding (the context is encoded alone, whatever follows it).
        int[] ctx = encoded[0].Context;
        return ScoreTokens(ctx, encoded.Select(e => e.Continuation).ToArray());
    }

    /// <summary>Scores token continuations after a token context.</summary>
    public TokenScore[] ScoreTokens(int[] context, int[][] continuations)
    {
        int n = continuations.Length, T = _model.ContextLength;
        int longest = 0;
        foreach (var c in continuations)
        {
            if (c.Length == 0) throw new ArgumentException("a continuation encodes to no tokens: nothing to score");
            if (c.Length > T) throw new ArgumentException($"a continuation of {c.Length} tokens is longer than the model's context ({T})");
            longest = Math.Max(longest, c.Length);
        }
        // The model reads context + continuation[:-1]: keep the last T - (longest - 1) context tokens.
        int keep = Math.Min(context.Length, T - (longest - 1));
        if (keep < context.Length) { Truncated++; context = context[^keep..]; }
        var scores = new TokenScore[n];
        if (keep == 0)
        {
            // Continuations fill the whole context: score each alone (its first token has no context to be predicted from).
            for (int i = 0; i < n; i++) scores[i] = FromScratch([], continuations[i]);
            return scores;
        }
        if (!ShareContext || n == 1)
        {
            for (int i = 0; i < n; i++) scores[i] = FromScratch(context, continuations[i]);
            return scores;
        }
        EnsureCaches(n + 1);
        var shared = _caches[n];
        shared.Clear();
        _model.Forward(shared, context, _row);
        var sum = new double[n];
        var greedy = new bool[n];
        for (int i = 0; i < n; i++)
        {
            _caches[i].CopyFrom(shared);
            (sum[i], greedy[i]) = Add(_row, continuations[i][0], 0, true);
        }
        if (_model is GptModel gpt && longest > 1)
        {
            // All choices in one forward per chunk: each fork gets the same number of new tokens, shorter choices
            // padded with their last token (padding sits after every scored position, so causal attention keeps it
            // from changing them).
            int V = _model.VocabSize;
            var forks = _caches.GetRange(0, n).ToArray();
            for (int k0 = 0; k0 < longest - 1; k0 += Chunk)
            {
                int per = Math.Min(Chunk, longest - 1 - k0);
                var batchTokens = new int[n * per];
                for (int i = 0; i < n; i++)
                    for (int r = 0; r < per; r++)
                    {
                        var cont = continuations[i];
                        batchTokens[i * per + r] = cont[Math.Min(k0 + r, cont.Length - 1)];
                    }
                EnsureLogits(n * per);
                gpt.ForwardMany(forks, batchTokens, per, _logits);
                for (int i = 0; i < n; i++)
                    for (int r = 0; r < per; r++)
                    {
                        int target = k0 + r + 1;
                        if (target < continuations[i].Length)
                            (sum[i], greedy[i]) = Add(_logits.AsSpan((i * per + r) * V, V), continuations[i][target], sum[i], greedy[i]);
                    }
            }
            for (int i = 0; i < n; i++) scores[i] = new TokenScore(sum[i], greedy[i], continuations[i].Length);
            return scores;
        }
        if (longest > BatchedSteps + 1)
        {
            // Long choices: each runs as one multi-token forward on its fork of the context (measured faster than
            // stepping all choices one token at a time: a step reads every weight for only n rows).
            for (int i = 0; i < n; i++)
            {
                var cont = continuations[i];
                int V = _model.VocabSize;
                for (int k0 = 0; k0 < cont.Length - 1; k0 += Chunk)
                {
                    int rows = Math.Min(Chunk, cont.Length - 1 - k0);
                    EnsureLogits(rows);
                    _model.Forward(_caches[i], cont.AsSpan(k0, rows), _logits, allPositions: true);
                    for (int r = 0; r < rows; r++) (sum[i], greedy[i]) = Add(_logits.AsSpan(r * V, V), cont[k0 + r + 1], sum[i], greedy[i]);
                }
            }
            for (int i = 0; i < n; i++) scores[i] = new TokenScore(sum[i], greedy[i], continuations[i].Length);
            return scores;
        }
        // Short choices: step j feeds token j of every choice still longer than j + 1 (one batched row each) and scores token j + 1.
        var active = new List<int>(n);
        var caches = new KvCache[n];
        var tokens = new int[n];
        for (int j = 0; j < longest - 1; j++)
        {
            active.Clear();
            for (int i = 0; i < n; i++) if (continuations[i].Length > j + 1) active.Add(i);
            for (int a = 0; a < active.Count; a++) { caches[a] = _caches[active[a]]; tokens[a] = continuations[active[a]][j]; }
            EnsureLogits(active.Count);
            _model.ForwardBatch(caches.AsSpan(0, active.Count), tokens.AsSpan(0, active.Count), _logits);
            for (int a = 0; a < active.Count; a++)
            {
                int i = active[a];
                (sum[i], greedy[i]) = Add(_logits.AsSpan(a * _model.VocabSize, _model.VocabSize), continuations[i][j + 1], sum[i], greedy[i]);
            }
        }
        for (int i = 0; i < n; i++) scores[i] = new TokenScore(sum[i], greedy[i], continuations[i].Length);
        return scores;
    }

    /// <summary>One continuation with nothing shared: the context, then the continuation in chunks scored at every position.</summary>
    private TokenScore FromScratch(int[] context, int[] continuation)
    {
        EnsureCaches(1);
        var cache = _caches[0];
        cache.Clear();
        double sum = 0;
        bool greedy = true;
        int V = _model.VocabSize;
        int start = 0;
        if (context.Length > 0)
        {
            _model.Forward(cache, context, _row);
            (sum, greedy) = Add(_row, continuation[0], sum, greedy);
            start = 1;
        }
        // Feeding continuation[k] predicts continuation[k + 1]; with no context, the first token is fed unscored.
        int last = continuation.Length - 1;
        for (int k0 = 0; k0 < last; k0 += Chunk)
        {
            int rows = Math.Min(Chunk, last - k0);
            EnsureLogits(rows);
            _model.Forward(cache, continuation.AsSpan(k0, rows), _logits, allPositions: true);
            for (int r = 0; r < rows; r++)
            {
                int target = k0 + r + 1;
                if (target < start) continue;
                (sum, greedy) = Add(_logits.AsSpan(r * V, V), continuation[target], sum, greedy);
            }
        }
        return new TokenScore(sum, greedy, context.Length > 0 ? continuation.Length : continuation.Length - 1);
    }

    /// <summary>
    /// lm-eval's loglikelihood_rolling: the document's tokens in disjoint windows of the model's context
    /// (utils.get_rolling_token_windows with context_len 1): the first window reads the prefix token then the first
    /// T - 1 tokens and predicts the first T; each later window predicts the next T tokens (fewer at the end) reading
    /// the T tokens just before each prediction. Returns Σ log p over every token and the token count.
    /// </summary>
    public (double LogLikelihood, int Tokens) ScoreRolling(int[] tokens)
    {
        int T = _model.ContextLength, n = tokens.Length;
        double sum = 0;
        int predicted = 0;
        while (predicted < n)
        {
            int len = Math.Min(n - predicted, T), end = predicted + len;
            int[] input = predicted == 0 ? [PrefixToken, .. tokens[..(len - 1)]] : tokens[(end - T - 1)..(end - 1)];
            sum += ScoreTail(input, tokens.AsSpan(end - len, len));
            predicted = end;
        }
        return (sum, n);
    }

    // Runs input (≤ T tokens) and sums log p(targets) at its last targets.Length positions.
    private double ScoreTail(int[] input, ReadOnlySpan<int> targets)
    {
        EnsureCaches(1);
        var cache = _caches[0];
        cache.Clear();
        int V = _model.VocabSize, skip = input.Length - targets.Length;
        if (skip > 0) _model.Forward(cache, input.AsSpan(0, skip), _row);
        double sum = 0;
        bool greedy = true;
        for (int k0 = skip; k0 < input.Length; k0 += Chunk)
        {
            int rows = Math.Min(Chunk, input.Length - k0);
            EnsureLogits(rows);
            _model.Forward(cache, input.AsSpan(k0, rows), _logits, allPositions: true);
            for (int r = 0; r < rows; r++) (sum, greedy) = Add(_logits.AsSpan(r * V, V), targets[k0 + r - skip], sum, greedy);
        }
        return sum;
    }

    /// <summary>
    /// Greedy generation after <paramref name="context"/> until one of <paramref name="until"/> appears (the text before
    /// it is returned), <paramref name="maxTokens"/> tokens, or the model's context is full (lm-eval's generate_until
    /// with do_sample false). The context is left-truncated to leave room for the generation.
    /// </summary>
    public string Generate(string context, IReadOnlyList<string> until, int maxTokens = 256)
    {
        int T = _model.ContextLength;
        int[] ctx = context.Length == 0 ? [PrefixToken] : _tokenizer.Encode(context);
        int budget = Math.Min(maxTokens, T / 2);
        if (ctx.Length > T - budget) { Truncated++; ctx = ctx[^(T - budget)..]; }
        EnsureCaches(1);
        var cache = _caches[0];
        cache.Clear();
        _model.Forward(cache, ctx, _row);
        var outIds = new List<int>();
        string text = "";
        for (int t = 0; t < budget; t++)
        {
            int next = 0;
            for (int v = 1; v < _row.Length; v++) if (_row[v] > _row[next]) next = v;
            outIds.Add(next);
            text = _tokenizer.Decode(outIds.ToArray());
            foreach (string stop in until)
            {
                int at = text.IndexOf(stop, StringComparison.Ordinal);
                if (at >= 0) return text[..at];
            }
            if (cache.Length >= T) break;
            _model.Forward(cache, [next], _row);
        }
        return text;
    }

    /// <summary>Adds log softmax(row)[target] to <paramref name="sum"/>; greedy stays true while target is the argmax.</summary>
    internal static (double Sum, bool Greedy) Add(ReadOnlySpan<float> row, int target, double sum, bool greedy)
    {
        float max = float.NegativeInfinity;
        int arg = 0;
        for (int v = 0; v < row.Length; v++) if (row[v] > max) { max = row[v]; arg = v; }
        double z = 0;
        for (int v = 0; v < row.Length; v++) z += Math.Exp(row[v] - max);
        return (sum + (row[target] - max) - Math.Log(z), greedy && arg == target);
    }

    private void EnsureCaches(int n)
    {
        while (_caches.Count < n) _caches.Add(_model.CreateCache());
    }

    private void EnsureLogits(int rows)
    {
        if (_logits.Length < rows * _model.VocabSize) _logits = new float[Math.Max(rows, Chunk) * _model.VocabSize];
    }
}
