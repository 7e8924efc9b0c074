// EmergenceMetrics: one task scored two ways — exact match (all answer tokens right under greedy decoding, a
// discontinuous metric) and the mean log-likelihood of the answer's tokens (continuous) — after Schaeffer et al. (2023).
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Scaling;

/// <summary>Scores of a model on prompt/answer problems by a discontinuous and a continuous metric.</summary>
public static class EmergenceMetrics
{
    /// <summary>
    /// Exact match of greedy completions (the answer's tokens, teacher-forced, each the argmax) and the mean over
    /// answer tokens of log p(token | prompt, previous answer tokens), over <paramref name="problems"/>.
    /// </summary>
    public static (double ExactMatch, double TokenLogLikelihood) Score(ICausalLm model, ITokenizer tokenizer, IReadOnlyList<(string Prompt, string Expected)> problems)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(problems);
        if (problems.Count == 0) throw new ArgumentException("there are no problems to score", nameof(problems));
        var logits = new float[model.VocabSize];
        int right = 0, tokens = 0;
        double logLik = 0;
        foreach (var (prompt, expected) in problems)
        {
            var cache = model.CreateCache();
            model.Forward(cache, tokenizer.Encode(prompt), logits);
            bool all = true;
            foreach (int id in tokenizer.Encode(expected))
            {
                // Greedy decoding emits exactly the answer iff every answer token is the argmax given the right prefix.
                float max = float.NegativeInfinity;
                int arg = 0;
                for (int v = 0; v < logits.Length; v++) if (logits[v] > max) { max = logits[v]; arg = v; }
                double sum = 0;
                for (int v = 0; v < logits.Length; v++) sum += Math.Exp(logits[v] - max);
                logLik += logits[id] - max - Math.Log(sum);
                tokens++;
                all &= arg == id;
                if (cache.Length < model.ContextLength) model.Forward(cache, [id], logits);
            }
            if (all) right++;
        }
        return ((double)right / problems.Count, logLik / Math.Max(1, tokens));
    }
}
