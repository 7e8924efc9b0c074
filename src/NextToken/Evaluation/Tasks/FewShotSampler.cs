// FewShotSampler: lm-eval's few-shot prompt construction — description, K seeded examples joined by "\n\n", the question.
using NextToken.Tensors;

namespace NextToken.Evaluation.Tasks;

/// <summary>
/// Builds few-shot prompts as lm-evaluation-harness does (lm_eval/api/samplers.py ContextSampler.get_context and
/// Task.fewshot_context): <c>description + join("\n\n", example.question + target_delimiter + example.answer) + "\n\n" +
/// question</c>, the examples drawn without replacement from the train split by one generator seeded once and used
/// for the documents in order, skipping the scored document itself when it is also in the pool. lm-eval's generator
/// is Python's random.Random(1234); ours is the PCG <see cref="Rng"/> with the same default seed, so the prompt format
/// matches exactly but the examples chosen differ.
/// </summary>
public sealed class FewShotSampler
{
    /// <summary>lm-eval's fewshot_delimiter.</summary>
    public const string FewShotDelimiter = "\n\n";
    /// <summary>lm-eval's default --seed for few-shot sampling.</summary>
    public const ulong DefaultSeed = 1234;

    private readonly EvalTask _task;
    private readonly int _shots;
    private Rng _rng;
    private readonly int[] _order;

    /// <summary>Creates a sampler of <paramref name="shots"/> examples per prompt.</summary>
    public FewShotSampler(EvalTask task, int shots, ulong seed = DefaultSeed)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentOutOfRangeException.ThrowIfNegative(shots);
        _task = task;
        _shots = shots;
        _rng = new Rng(seed, 13);
        _order = new int[task.Train.Count];
        if (shots > task.Train.Count)
            throw new ArgumentException($"{shots} shots is larger than the train split of task '{task.Name}' ({task.Train.Count} examples): " +
                                        "give fewer shots, or more lines with \"split\": \"train\" (or a separate train file)", nameof(shots));
    }

    /// <summary>The examples for the next document, in prompt order.</summary>
    public List<TaskDocument> Examples(TaskDocument doc)
    {
        var picked = new List<TaskDocument>(_shots);
        if (_shots == 0) return picked;
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        // Partial Fisher–Yates: the first draws of a random permutation, skipping the document being scored.
        for (int i = 0; i < _order.Length && picked.Count < _shots; i++)
        {
            int j = i + _rng.NextInt(_order.Length - i);
            (_order[i], _order[j]) = (_order[j], _order[i]);
            var ex = _task.Train[_order[i]];
            if (ReferenceEquals(ex, doc) || ex.Source == doc.Source && ex.Line == doc.Line) continue;
            picked.Add(ex);
        }
        if (picked.Count < _shots)
            throw new ArgumentException($"{doc.Where}: {_shots} shots need {_shots} train examples other than this document, but only {picked.Count} are left", "shots");
        return picked;
    }

    /// <summary>The prompt (question with its few-shot examples) for <paramref name="doc"/>.</summary>
    public string Prompt(TaskDocument doc) => Build(_task.Description, Examples(doc), doc);

    /// <summary>lm-eval's prompt: description, then each example's question + delimiter + answer joined by "\n\n", then the question.</summary>
    public static string Build(string? description, IReadOnlyList<TaskDocument> examples, TaskDocument doc)
    {
        var sb = new System.Text.StringBuilder(description ?? "");
        foreach (var ex in examples) sb.Append(ex.Context).Append(ex.TargetDelimiter).Append(ex.Target).Append(FewShotDelimiter);
        return sb.Append(doc.Context).ToString();
    }
}
