// TaskEvalOptions: how a task is evaluated (shots, seed, limit, which optional metrics).
namespace NextToken.Evaluation.Tasks;

/// <summary>Options of <see cref="TaskEvaluator.Run"/>.</summary>
public sealed record TaskEvalOptions
{
    /// <summary>Few-shot examples per prompt (lm-eval's --num_fewshot).</summary>
    public int Shots { get; init; }
    /// <summary>Seed of the few-shot sampler (lm-eval's default 1234).</summary>
    public ulong Seed { get; init; } = FewShotSampler.DefaultSeed;
    /// <summary>Score only the first N documents (0: all).</summary>
    public int Limit { get; init; }
    /// <summary>Also compute acc_mutual_info (one more request per choice: the choice after an empty context).</summary>
    public bool MutualInfo { get; init; }
    /// <summary>Run each question's shared context once (KV-cache prefix reuse) and batch its choices.</summary>
    public bool ShareContext { get; init; } = true;
    /// <summary>Most tokens a generate-until request may produce (lm-eval's max_gen_toks).</summary>
    public int MaxGenTokens { get; init; } = 256;
}
