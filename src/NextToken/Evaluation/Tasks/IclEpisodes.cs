// IclEpisodes: the built-in in-context-learning family — labels of two letter classes that change with every episode.
using System.Text;
using NextToken.Tensors;

namespace NextToken.Evaluation.Tasks;

/// <summary>
/// <c>builtin:icl</c>, after the bursty few-shot data of Chan et al. 2022 and the fresh-task-per-sequence pre-training of
/// Garg et al. 2022. Questions are lowercase letters, split into two fixed classes (a–m and n–z). A task gives each
/// class a label digit (two different digits); every episode draws a new task, so a letter's answer can only be read
/// off an earlier example of the same class in the prompt. Examples are written as lm-eval prompts are, question +
/// " " + answer, joined by "\n\n" ("k R\n\nq D\n\nb R\n\n…"), so the harness's few-shot prompts are exactly
/// in-distribution. Episodes end with "#\n\n". Held-out tasks (label indices with (a + 2b) mod 13 = 0: 50 of the 650, spread
/// over every label) never appear in training. A first design with ten digit labels and 10 held-out pairs (a + b = 9)
/// was too easy to memorise: the model learned which pairs never occur and did worse on them with more shots. The curve the design allows, stated in advance: with K shots drawn from the 25 other letters, the
/// prompt holds a same-class example with probability 1 − C(13,K)/C(25,K) (K=0: 0, 1: 0.48, 2: 0.74, 4: 0.94, 8: 0.999);
/// without one the best guess is one of the 25 other labels, so a perfect in-context learner scores about
/// p + (1 − p)/25 (K=0: 4%, 1: 50%, 2: 75%, 4: 94%, 8: 100%), and chance at 0 shots is 1/26.
/// </summary>
public static class IclEpisodes
{
    /// <summary>Examples per training episode.</summary>
    public const int ExamplesPerEpisode = 24;
    /// <summary>The answer choices: the 26 uppercase letters.</summary>
    public static IReadOnlyList<string> Labels { get; } = Enumerable.Range(0, 26).Select(i => ((char)('A' + i)).ToString()).ToArray();

    /// <summary>Class of a letter: 0 for a–m, 1 for n–z.</summary>
    public static int ClassOf(char letter) => letter < 'n' ? 0 : 1;

    /// <summary>True for the held-out tasks, never seen in training.</summary>
    public static bool IsHeldOut(int labelA, int labelB) => (labelA + 2 * labelB) % 13 == 0;

    /// <summary>Every (labelA, labelB) task, held-out or training.</summary>
    public static IEnumerable<(int A, int B)> Tasks(bool heldOut)
    {
        for (int a = 0; a < Labels.Count; a++)
            for (int b = 0; b < Labels.Count; b++)
                if (a != b && IsHeldOut(a, b) == heldOut) yield return (a, b);
    }

    /// <summary><paramref name="count"/> episodes of training (or held-out) tasks as text.</summary>
    public static string Generate(int count, ulong seed, bool heldOut)
    {
        var tasks = Tasks(heldOut).ToArray();
        var rng = new Rng(seed, 17);
        var sb = new StringBuilder();
        for (int e = 0; e < count; e++)
        {
            var (a, b) = tasks[rng.NextInt(tasks.Length)];
            for (int i = 0; i < ExamplesPerEpisode; i++)
            {
                char q = (char)('a' + rng.NextInt(26));
                sb.Append(q).Append(' ').Append(Labels[ClassOf(q) == 0 ? a : b]).Append(FewShotSampler.FewShotDelimiter);
            }
            sb.Append('#').Append(FewShotSampler.FewShotDelimiter);
        }
        return sb.ToString();
    }

    /// <summary>
    /// One evaluation task per held-out label pair: all 26 letters labelled, each both a few-shot example and a scored
    /// multiple-choice question over the 26 labels (the sampler never shows a question its own example).
    /// </summary>
    public static IReadOnlyList<EvalTask> HeldOutTasks()
    {
        var list = new List<EvalTask>();
        foreach (var (a, b) in Tasks(heldOut: true))
        {
            string name = $"icl_{Labels[a]}{Labels[b]}";
            var docs = Enumerable.Range(0, 26).Select(i =>
            {
                char q = (char)('a' + i);
                return new TaskDocument(TaskKind.MultipleChoice, "builtin:icl/" + name, i + 1) { Context = q.ToString(), Choices = Labels, Gold = ClassOf(q) == 0 ? a : b };
            }).ToList();
            list.Add(new EvalTask(name, null, docs, docs));
        }
        return list;
    }
}
