// PreferenceTask: builtin:preferences — sentence openings of the built-in grammar as prompts, a known true reward on the
// completions (animal mentions in a short grammatical sentence) and a Bradley-Terry labeler that disagrees with it about
// about one time in ten, as human labelers do.
using NextToken.Data;
using NextToken.Tensors;

namespace NextToken.Alignment;

/// <summary>A labeled pair: the labeler preferred <see cref="Chosen"/>; <see cref="ChosenReward"/> and <see cref="RejectedReward"/> are the true rewards.</summary>
public sealed record LabeledPair(string Prompt, string Chosen, string Rejected, double ChosenReward, double RejectedReward)
{
    /// <summary>True when the label agrees with the true reward.</summary>
    public bool AgreesWithTruth => ChosenReward > RejectedReward;
}

/// <summary>
/// The built-in preference task (docs/alignment.md). A prompt is the opening noun phrase of a sentence of the built-in
/// grammar ("the cat", "some happy foxes"); a response completes the sentence and ends with a newline (the task's
/// end-of-text). The true reward of a response is
/// <code>
/// R = A − 0.5 · max(0, W − 6)   when the response ends and prompt + response is a grammatical sentence
/// R = −1                          otherwise (an unfinished or ungrammatical sentence)
/// </code>
/// where A counts the animal nouns (cat, dog, bird, fox, horse and their plurals) among the response's words and W is the
/// number of the response's words. The attainable maximum is 2 ("sees the dog near the cat." — a third animal needs at
/// least nine words). The labeler prefers response a to b with probability σ((R_a − R_b)/τ) (Bradley-Terry, τ =
/// <see cref="LabelerTemperature"/>) and does not label pairs of equal true reward.
/// </summary>
public static class PreferenceTask
{
    /// <summary>The built-in name: <c>builtin:preferences</c>.</summary>
    public const string Name = "builtin:preferences";
    /// <summary>The attainable maximum of <see cref="TrueReward"/>.</summary>
    public const double MaxReward = 2.0;
    /// <summary>The true reward of an unfinished or ungrammatical response.</summary>
    public const double Invalid = -1.0;
    /// <summary>Words a response may have before each extra word costs half a point.</summary>
    public const int FreeWords = 6;
    /// <summary>τ of the labeler's Bradley-Terry choice: a reward gap of 0.5 is labeled the wrong way round 24.8% of the time, a gap of 1 9.8%, a gap of 2 1.2%.</summary>
    public const double LabelerTemperature = 0.45;
    /// <summary>The end-of-response text.</summary>
    public const string End = "\n";

    internal static readonly HashSet<string> Animals = new(StringComparer.Ordinal)
    {
        "cat", "cats", "dog", "dogs", "bird", "birds", "fox", "foxes", "horse", "horses",
    };

    /// <summary>
    /// Every opening noun phrase (determiner, optional adjective, noun, agreeing in number): 1,452 prompts, in a fixed
    /// order; the held-out ones are every tenth.
    /// </summary>
    public static IReadOnlyList<string> AllPrompts { get; } = BuildPrompts();

    /// <summary>Training prompts (nine in ten).</summary>
    public static IReadOnlyList<string> TrainPrompts { get; } = AllPrompts.Where((_, i) => i % 10 != 0).ToArray();
    /// <summary>Held-out prompts (every tenth): never used for preference data, RM training or policy optimisation.</summary>
    public static IReadOnlyList<string> HeldOutPrompts { get; } = AllPrompts.Where((_, i) => i % 10 == 0).ToArray();

    private static string[] BuildPrompts()
    {
        var list = new List<string>();
        foreach (var (dets, nouns) in new[] { (GrammarCorpus.DetSingular, GrammarCorpus.NounSingular), (GrammarCorpus.DetPlural, GrammarCorpus.NounPlural) })
            foreach (var det in dets)
                foreach (var noun in nouns)
                {
                    list.Add(det + " " + noun);
                    foreach (var adj in GrammarCorpus.Adjectives) list.Add(det + " " + adj + " " + noun);
                }
        // A fixed shuffle so that both splits mix numbers, determiners and nouns.
        var rng = new Rng(20221, 3);
        rng.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list));
        return [.. list];
    }

    /// <summary>True when the response reached the end-of-response newline.</summary>
    public static bool IsFinished(string response) => response.EndsWith(End, StringComparison.Ordinal);

    /// <summary>True when the response is finished and prompt + response parses as one sentence of the grammar.</summary>
    public static bool IsGrammatical(string prompt, string response) =>
        IsFinished(response) && response.IndexOf('\n') == response.Length - 1 && GrammarCorpus.IsGrammatical(prompt + response[..^1]);

    /// <summary>The true reward of <paramref name="response"/> to <paramref name="prompt"/> (see the class summary).</summary>
    public static double TrueReward(string prompt, string response)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(response);
        if (!IsGrammatical(prompt, response)) return Invalid;
        string[] words = response.Trim().TrimEnd('.').Split(' ', StringSplitOptions.RemoveEmptyEntries);
        int animals = words.Count(Animals.Contains);
        return animals - 0.5 * Math.Max(0, words.Length - FreeWords);
    }

    /// <summary>
    /// The labeler's choice between two responses: true when it prefers <paramref name="a"/>; null when their true
    /// rewards are equal (no label). Prefers a with probability σ((R_a − R_b)/τ).
    /// </summary>
    public static bool? Label(string prompt, string a, string b, ref Rng rng)
    {
        double ra = TrueReward(prompt, a), rb = TrueReward(prompt, b);
        if (ra == rb) return null;
        return rng.NextDouble() < PolicyMath.Sigmoid((ra - rb) / LabelerTemperature);
    }

    /// <summary>The share of labels a perfect model of the true reward would get right on pairs with these reward gaps (the noise ceiling).</summary>
    public static double NoiseCeiling(IEnumerable<LabeledPair> pairs)
    {
        double sum = 0; int n = 0;
        foreach (var p in pairs) { sum += PolicyMath.Sigmoid(Math.Abs(p.ChosenReward - p.RejectedReward) / LabelerTemperature); n++; }
        return n == 0 ? double.NaN : sum / n;
    }

    /// <summary>
    /// Labels pairs of responses sampled for the same prompt (<paramref name="samples"/>: prompt, response a, response b);
    /// pairs with identical text or equal true reward are not labeled and are counted in <paramref name="unlabeled"/>.
    /// </summary>
    public static List<LabeledPair> LabelPairs(IEnumerable<(string Prompt, string A, string B)> samples, ulong seed, out int unlabeled)
    {
        var rng = new Rng(seed, 17);
        var pairs = new List<LabeledPair>();
        unlabeled = 0;
        foreach (var (prompt, a, b) in samples)
        {
            if (a == b) { unlabeled++; continue; }
            bool? aWins = Label(prompt, a, b, ref rng);
            if (aWins is null) { unlabeled++; continue; }
            double ra = TrueReward(prompt, a), rb = TrueReward(prompt, b);
            pairs.Add(aWins.Value ? new LabeledPair(prompt, a, b, ra, rb) : new LabeledPair(prompt, b, a, rb, ra));
        }
        return pairs;
    }
}

/// <summary>Preference data for builtin:preferences, sampled from a policy and labeled by the task's labeler.</summary>
public static class PreferenceCollection
{
    /// <summary>
    /// Samples two responses per prompt (cycling through <paramref name="prompts"/>) from <paramref name="policy"/> until
    /// <paramref name="pairs"/> pairs are labeled; pairs the labeler does not label (equal true reward, identical text) are
    /// counted in <paramref name="unlabeled"/>. Successive batches of 32 prompts are sampled at the temperatures of
    /// <paramref name="temperatures"/> in turn (default 1 and 1.5): the hotter half shows the reward model broken
    /// sentences, which a policy optimised against it will otherwise find and exploit.
    /// </summary>
    public static List<LabeledPair> Collect(Model.GptModel policy, Tokenization.ITokenizer tokenizer, IReadOnlyList<string> prompts, int pairs, ulong seed,
                                            int maxNewTokens, out int unlabeled, IReadOnlyList<float>? temperatures = null)
    {
        temperatures ??= [1f, 1.5f];
        var sampler = new RolloutSampler(policy);
        var rng = new Rng(seed, 29);
        int end = PolicyTraining.EndToken(tokenizer, PreferenceTask.End);
        var ids = prompts.Select(tokenizer.Encode).ToArray();
        var result = new List<LabeledPair>(pairs);
        unlabeled = 0;
        int cursor = 0, chunk = 64;
        ulong labelSeed = seed;
        for (int round = 0; result.Count < pairs; round++)
        {
            var batch = new List<int[]>(chunk);
            var texts = new List<string>(chunk);
            for (int k = 0; k < chunk / 2; k++)
            {
                int i = cursor++ % ids.Length;
                batch.Add(ids[i]); batch.Add(ids[i]);
                texts.Add(prompts[i]);
            }
            var rolls = sampler.Sample(batch, maxNewTokens, end, temperatures[round % temperatures.Count], ref rng);
            var samples = texts.Select((p, k) => (p, tokenizer.Decode(rolls[2 * k].Response), tokenizer.Decode(rolls[2 * k + 1].Response)));
            var labeled = PreferenceTask.LabelPairs(samples, labelSeed++, out int skipped);
            unlabeled += skipped;
            foreach (var l in labeled) if (result.Count < pairs) result.Add(l);
        }
        return result;
    }
}
