// TinyModels: small random GPTs with sharp distributions, and a scripted model, for the generation tests.
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Tests.Generation;

internal static class TinyModels
{
    /// <summary>A random GPT; init std 0.5 (not 0.02) so next-token distributions are far from uniform and argmaxes are clear.</summary>
    public static GptModel Gpt(ulong seed, int vocab = 6, int context = 8, int layers = 1, int embd = 8, float initStd = 0.5f) =>
        new(new GptConfig { VocabSize = vocab, ContextLength = context, Layers = layers, Heads = 2, EmbeddingSize = embd, InitStd = initStd }, seed);

    /// <summary>Exact log p(sequence[start..] | sequence[..start]) under <paramref name="model"/>, one forward per token.</summary>
    public static double LogProbability(ICausalLm model, IReadOnlyList<int> sequence, int start)
    {
        var cache = model.CreateCache();
        var logits = new float[model.VocabSize];
        double total = 0;
        model.Forward(cache, sequence.Take(start).ToArray(), logits);
        for (int i = start; i < sequence.Count; i++)
        {
            total += logits[sequence[i]] - NextToken.Generation.Sampling.LogSumExp(logits);
            if (i + 1 < sequence.Count) model.Forward(cache, [sequence[i]], logits);
        }
        return total;
    }

    /// <summary>The model's next-token distribution after <paramref name="context"/>, in double.</summary>
    public static double[] NextDistribution(ICausalLm model, int[] context)
    {
        var logits = new float[model.VocabSize];
        model.Forward(model.CreateCache(), context, logits);
        return ChiSquare.Softmax(logits.Select(l => (double)l).ToArray());
    }

    /// <summary>A character tokenizer over a few letters and a newline.</summary>
    public static CharTokenizer Chars(string symbols = "\nabcde") => new(symbols.Select(c => c.ToString()));
}

/// <summary>
/// A model that always predicts <c>script[position + 1]</c> with logit 10 (0 elsewhere), so tests control exactly
/// which tokens a greedy run produces (stop strings, emoji split over byte tokens, cancellation).
/// </summary>
internal sealed class ScriptedLm(int vocab, int[] script, int context = 256) : ICausalLm
{
    public int VocabSize => vocab;
    public int ContextLength => context;
    public int HiddenSize => 1;
    public KvCache CreateCache() => new(1, context, 1);

    public void Forward(KvCache cache, ReadOnlySpan<int> tokens, Span<float> logits, bool allPositions = false, Span<float> lastHidden = default)
    {
        int start = cache.Length;
        if (start + tokens.Length > context) throw new InvalidOperationException("context full");
        cache.Length += tokens.Length;
        int rows = allPositions ? tokens.Length : 1;
        for (int r = 0; r < rows; r++)
        {
            int pos = allPositions ? start + r : start + tokens.Length - 1;
            var row = logits.Slice(r * vocab, vocab);
            row.Clear();
            row[pos + 1 < script.Length ? script[pos + 1] : 0] = 10f;
        }
        lastHidden.Clear();
    }

    public void ForwardBatch(ReadOnlySpan<KvCache> caches, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        for (int i = 0; i < caches.Length; i++) Forward(caches[i], tokens.Slice(i, 1), logits.Slice(i * vocab, vocab));
    }
}
