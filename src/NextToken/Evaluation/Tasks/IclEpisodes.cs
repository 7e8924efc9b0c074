// IclEpisodes: the built-in in-context-learning family — a fresh random symbol-to-symbol map in every episode.
using System.Text;
using NextToken.Tensors;
using NextToken.Tokenization;

namespace NextToken.Evaluation.Tasks;

/// <summary>
/// <c>builtin:icl</c>: random symbol-to-symbol maps, a fresh one for every sequence (the seed's "random symbol-to-symbol
/// maps"; Garg et al. 2022 draw a fresh function per prompt the same way). A task picks <see cref="KeysPerTask"/>
/// lowercase letters and gives each a different uppercase label; an episode is <see cref="ExamplesPerEpisode"/>
/// examples of one task drawn uniformly, written exactly as lm-eval prompts them, question + " " + answer joined by
/// "\n\n" ("k R\n\nq D\n\nk R\n\n…"), then "#\n\n". A letter's label can only be read off an earlier example of the
/// same letter in the prompt: the induction mechanism (Olsson et al. 2022). Held-out tasks ((Σ letter indices + Σ label
/// indices) mod 10 = 0) never appear in training.
/// Evaluation (<see cref="HeldOutTasks"/>): 50 held-out tasks, each scoring its 4 letters as 26-way multiple choice
/// with a few-shot pool of 4 copies of each of its 4 examples (16 lines), so a K-shot prompt shows the query's own
/// letter with probability p(K) = 1 − C(12,K)/C(16,K). The curve the design allows, stated in advance: a perfect
/// in-context learner scores p + (1 − p)/25 (it can rule out the labels it saw for other letters only partly):
/// K = 0: 4% (chance 1/26), 1: 28%, 2: 47%, 4: 74%, 8: 96%.
/// </summary>
public static class IclEpisodes
{
    /// <summary>Letters (keys) per task.</summary>
    public const int KeysPerTask = 4;
    /// <summary>Examples per training episode.</summary>
    public const int ExamplesPerEpisode = 24;
    /// <summary>Held-out tasks evaluated.</summary>
    public const int HeldOutTaskCount = 50;
    /// <summary>Copies of each example in a held-out task's few-shot pool.</summary>
    public const int PoolCopies = 4;
    /// <summary>The answer choices: the 26 uppercase letters.</summary>
    public static IReadOnlyList<string> Labels { get; } = Enumerable.Range(0, 26).Select(i => ((char)('A' + i)).ToString()).ToArray();

    /// <summary>True for held-out tasks (keys are letter indices 0..25, labels label indices 0..25).</summary>
    public static bool IsHeldOut(ReadOnlySpan<int> keys, ReadOnlySpan<int> labels)
    {
        int s = 0;
        foreach (int k in keys) s += k;
        foreach (int l in labels) s += l;
        return s % 10 == 0;
    }

    /// <summary>Draws a task of the wanted kind (rejection sampling): keys and labels, each distinct.</summary>
    public static (int[] Keys, int[] Labels) DrawTask(ref Rng rng, bool heldOut)
    {
        while (true)
        {
            var keys = Distinct(ref rng, KeysPerTask);
            var labels = Distinct(ref rng, KeysPerTask);
            if (IsHeldOut(keys, labels) == heldOut) return (keys, labels);
        }
    }

    private static int[] Distinct(ref Rng rng, int count)
    {
        var picked = new List<int>(count);
        while (picked.Count < count) { int v = rng.NextInt(26); if (!picked.Contains(v)) picked.Add(v); }
        return [.. picked];
    }

    /// <summary><paramref name="count"/> episodes of training (or held-out) tasks as text.</summary>
    public static string Generate(int count, ulong seed, bool heldOut)
    {
        var rng = new Rng(seed, 17);
        var sb = new StringBuilder();
        for (int e = 0; e < count; e++)
        {
            var (keys, labels) = DrawTask(ref rng, heldOut);
            for (int i = 0; i < ExamplesPerEpisode; i++)
            {
                int j = rng.NextInt(KeysPerTask);
                sb.Append((char)('a' + keys[j])).Append(' ').Append(Labels[labels[j]]).Append(FewShotSampler.FewShotDelimiter);
            }
            sb.Append('#').Append(FewShotSampler.FewShotDelimiter);
        }
        return sb.ToString();
    }

    // Encoded with a letter after the last delimiter (then dropped), so every delimiter splits as it does mid-episode
    // (GPT-2's pre-tokenizer writes a blank line before a word as two "\n" tokens, at the end of a text as one).
    private static int[] EncodeMidEpisode(ITokenizer tokenizer, string text) => tokenizer.Encode(text + "a")[..^1];

    /// <summary>Tokens of one example ("k R\n\n") inside an episode under <paramref name="tokenizer"/>.</summary>
    public static int ExampleTokens(ITokenizer tokenizer) => EncodeMidEpisode(tokenizer, "a A" + FewShotSampler.FewShotDelimiter).Length;

    /// <summary>
    /// First copies for the repeated-sequence probe in this task's format (<see cref="Probes.IclProbes.RepeatedSequences"/>):
    /// <paramref name="count"/> token sequences, each as many examples "k R\n\n" as fit in half of
    /// <paramref name="contextLength"/> (at most 26), with distinct random letters and random labels, so in the repeat a
    /// letter's only earlier occurrence is its first copy. A model trained only on episodes meets random tokens out of its
    /// format (every token costs ≈ 16 nats there); random episodes keep the format and randomise the content. Score
    /// induction over <see cref="ExampleTokens"/> positions: a model may read an earlier example from any of its tokens
    /// or from the next example's letter, which has attended back to it.
    /// </summary>
    public static List<int[]> RandomEpisodes(ITokenizer tokenizer, int contextLength, int count = 8, ulong seed = 1)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        int perExample = ExampleTokens(tokenizer);
        int examples = Math.Min(26, contextLength / 2 / perExample);
        if (examples < 1) throw new ArgumentException($"a context of {contextLength} tokens cannot hold two copies of one example ({perExample} tokens)");
        var rng = new Rng(seed, 41);
        var list = new List<int[]>(count);
        for (int c = 0; c < count; c++)
        {
            var letters = Enumerable.Range(0, 26).ToArray();
            rng.Shuffle(letters.AsSpan());
            var sb = new StringBuilder();
            for (int i = 0; i < examples; i++)
                sb.Append((char)('a' + letters[i])).Append(' ').Append(Labels[rng.NextInt(26)]).Append(FewShotSampler.FewShotDelimiter);
            var ids = EncodeMidEpisode(tokenizer, sb.ToString());
            if (ids.Length != examples * perExample)
                throw new InvalidOperationException($"the tokenizer splits random examples unevenly ({ids.Length} tokens for {examples} examples of {perExample})");
            list.Add(ids);
        }
        return list;
    }

    /// <summary>
    /// <see cref="HeldOutTaskCount"/> held-out tasks: each scores its letters (26-way multiple choice) with a few-shot
    /// pool of <see cref="PoolCopies"/> copies of every example (separate lines, so a prompt may show the query's own
    /// letter, as a training episode does).
    /// </summary>
    public static IReadOnlyList<EvalTask> HeldOutTasks(ulong seed = 2024)
    {
        var rng = new Rng(seed, 31);
        var list = new List<EvalTask>();
        for (int t = 0; t < HeldOutTaskCount; t++)
        {
            var (keys, labels) = DrawTask(ref rng, heldOut: true);
            string name = "icl_" + string.Concat(keys.Select((k, i) => $"{(char)('a' + k)}{Labels[labels[i]]}"));
            string source = "builtin:icl/" + name;
            TaskDocument Doc(int j, int line) => new(TaskKind.MultipleChoice, source, line) { Context = ((char)('a' + keys[j])).ToString(), Choices = Labels, Gold = labels[j] };
            var pool = new List<TaskDocument>();
            for (int c = 0; c < PoolCopies; c++)
                for (int j = 0; j < KeysPerTask; j++) pool.Add(Doc(j, pool.Count + 1) with { Split = "train" });
            var test = Enumerable.Range(0, KeysPerTask).Select(j => Doc(j, pool.Count + 1 + j)).ToList();
            list.Add(new EvalTask(name, null, pool, test));
        }
        return list;
    }
}
