// ShotCurve: few-shot accuracy against the number of shots (K = 0, 1, 2, 4, 8 by default).
using NextToken.Evaluation.Tasks;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Evaluation.Probes;

/// <summary>Accuracy (multiple choice acc, else exact match) of the same tasks at several shot counts.</summary>
public static class ShotCurve
{
    /// <summary>The shot counts the probe uses by default.</summary>
    public static IReadOnlyList<int> DefaultShots { get; } = [0, 1, 2, 4, 8];

    /// <summary>K → accuracy over <paramref name="tasks"/> (shot counts larger than a task's train split are skipped).</summary>
    public static SortedDictionary<int, double> Measure(ICausalLm model, ITokenizer tokenizer, IReadOnlyList<EvalTask> tasks, IEnumerable<int>? shots = null,
                                                        ulong seed = FewShotSampler.DefaultSeed, int limit = 0)
    {
        var curve = new SortedDictionary<int, double>();
        int pool = tasks.Min(t => t.Train.Count);
        foreach (int k in shots ?? DefaultShots)
        {
            if (k > pool) continue;
            var r = TaskEvaluator.RunAll(model, tokenizer, tasks, new TaskEvalOptions { Shots = k, Seed = seed, Limit = limit });
            curve[k] = r.Acc ?? r.ExactMatch ?? double.NaN;
        }
        return curve;
    }
}
