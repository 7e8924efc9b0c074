// BuiltinTaskEvaluator: measures exactly what a model learned on the built-in datasets (grammar share, addition accuracy).
using NextToken.Data;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tokenization;

namespace NextToken.Evaluation;

/// <summary>Samples from a model trained on a built-in dataset and scores the samples exactly.</summary>
public static class BuiltinTaskEvaluator
{
    /// <summary>
    /// Samples <paramref name="count"/> lines at temperature 1 (each starting after a newline) and returns how many
    /// the grammar's recogniser accepts. Temperature 1 samples the model's own distribution, so the share measures the
    /// distribution it learned rather than its single most likely sentence.
    /// </summary>
    public static GrammarReport Grammar(ICausalLm model, ITokenizer tokenizer, int count, ulong seed, List<string>? samples = null)
    {
        var rng = new Rng(seed, 11);
        int newline = tokenizer.Encode("\n")[0];
        var lines = new List<string>(count);
        var logits = new float[model.VocabSize];
        var probs = new float[model.VocabSize];
        for (int i = 0; i < count; i++)
        {
            var cache = model.CreateCache();
            var ids = new List<int>();
            int token = newline;
            for (int t = 0; t < Math.Min(model.ContextLength - 1, GrammarCorpus.MaxSentenceLength + 8); t++)
            {
                model.Forward(cache, [token], logits);
                token = SampleSoftmax(logits, probs, ref rng);
                if (token == newline) break;
                ids.Add(token);
            }
            lines.Add(tokenizer.Decode(ids.ToArray()));
        }
        samples?.AddRange(lines);
        return GrammarCorpus.Evaluate(lines);
    }

    /// <summary>Exact-match accuracy of greedy completions on the held-out additions.</summary>
    public static double Addition(ICausalLm model, ITokenizer tokenizer, IEnumerable<(string Prompt, string Expected)> problems)
    {
        var logits = new float[model.VocabSize];
        return AdditionTask.ExactMatch(problems.Select(p => (p.Prompt, p.Expected)), prompt =>
        {
            var cache = model.CreateCache();
            int[] ids = tokenizer.Encode(prompt);
            model.Forward(cache, ids, logits);
            var outIds = new List<int>();
            int answerLength = AdditionTask.MaxDigits + 1;
            for (int t = 0; t < answerLength && cache.Length < model.ContextLength; t++)
            {
                int next = ArgMax(logits);
                outIds.Add(next);
                if (cache.Length < model.ContextLength) model.Forward(cache, [next], logits);
            }
            return tokenizer.Decode(outIds.ToArray());
        });
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    private static int SampleSoftmax(ReadOnlySpan<float> logits, Span<float> probs, ref Rng rng)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits) max = Math.Max(max, l);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) { probs[i] = MathF.Exp(logits[i] - max); sum += probs[i]; }
        double u = rng.NextDouble() * sum, acc = 0;
        for (int i = 0; i < logits.Length; i++) { acc += probs[i]; if (u < acc) return i; }
        return logits.Length - 1;
    }
}
