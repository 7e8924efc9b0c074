// Generator.Contrastive: contrastive search (Su et al. 2022) — confidence minus a degeneration penalty over hidden states.
using System.Numerics.Tensors;

namespace NextToken.Generation;

public sealed partial class Generator
{
    /// <summary>
    /// Contrastive search, eq. 5 of Su et al. 2022: among the k most likely tokens v (after the processors) pick
    /// argmax (1−α)·p(v | x) − α·max_j cos(h_v, h_j), where h_v is the final hidden state the model produces after v
    /// and h_j those of every earlier position. The prompt is run one token at a time so every position's hidden
    /// state is known; each candidate is run and rolled back (<see cref="Model.KvCache.Truncate"/>), and the
    /// winner is run again to keep its keys and values: k + 1 forwards per token. When feeding the winner would leave
    /// no room for the next step's candidates, the context slides instead: the last <see cref="ContextShiftKeep"/>
    /// tokens run again one at a time into the cleared cache, as a fresh run's prompt would. Returns the forward count.
    /// </summary>
    private long Contrastive(int[] prompt, GenerationOptions o, SequenceSink sink, CancellationToken ct)
    {
        int V = _model.VocabSize, C = _model.HiddenSize, k = Math.Min(o.ContrastiveTopK, V), ctx = _model.ContextLength;
        float alpha = o.ContrastiveAlpha;
        var pipeline = new LogitsPipeline(V, o, EndOfTextId);
        var cache = _model.CreateCache();
        var hidden = new float[(ctx + 1) * C];
        var raw = new float[V];
        var probs = new float[V];
        var processed = new float[V];
        var candLogits = new float[V];
        var candHidden = new float[C];
        var ids = new int[k];
        var values = new float[k];
        var one = new int[1];
        var seq = new int[prompt.Length + o.MaxNewTokens + 1];
        prompt.CopyTo(seq, 0);
        int len = prompt.Length;
        long forwards = 0;
        if (o.MaxNewTokens == 0) { sink.Finish(FinishReason.Length); return 0; }
        for (int i = 0; i < prompt.Length; i++)
        {
            one[0] = prompt[i];
            _model.Forward(cache, one, raw, lastHidden: hidden.AsSpan(i * C, C));
            forwards++;
        }
        while (true)
        {
            if (ct.IsCancellationRequested) { sink.Finish(FinishReason.Cancelled); break; }
            raw.CopyTo(processed);
            pipeline.Apply(processed, seq.AsSpan(0, len), prompt.Length);
            Sampling.Softmax(processed, probs);
            int n = Sampling.TopN(processed, ids, values);
            int best = ids[0];
            if (cache.Length < ctx && alpha > 0)
            {
                double bestScore = double.NegativeInfinity;
                int history = cache.Length;
                for (int c = 0; c < n; c++)
                {
                    if (values[c] == float.NegativeInfinity) break;
                    one[0] = ids[c];
                    _model.Forward(cache, one, candLogits, lastHidden: candHidden);
                    forwards++;
                    cache.Truncate(history);
                    float maxSim = float.NegativeInfinity;
                    for (int j = 0; j < history; j++) maxSim = Math.Max(maxSim, TensorPrimitives.CosineSimilarity(candHidden, hidden.AsSpan(j * C, C)));
                    double score = (1 - alpha) * probs[ids[c]] - alpha * maxSim;
                    if (score > bestScore) { bestScore = score; best = ids[c]; }
                }
            }
            seq[len++] = best;
            if (!sink.Add(best, raw)) break;
            if (cache.Length + 1 >= ctx)
            {
                int keep = Math.Min(len, ContextShiftKeep(ctx));
                cache.Clear();
                for (int i = 0; i < keep; i++)
                {
                    one[0] = seq[len - keep + i];
                    _model.Forward(cache, one, raw, lastHidden: hidden.AsSpan(i * C, C));
                    forwards++;
                }
                continue;
            }
            one[0] = best;
            _model.Forward(cache, one, raw, lastHidden: hidden.AsSpan((cache.Length) * C, C));
            forwards++;
        }
        return forwards;
    }
}
