// TaskKind: lm-evaluation-harness's request types, one per task document.
namespace NextToken.Evaluation.Tasks;

/// <summary>The request type of a task document (lm-evaluation-harness's output_type).</summary>
public enum TaskKind
{
    /// <summary><c>{"context","choices","gold"}</c>: log-likelihood of each choice; acc, acc_norm, acc_mutual_info.</summary>
    MultipleChoice,
    /// <summary><c>{"context","continuation"}</c>: log-likelihood of one continuation with is_greedy; perplexity, acc.</summary>
    Loglikelihood,
    /// <summary><c>{"text"}</c>: rolling log-likelihood of a whole document; perplexity, bits per byte, word perplexity.</summary>
    Rolling,
    /// <summary><c>{"context","answer","until"}</c>: greedy generation until a stop sequence; exact match.</summary>
    GenerateUntil,
}
