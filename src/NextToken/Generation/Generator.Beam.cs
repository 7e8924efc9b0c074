// Generator.Beam: beam search with length penalty, early stopping and n-best, and diverse (group) beam search.
using NextToken.Model;

namespace NextToken.Generation;

public sealed partial class Generator
{
    private sealed class Hypothesis(int[] tokens, float[] logprobs, double score, FinishReason reason, IReadOnlyList<TopLogprob>[] top)
    {
        public readonly IReadOnlyList<TopLogprob>[] Top = top;
        public readonly int[] Tokens = tokens;
        public readonly float[] Logprobs = logprobs;
        public readonly double Score = score;
        public readonly FinishReason Reason = reason;
    }

    /// <summary>
    /// Beam search (Hugging Face's semantics): each step every live beam of a group proposes its tokens scored by
    /// Σ log p (over logits after the editing processors: bias, bans, penalties); the group keeps the 2·width best
    /// candidates, moves those ending in end-of-text (ranked within the width) to its finished list scored
    /// Σ log p / length^<see cref="GenerationOptions.LengthPenalty"/>, and continues the best width others.
    /// With G groups (Vijayakumar et al. 2018) the groups take turns each step and group g's log-probabilities are
    /// lowered by λ × (how often each token was just chosen by groups 0..g−1) — the Hamming diversity term.
    /// A group is done when it holds width finished hypotheses and (without early stopping) no live beam can beat
    /// the worst of them; at max new tokens the live beams are finished too. Returns the n best, best first.
    /// </summary>
    private IReadOnlyList<GeneratedSequence> BeamSearch(int[] prompt, GenerationOptions o, CancellationToken ct)
    {
        int V = _model.VocabSize, W = o.Beams, G = o.BeamGroups, per = W / G, maxNew = o.MaxNewTokens;
        var pipeline = new LogitsPipeline(V, o, EndOfTextId);
        int? eot = o.StopAtEndOfText ? EndOfTextId : null;
        var finished = Enumerable.Range(0, G).Select(_ => new List<Hypothesis>()).ToArray();
        var groupDone = new bool[G];

        var caches = new KvCache[W];
        var spare = new Stack<KvCache>();
        var raw = new float[W * V];
        var edited = new float[V];
        var seq = new int[W][];
        var lps = new float[W][];
        var newSeq = new int[W][];
        var newLps = new float[W][];
        for (int b = 0; b < W; b++) { seq[b] = new int[prompt.Length + maxNew]; newSeq[b] = new int[prompt.Length + maxNew]; lps[b] = new float[maxNew]; newLps[b] = new float[maxNew]; }
        var scores = new double[W];
        var newScores = new double[W];
        var parent = new int[W];
        var token = new int[W];
        var live = new bool[W];
        var chosenThisStep = new int[V];
        var candToken = new int[2 * per];
        var candBeam = new int[2 * per];
        var candScore = new double[2 * per];
        var candLogprob = new float[2 * per];
        // Top alternatives per generated position (only filled when asked for), forked with the beams.
        var alts = new IReadOnlyList<TopLogprob>[W][];
        var newAlts = new IReadOnlyList<TopLogprob>[W][];
        for (int b = 0; b < W; b++) { alts[b] = new IReadOnlyList<TopLogprob>[maxNew]; newAlts[b] = new IReadOnlyList<TopLogprob>[maxNew]; }
        var beamTop = new IReadOnlyList<TopLogprob>[W];
        var topIds = new int[o.TopLogprobs];
        var topValues = new float[o.TopLogprobs];
        var cancelled = false;
        var nextLive = new bool[W];
        var taken = new bool[W];
        var newCaches = new KvCache?[W];
        var act = new KvCache[W];
        var toksNow = new int[W];
        var slots = new int[W];

        // Step 0: one prefill; the first beam of each group starts, the others are dead until then (as Hugging Face).
        var root = _model.CreateCache();
        _model.Forward(root, prompt, raw.AsSpan(0, V));
        for (int b = 0; b < W; b++)
        {
            prompt.CopyTo(seq[b], 0);
            if (b > 0) raw.AsSpan(0, V).CopyTo(raw.AsSpan(b * V, V));
            live[b] = b % per == 0;
            scores[b] = 0;
            caches[b] = b == 0 ? root : _model.CreateCache();
            if (b > 0) caches[b].CopyFrom(root);
        }
        int length = 0; // generated tokens so far on every live beam

        while (length < maxNew)
        {
            if (ct.IsCancellationRequested) { cancelled = true; break; }
            Array.Clear(chosenThisStep);
            Array.Clear(nextLive);
            for (int g = 0; g < G; g++)
            {
                if (groupDone[g]) continue;
                int nc = 0;
                for (int b = g * per; b < (g + 1) * per; b++)
                {
                    if (!live[b]) continue;
                    raw.AsSpan(b * V, V).CopyTo(edited);
                    pipeline.Apply(edited, seq[b].AsSpan(0, prompt.Length + length), prompt.Length, editsOnly: true);
                    double lse = Sampling.LogSumExp(edited), rawLse = Sampling.LogSumExp(raw.AsSpan(b * V, V));
                    beamTop[b] = [];
                    if (topIds.Length > 0)
                    {
                        int tn = Sampling.TopN(raw.AsSpan(b * V, V), topIds, topValues);
                        var list = new TopLogprob[tn];
                        for (int i = 0; i < tn; i++) list[i] = new TopLogprob(topIds[i], (float)(topValues[i] - rawLse));
                        beamTop[b] = list;
                    }
                    for (int t = 0; t < V; t++)
                    {
                        if (edited[t] == float.NegativeInfinity) continue;
                        double s = scores[b] + edited[t] - lse - o.DiversityPenalty * chosenThisStep[t];
                        if (nc == 2 * per && s <= candScore[nc - 1]) continue;
                        int j = nc < 2 * per ? nc++ : nc - 1;
                        while (j > 0 && candScore[j - 1] < s) { candScore[j] = candScore[j - 1]; candToken[j] = candToken[j - 1]; candBeam[j] = candBeam[j - 1]; candLogprob[j] = candLogprob[j - 1]; j--; }
                        candScore[j] = s; candToken[j] = t; candBeam[j] = b; candLogprob[j] = (float)(raw[b * V + t] - rawLse);
                    }
                }
                // Split candidates: end-of-text (within the width) → finished; the best `per` others continue.
                int filled = 0;
                for (int c = 0; c < nc && filled < per; c++)
                {
                    int b = candBeam[c], t = candToken[c];
                    if (t == eot)
                    {
                        if (c >= per) continue;
                        var toks = seq[b].AsSpan(prompt.Length, length).ToArray().Append(t).ToArray();
                        var lp = lps[b].AsSpan(0, length).ToArray().Append(candLogprob[c]).ToArray();
                        var top = alts[b].AsSpan(0, length).ToArray().Append(beamTop[b]).ToArray();
                        AddHypothesis(finished[g], new Hypothesis(toks, lp, candScore[c] / Math.Pow(length + 1, o.LengthPenalty), FinishReason.EndOfText, top), per);
                        continue;
                    }
                    int slot = g * per + filled++;
                    parent[slot] = b; token[slot] = t; newScores[slot] = candScore[c];
                    seq[b].AsSpan(0, prompt.Length + length).CopyTo(newSeq[slot]);
                    newSeq[slot][prompt.Length + length] = t;
                    lps[b].AsSpan(0, length).CopyTo(newLps[slot]);
                    newLps[slot][length] = candLogprob[c];
                    alts[b].AsSpan(0, length).CopyTo(newAlts[slot]);
                    newAlts[slot][length] = beamTop[b];
                    nextLive[slot] = true;
                    chosenThisStep[t]++;
                }
                // Done? Enough finished, and (unless early stopping) the best live beam cannot beat the worst finished.
                if (finished[g].Count >= per)
                {
                    double bestLive = double.NegativeInfinity;
                    for (int s = g * per; s < g * per + filled; s++) bestLive = Math.Max(bestLive, newScores[s]);
                    double worst = finished[g].Min(h => h.Score);
                    if (o.EarlyStopping || filled == 0 || bestLive / Math.Pow(length + 1, o.LengthPenalty) <= worst) groupDone[g] = true;
                }
                if (filled == 0) groupDone[g] = true;
                if (groupDone[g]) for (int s = g * per; s < (g + 1) * per; s++) nextLive[s] = false;
            }

            // Fork caches: the first child of a beam takes its parent's cache, the others copy it.
            Array.Clear(taken);
            Array.Clear(newCaches);
            for (int s = 0; s < W; s++)
                if (nextLive[s] && !taken[parent[s]]) { taken[parent[s]] = true; newCaches[s] = caches[parent[s]]; }
            for (int b = 0; b < W; b++) if (!taken[b] && caches[b] is not null) spare.Push(caches[b]);
            for (int s = 0; s < W; s++)
                if (nextLive[s] && newCaches[s] is null)
                {
                    var c = spare.Count > 0 ? spare.Pop() : _model.CreateCache();
                    c.CopyFrom(caches[parent[s]]);
                    newCaches[s] = c;
                }
            for (int s = 0; s < W; s++)
            {
                caches[s] = newCaches[s] ?? (spare.Count > 0 ? spare.Pop() : _model.CreateCache());
                (seq[s], newSeq[s]) = (newSeq[s], seq[s]);
                (lps[s], newLps[s]) = (newLps[s], lps[s]);
                (alts[s], newAlts[s]) = (newAlts[s], alts[s]);
                scores[s] = newScores[s];
                live[s] = nextLive[s];
            }
            length++;
            if (groupDone.All(d => d) || !live.Any(l => l) || length >= maxNew) break;
            if (prompt.Length + length > _model.ContextLength) break; // context full: the live beams end with 'length'
            int m = 0;
            for (int s = 0; s < W; s++) if (live[s]) { act[m] = caches[s]; toksNow[m] = token[s]; slots[m++] = s; }
            _model.ForwardBatch(act.AsSpan(0, m), toksNow.AsSpan(0, m), raw.AsSpan(0, m * V));
            for (int k = m - 1; k >= 0; k--) if (slots[k] != k) raw.AsSpan(k * V, V).CopyTo(raw.AsSpan(slots[k] * V, V));
        }
        // Live beams of unfinished groups become hypotheses (max new tokens, full context, cancellation).
        for (int g = 0; g < G; g++)
        {
            if (groupDone[g] && !cancelled) continue;
            for (int b = g * per; b < (g + 1) * per; b++)
                if (live[b])
                    AddHypothesis(finished[g], new Hypothesis(seq[b].AsSpan(prompt.Length, length).ToArray(), lps[b].AsSpan(0, length).ToArray(),
                                                               scores[b] / Math.Pow(Math.Max(length, 1), o.LengthPenalty), cancelled ? FinishReason.Cancelled : FinishReason.Length,
                                                               alts[b].AsSpan(0, length).ToArray()), per);
        }
        var best = finished.SelectMany(f => f).OrderByDescending(h => h.Score).Take(o.NumSequences).ToList();
        var output = new List<GeneratedSequence>(best.Count);
        foreach (var h in best)
        {
            var sink = NewSink(o, null);
            for (int i = 0; i < h.Tokens.Length; i++) if (!sink.Add(h.Tokens[i], h.Logprobs[i], h.Top[i] ?? [])) break;
            sink.Finish(h.Reason);
            output.Add(sink.Complete(h.Score));
        }
        if (output.Count == 0) output.Add(NewSink(o, null).Complete(0)); // max new tokens 0
        return output;
    }

    private static void AddHypothesis(List<Hypothesis> list, Hypothesis h, int keep)
    {
        list.Add(h);
        if (list.Count > keep) list.Remove(list.MinBy(x => x.Score)!);
    }
}
