// TaskFileFormat: how a task file's lines are read (our schema, or a published benchmark's own JSONL).
namespace NextToken.Evaluation.Tasks;

/// <summary>The layout of a task JSONL file.</summary>
public enum TaskFileFormat
{
    /// <summary>HellaSwag when a line has ctx_a/endings, LAMBADA when the file name contains "lambada", else our schema.</summary>
    Auto,
    /// <summary>Our schema (docs/evaluation.md).</summary>
    NextToken,
    /// <summary>rowanz/hellaswag's hellaswag_{train,val}.jsonl, preprocessed as lm-eval's hellaswag task does.</summary>
    HellaSwag,
    /// <summary>LAMBADA's {"text"} lines (lambada_openai): the last word, after a space, is the continuation.</summary>
    Lambada,
}
