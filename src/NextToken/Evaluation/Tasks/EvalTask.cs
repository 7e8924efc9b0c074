// EvalTask: a task's documents split into the few-shot pool (train) and the documents scored (test).
namespace NextToken.Evaluation.Tasks;

/// <summary>A task ready to evaluate: an optional description, few-shot examples to draw from, documents to score.</summary>
public sealed record EvalTask(string Name, string? Description, IReadOnlyList<TaskDocument> Train, IReadOnlyList<TaskDocument> Test);
