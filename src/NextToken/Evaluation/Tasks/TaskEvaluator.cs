// TaskEvaluator: runs a task's requests on a model and aggregates lm-eval's metrics.
using System.Diagnostics;
using System.Text;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Evaluation.Tasks;

/// <summary>Zero- and few-shot evaluation with lm-evaluation-harness's request types and metrics (docs/evaluation.md).</summary>
public static class TaskEvaluator
{
    /// <summary>Evaluates <paramref name="task"/>; <paramref name="progress"/> gets (done, total) after each document.</summary>
    public static TaskResult Run(ICausalLm model, ITokenizer tokenizer, EvalTask task, TaskEvalOptions options, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.Limit);
        var docs = options.Limit > 0 ? task.Test.Take(options.Limit).ToList() : task.Test.ToList();
        if (docs.Count == 0) throw new ArgumentException($"task '{task.Name}' has no documents to score (every line has \"split\": \"train\"?)");
        if (options.Shots > 0 && docs.Any(d => d.Kind == TaskKind.Rolling))
            throw new ArgumentException($"{docs.First(d => d.Kind == TaskKind.Rolling).Where}: rolling log-likelihood ({{\"text\"}}) documents are scored zero-shot: ask for 0 shots", "shots");
        var sampler = new FewShotSampler(task, options.Shots, options.Seed);
        var scorer = new LoglikelihoodScorer(model, tokenizer) { ShareContext = options.ShareContext };
        var clock = Stopwatch.StartNew();
        int mc = 0, mcAcc = 0, mcNorm = 0, mcMi = 0, ll = 0, llGreedy = 0, gen = 0, genMatch = 0, rolling = 0;
        double llSum = 0, rollLl = 0;
        long rollTokens = 0, rollBytes = 0, rollWords = 0;
        var correct = new List<bool>(docs.Count);
        for (int d = 0; d < docs.Count; d++)
        {
            var doc = docs[d];
            switch (doc.Kind)
            {
                case TaskKind.MultipleChoice:
                {
                    string prompt = sampler.Prompt(doc);
                    var conts = doc.Choices.Select(c => doc.TargetDelimiter + c).ToArray();
                    var s = scorer.Score(prompt, conts);
                    var (best, bestNorm) = Predict(s.Select(x => x.LogLikelihood).ToArray(), doc.Choices);
                    mc++;
                    if (best == doc.Gold) mcAcc++;
                    if (bestNorm == doc.Gold) mcNorm++;
                    if (options.MutualInfo)
                    {
                        var u = scorer.Score("", conts);
                        if (ArgMax(s.Select((x, i) => x.LogLikelihood - u[i].LogLikelihood)) == doc.Gold) mcMi++;
                    }
                    correct.Add(best == doc.Gold);
                    break;
                }
                case TaskKind.Loglikelihood:
                {
                    var s = scorer.Score(sampler.Prompt(doc), [doc.Continuation])[0];
                    ll++;
                    llSum += s.LogLikelihood;
                    if (s.IsGreedy) llGreedy++;
                    correct.Add(s.IsGreedy);
                    break;
                }
                case TaskKind.GenerateUntil:
                {
                    string output = scorer.Generate(sampler.Prompt(doc), doc.Until, options.MaxGenTokens);
                    bool match = string.Equals(output.Trim(), doc.Answer.Trim(), StringComparison.Ordinal);
                    gen++;
                    if (match) genMatch++;
                    correct.Add(match);
                    break;
                }
                default:
                {
                    var (sum, tokens) = scorer.ScoreRolling(tokenizer.Encode(doc.Text));
                    rolling++;
                    rollLl += sum;
                    rollTokens += tokens;
                    rollBytes += Encoding.UTF8.GetByteCount(doc.Text);
                    rollWords += CountWords(doc.Text);
                    correct.Add(true);
                    break;
                }
            }
            progress?.Invoke(d + 1, docs.Count);
        }
        double? Share(int k, int n) => n > 0 ? (double)k / n : null;
        return new TaskResult
        {
            Task = task.Name, Examples = docs.Count, NumFewShot = options.Shots,
            Acc = mc > 0 ? Share(mcAcc, mc) : Share(llGreedy, ll),
            AccNorm = Share(mcNorm, mc),
            AccMutualInfo = options.MutualInfo ? Share(mcMi, mc) : null,
            ExactMatch = Share(genMatch, gen),
            Perplexity = rolling > 0 ? Math.Exp(-rollLl / rollTokens) : ll > 0 ? Math.Exp(-llSum / ll) : null,
            BitsPerByte = rolling > 0 ? -rollLl / rollBytes / Math.Log(2) : null,
            BytePerplexity = rolling > 0 ? Math.Exp(-rollLl / rollBytes) : null,
            WordPerplexity = rolling > 0 ? Math.Exp(-rollLl / Math.Max(1, rollWords)) : null,
            Truncated = scorer.Truncated, Seconds = clock.Elapsed.TotalSeconds, Correct = correct,
        };
    }

    /// <summary>
    /// Evaluates several tasks (builtin:icl's held-out label tasks) and pools them: accuracies are over all their
    /// documents together, perplexities are kept only for a single task.
    /// </summary>
    public static TaskResult RunAll(ICausalLm model, ITokenizer tokenizer, IReadOnlyList<EvalTask> tasks, TaskEvalOptions options, Action<int, int>? progress = null)
    {
        if (tasks.Count == 1) return Run(model, tokenizer, tasks[0], options, progress);
        int total = tasks.Sum(t => options.Limit > 0 ? Math.Min(options.Limit, t.Test.Count) : t.Test.Count), done = 0;
        var results = new List<TaskResult>();
        for (int i = 0; i < tasks.Count; i++)
        {
            int before = done;
            // Each task its own sampler stream (seed + index): the same seed for all would show every task the same picks.
            results.Add(Run(model, tokenizer, tasks[i], options with { Seed = options.Seed + (ulong)i }, (d, _) => progress?.Invoke(before + d, total)));
            done += results[^1].Examples;
        }
        double? Pool(Func<TaskResult, double?> f) =>
            results.All(r => f(r) is not null) ? results.Sum(r => f(r)!.Value * r.Examples) / results.Sum(r => r.Examples) : null;
        string name = tasks[0].Name.Contains('_') ? tasks[0].Name[..tasks[0].Name.IndexOf('_')] : tasks[0].Name;
        return new TaskResult
        {
            Task = name, Examples = done, NumFewShot = options.Shots,
            Acc = Pool(r => r.Acc), AccNorm = Pool(r => r.AccNorm), AccMutualInfo = Pool(r => r.AccMutualInfo), ExactMatch = Pool(r => r.ExactMatch),
            Truncated = results.Sum(r => r.Truncated), Seconds = results.Sum(r => r.Seconds), Correct = results.SelectMany(r => r.Correct).ToList(),
        };
    }

    /// <summary>Words as lm-eval counts them for word perplexity: <c>len(re.split(r"\s+", doc))</c>.</summary>
    public static int CountWords(string text) => System.Text.RegularExpressions.Regex.Split(text, @"\s+").Length;

    /// <summary>
    /// lm-eval's multiple-choice predictions: acc takes the argmax of the summed log-likelihoods, acc_norm of each
    /// divided by the choice's length in characters (<c>len(choice)</c>, without the target delimiter).
    /// </summary>
    public static (int Acc, int AccNorm) Predict(IReadOnlyList<double> logLikelihoods, IReadOnlyList<string> choices) =>
        (ArgMax(logLikelihoods), ArgMax(logLikelihoods.Select((x, i) => x / Math.Max(1, choices[i].Length))));

    // First index of the maximum, as numpy's argmax.
    private static int ArgMax(IEnumerable<double> values)
    {
        int best = -1, i = 0;
        double max = double.NegativeInfinity;
        foreach (double v in values) { if (best < 0 || v > max) { max = v; best = i; } i++; }
        return best;
    }
}
