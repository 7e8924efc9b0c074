// TaskDocument: one line of a task file, already mapped onto lm-eval's fields (context, choices, gold, ...).
namespace NextToken.Evaluation.Tasks;

/// <summary>
/// One evaluation document. Which fields are set depends on <see cref="Kind"/>: multiple choice uses
/// <see cref="Context"/>, <see cref="Choices"/>, <see cref="Gold"/>; log-likelihood uses <see cref="Context"/> and
/// <see cref="Continuation"/>; rolling uses <see cref="Text"/>; generate-until uses <see cref="Context"/>,
/// <see cref="Answer"/> and <see cref="Until"/>. <see cref="Line"/> is the 1-based line in <see cref="Source"/>.
/// </summary>
public sealed record TaskDocument(TaskKind Kind, string Source, int Line)
{
    /// <summary>The question (lm-eval's doc_to_text).</summary>
    public string Context { get; init; } = "";
    /// <summary>Multiple-choice options, without the target delimiter.</summary>
    public IReadOnlyList<string> Choices { get; init; } = [];
    /// <summary>Index of the correct choice.</summary>
    public int Gold { get; init; }
    /// <summary>The continuation scored by a log-likelihood request, including any leading space it carries.</summary>
    public string Continuation { get; init; } = "";
    /// <summary>The whole document of a rolling request.</summary>
    public string Text { get; init; } = "";
    /// <summary>Reference answer of a generate-until request.</summary>
    public string Answer { get; init; } = "";
    /// <summary>Stop sequences of a generate-until request.</summary>
    public IReadOnlyList<string> Until { get; init; } = [];
    /// <summary>"train", "test", "validation" or null (the file's role decides).</summary>
    public string? Split { get; init; }

    /// <summary>The answer text a few-shot example shows after the question (lm-eval's doc_to_target).</summary>
    public string Target => Kind switch
    {
        TaskKind.MultipleChoice => Choices[Gold],
        TaskKind.Loglikelihood => Continuation,
        TaskKind.GenerateUntil => Answer,
        _ => Text,
    };

    /// <summary>
    /// The delimiter between question and answer in a few-shot example: lm-eval's target_delimiter " ", except that a
    /// log-likelihood continuation carries its own leading space (LAMBADA's " word"), so nothing is added there.
    /// </summary>
    public string TargetDelimiter => Kind == TaskKind.Loglikelihood ? "" : " ";

    /// <summary>"file:line" for error messages.</summary>
    public string Where => $"{Source}:{Line}";
}
