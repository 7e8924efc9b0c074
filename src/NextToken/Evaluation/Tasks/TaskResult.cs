// TaskResult: lm-eval's metrics of one task, null where the task has no request of that kind.
namespace NextToken.Evaluation.Tasks;

/// <summary>Metrics of one evaluated task (lm-eval's names in the JSON the CLI writes).</summary>
public sealed record TaskResult
{
    /// <summary>Task name.</summary>
    public required string Task { get; init; }
    /// <summary>Documents scored.</summary>
    public int Examples { get; init; }
    /// <summary>Shots per prompt.</summary>
    public int NumFewShot { get; init; }
    /// <summary>Multiple choice: share of questions whose gold choice has the highest summed log-likelihood; log-likelihood requests: share greedy (is_greedy).</summary>
    public double? Acc { get; init; }
    /// <summary>Multiple choice: argmax of log-likelihood divided by the choice's length in characters.</summary>
    public double? AccNorm { get; init; }
    /// <summary>Multiple choice: argmax of log p(choice | context) − log p(choice | empty context).</summary>
    public double? AccMutualInfo { get; init; }
    /// <summary>Generate-until: share of generations equal to the answer (both trimmed).</summary>
    public double? ExactMatch { get; init; }
    /// <summary>Rolling: exp(−Σ log p / tokens); log-likelihood requests: exp(−mean log p per document) as lm-eval's lambada.</summary>
    public double? Perplexity { get; init; }
    /// <summary>Rolling: −Σ log₂ p / UTF-8 bytes.</summary>
    public double? BitsPerByte { get; init; }
    /// <summary>Rolling: exp(−Σ log p / bytes).</summary>
    public double? BytePerplexity { get; init; }
    /// <summary>Rolling: exp(−Σ log p / words), words split on whitespace.</summary>
    public double? WordPerplexity { get; init; }
    /// <summary>Requests whose context was left-truncated to fit the model.</summary>
    public int Truncated { get; init; }
    /// <summary>Wall-clock seconds.</summary>
    public double Seconds { get; init; }
    /// <summary>Documents per second.</summary>
    public double ExamplesPerSecond => Seconds > 0 ? Examples / Seconds : 0;
    /// <summary>Per-document outcome: gold/prediction of multiple choice, greedy of log-likelihood, match of generation (tests, --json details).</summary>
    public IReadOnlyList<bool> Correct { get; init; } = [];
}
