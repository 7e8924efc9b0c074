// Generator.Speculative: speculative decoding with a draft model, and prompt-lookup drafting, by exact accept/reject.
using NextToken.Model;
using NextToken.Tensors;

namespace NextToken.Generation;

public sealed partial class Generator
{
    private readonly record struct SpeculativeStats(long Drafted, long Accepted, long Forwards);

    /// <summary>
    /// Speculative decoding (Leviathan et al. 2023, Algorithm 1; Chen et al. 2023). Each round the draft proposes k
    /// tokens d_i from its processed distributions q_i; the target scores all of them in one forward (logits at every
    /// position) giving p_i. Sampling: d_i is accepted with probability min(1, p_i(d_i)/q_i(d_i)); the first rejection
    /// is replaced by a draw from norm(max(0, p_i − q_i)); if all are accepted a bonus token comes from p_{k+1}. The
    /// output is then distributed exactly as sampling the target alone. Greedy: d_i is accepted iff it is the target's
    /// argmax, else the argmax replaces it, so the output equals the target's greedy output. Both models run the same
    /// processors on the same text, so p and q are the processed distributions. Prompt lookup
    /// (<paramref name="draft"/> null) drafts the tokens that followed the latest earlier occurrence of the last n
    /// tokens (n = max n-gram … 1); q is then a point mass, so acceptance is with probability p_i(d_i) and the
    /// residual is p_i without d_i. Caches roll back with <see cref="KvCache.Truncate"/> after a rejection.
    /// </summary>
    private SpeculativeStats Speculative(int[] prompt, GenerationOptions o, ICausalLm? draft, SequenceSink sink, ref Rng rng, CancellationToken ct)
    {
        int V = _model.VocabSize, maxK = o.AdaptiveDraftTokens ? 4 * o.DraftTokens : o.DraftTokens, K = o.DraftTokens, promptLength = prompt.Length;
        var pipeline = new LogitsPipeline(V, o, EndOfTextId);
        var target = _model.CreateCache();
        var draftCache = draft?.CreateCache();
        var seq = new int[prompt.Length + o.MaxNewTokens + maxK + 2];
        prompt.CopyTo(seq, 0);
        int len = prompt.Length, generated = 0;
        var targetLogits = new float[(_model.ContextLength + 1) * V];
        var draftLogits = new float[V];
        var q = new float[maxK * V];          // processed draft distributions, one row per drafted token
        var p = new float[V];
        var processed = new float[V];
        var one = new int[1];
        long drafted = 0, accepted = 0, forwards = 0;
        bool greedy = o.IsGreedy;
        if (o.MaxNewTokens == 0) { sink.Finish(FinishReason.Length); return default; }

        while (true)
        {
            if (ct.IsCancellationRequested) { sink.Finish(FinishReason.Cancelled); break; }
            if (len > target.Capacity) { sink.Finish(FinishReason.Length); break; }
            int remaining = o.MaxNewTokens - generated;
            int k = Math.Min(K, Math.Min(remaining - 1, target.Capacity - len));
            if (draft is not null) k = Math.Min(k, draftCache!.Capacity - len + 1);
            k = Math.Max(k, 0);

            // Draft k tokens into seq[len .. len+k).
            if (k > 0 && draft is not null)
            {
                for (int i = 0; i < k; i++)
                {
                    var feed = seq.AsSpan(draftCache!.Length, len + i - draftCache.Length);
                    draft.Forward(draftCache, feed, draftLogits);
                    pipeline.Apply(draftLogits, seq.AsSpan(0, len + i), promptLength);
                    var qi = q.AsSpan(i * V, V);
                    if (greedy) seq[len + i] = Sampling.ArgMax(draftLogits);
                    else
                    {
                        Sampling.Softmax(draftLogits, qi);
                        seq[len + i] = Sampling.SampleProbabilities(qi, ref rng);
                    }
                }
            }
            else if (k > 0) k = PromptLookup(seq.AsSpan(0, len), o.PromptLookupMaxNgram, seq.AsSpan(len, k));
            drafted += k;
            int proposed = k;

            // Target: every pending token plus the drafts in one forward, logits at every position.
            int f = len - target.Length;
            _model.Forward(target, seq.AsSpan(target.Length, f + k), targetLogits, allPositions: true);
            forwards++;
            bool finished = false;
            int i2 = 0;
            for (; i2 <= k && !finished; i2++)
            {
                var rawRow = targetLogits.AsSpan((f - 1 + i2) * V, V);
                rawRow.CopyTo(processed);
                pipeline.Apply(processed, seq.AsSpan(0, len), promptLength);
                int token;
                if (i2 == k)
                {
                    token = greedy ? Sampling.ArgMax(processed) : Sampling.Sample(processed, ref rng);
                }
                else
                {
                    int d = seq[len];
                    if (greedy)
                    {
                        token = Sampling.ArgMax(processed);
                        if (token == d) accepted++;
                        else k = i2; // rejected: stop after this token
                    }
                    else
                    {
                        Sampling.Softmax(processed, p);
                        float qd = draft is null ? 1f : q[i2 * V + d];
                        if (rng.NextDouble() * qd < p[d]) { token = d; accepted++; }
                        else
                        {
                            // Residual distribution norm(max(0, p − q)).
                            if (draft is null) p[d] = 0;
                            else for (int t = 0; t < V; t++) p[t] = Math.Max(0f, p[t] - q[i2 * V + t]);
                            token = Sampling.SampleProbabilities(p, ref rng);
                            k = i2;
                        }
                    }
                }
                seq[len++] = token;
                generated++;
                if (!sink.Add(token, rawRow)) finished = true;
            }
            if (finished) break;
            if (o.AdaptiveDraftTokens && proposed > 0) K = k == proposed ? Math.Min(K + 2, maxK) : Math.Max(1, K - 1);
            // Roll back to the accepted text: every cache keeps all but the last token (which is fed next round).
            target.Truncate(Math.Min(target.Length, len - 1));
            if (draftCache is not null) draftCache.Truncate(Math.Min(draftCache.Length, len - 1));
        }
        return new SpeculativeStats(drafted, accepted, forwards);
    }

    // Copies the tokens that followed the latest earlier match of the last n tokens (n = maxNgram … 1) into draft.
    private static int PromptLookup(ReadOnlySpan<int> seq, int maxNgram, Span<int> draft)
    {
        for (int n = Math.Min(maxNgram, seq.Length - 1); n >= 1; n--)
        {
            var tail = seq[^n..];
            for (int j = seq.Length - n - 1; j >= 0; j--)
            {
                if (!seq.Slice(j, n).SequenceEqual(tail)) continue;
                int count = Math.Min(draft.Length, seq.Length - (j + n));
                seq.Slice(j + n, count).CopyTo(draft);
                return count;
            }
        }
        return 0;
    }
}
