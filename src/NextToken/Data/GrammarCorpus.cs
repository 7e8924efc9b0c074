// GrammarCorpus: a small probabilistic context-free grammar of English-like sentences, its sampler and recogniser.
using System.Text;
using NextToken.Tensors;

namespace NextToken.Data;

/// <summary>
/// A built-in corpus whose correctness can be checked exactly: sentences from a context-free grammar with
/// number agreement (determiner–noun and subject–verb), 75 lowercase words, one sentence per line.
/// <code>
/// S        → NP[n] VP[n] "."                       n ∈ {singular, plural}
/// NP[n]    → Det[n] (Adj) N[n] (PP)
/// PP       → P NP[any]
/// VP[n]    → Vi[n] | Vi[n] Adv | Vi[n] PP | Vt[n] NP[any]
/// </code>
/// "the" is both singular and plural; every other determiner has one number. Because PP contains an NP the
/// grammar is recursive; the sampler keeps sentences short (at most <see cref="MaxSentenceLength"/> characters)
/// but <see cref="IsGrammatical"/> accepts any depth, since it parses rather than looks samples up.
/// </summary>
public static class GrammarCorpus
{
    /// <summary>The sampler rejects sentences longer than this, so a small context sees whole sentences.</summary>
    public const int MaxSentenceLength = 60;

    internal static readonly string[] DetSingular = ["a", "the", "every", "this", "that"];
    internal static readonly string[] DetPlural = ["the", "some", "many", "these", "those", "two"];
    internal static readonly string[] Adjectives = ["big", "small", "red", "brave", "lazy", "happy", "quiet", "clever", "tall", "green"];
    internal static readonly string[] NounSingular = ["cat", "dog", "bird", "child", "man", "woman", "teacher", "farmer", "fox", "horse", "girl", "boy"];
    internal static readonly string[] NounPlural = ["cats", "dogs", "birds", "children", "men", "women", "teachers", "farmers", "foxes", "horses", "girls", "boys"];
    internal static readonly string[] Prepositions = ["near", "under", "with", "behind", "beside"];
    internal static readonly string[] TransitiveSingular = ["sees", "chases", "likes", "finds", "follows", "helps"];
    internal static readonly string[] TransitivePlural = ["see", "chase", "like", "find", "follow", "help"];
    internal static readonly string[] IntransitiveSingular = ["sleeps", "runs", "sings", "waits", "laughs"];
    internal static readonly string[] IntransitivePlural = ["sleep", "run", "sing", "wait", "laugh"];
    internal static readonly string[] Adverbs = ["quietly", "slowly", "often", "today"];

    [Flags]
    private enum Number { Singular = 1, Plural = 2, Any = Singular | Plural }

    /// <summary>Every word the grammar uses, sorted.</summary>
    public static IReadOnlyList<string> Vocabulary { get; } =
        new[] { DetSingular, DetPlural, Adjectives, NounSingular, NounPlural, Prepositions, TransitiveSingular, TransitivePlural, IntransitiveSingular, IntransitivePlural, Adverbs }
            .SelectMany(w => w).Distinct().Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Samples <paramref name="sentences"/> sentences, one per line (each ending in <c>".\n"</c>). The same
    /// seed always gives the same text.
    /// </summary>
    public static string Generate(ulong seed, int sentences)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sentences);
        var rng = new Rng(seed);
        var text = new StringBuilder(sentences * 40);
        var words = new List<string>();
        for (int i = 0; i < sentences; i++)
        {
            string sentence;
            do
            {
                words.Clear();
                var n = rng.NextInt(2) == 0 ? Number.Singular : Number.Plural;
                SampleNounPhrase(ref rng, words, n, depth: 0);
                SampleVerbPhrase(ref rng, words, n);
                sentence = string.Join(' ', words) + ".";
            } while (sentence.Length > MaxSentenceLength); // rejection keeps the distribution otherwise untouched
            text.Append(sentence).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>
    /// Grammar text with repetition, as natural text has it (a name, a phrase, a quoted line recurs): each line is,
    /// with probability <paramref name="repeatShare"/>, a verbatim copy of one of the <paramref name="window"/> fresh
    /// sentences before it, otherwise a fresh sentence from <see cref="Generate"/>'s sampler. <paramref name="sentences"/>
    /// counts fresh sentences, so the grammar's variety equals <see cref="Generate"/>'s for the same count. A model
    /// pre-trained on it learns to copy (induction heads) besides the grammar; builtin:grammar-repeats.
    /// </summary>
    public static string GenerateWithRepeats(ulong seed, int sentences, double repeatShare = 0.75, int window = 2)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sentences);
        if (repeatShare is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(repeatShare), repeatShare, "the share of repeated lines must be in [0, 1)");
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        string[] fresh = Generate(seed, sentences).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var rng = new Rng(seed, 29);
        var text = new StringBuilder(sentences * 80);
        for (int i = 0; i < fresh.Length; i++)
        {
            text.Append(fresh[i]).Append('\n');
            while (i > 0 && rng.NextDouble() < repeatShare)
                text.Append(fresh[i - rng.NextInt(Math.Min(window, i + 1))]).Append('\n');
        }
        return text.ToString();
    }

    private static string Pick(ref Rng rng, string[] words) => words[rng.NextInt(words.Length)];

    private static void SampleNounPhrase(ref Rng rng, List<string> words, Number n, int depth)
    {
        if (n == Number.Any) n = rng.NextInt(2) == 0 ? Number.Singular : Number.Plural;
        words.Add(Pick(ref rng, n == Number.Singular ? DetSingular : DetPlural));
        if (rng.NextInt(3) == 0) words.Add(Pick(ref rng, Adjectives));
        words.Add(Pick(ref rng, n == Number.Singular ? NounSingular : NounPlural));
        // A PP after the noun; rarer with depth so sentences stay short.
        if (depth < 2 && rng.NextInt(depth == 0 ? 5 : 10) == 0)
        {
            words.Add(Pick(ref rng, Prepositions));
            SampleNounPhrase(ref rng, words, Number.Any, depth + 1);
        }
    }

    private static void SampleVerbPhrase(ref Rng rng, List<string> words, Number n)
    {
        bool singular = n == Number.Singular;
        switch (rng.NextInt(6))
        {
            case 0:
                words.Add(Pick(ref rng, singular ? IntransitiveSingular : IntransitivePlural));
                break;
            case 1:
                words.Add(Pick(ref rng, singular ? IntransitiveSingular : IntransitivePlural));
                words.Add(Pick(ref rng, Adverbs));
                break;
            case 2:
                words.Add(Pick(ref rng, singular ? IntransitiveSingular : IntransitivePlural));
                words.Add(Pick(ref rng, Prepositions));
                SampleNounPhrase(ref rng, words, Number.Any, depth: 1);
                break;
            default: // transitive is the most common shape: it carries the most structure to learn
                words.Add(Pick(ref rng, singular ? TransitiveSingular : TransitivePlural));
                SampleNounPhrase(ref rng, words, Number.Any, depth: 1);
                break;
        }
    }

    /// <summary>
    /// True when <paramref name="sentence"/> is derivable from the grammar, written as the sampler writes it:
    /// words separated by single spaces and a period attached to the last word (surrounding whitespace is
    /// ignored). A recursive-descent recogniser that tracks every way a prefix can be parsed.
    /// </summary>
    public static bool IsGrammatical(string sentence)
    {
        ArgumentNullException.ThrowIfNull(sentence);
        string s = sentence.Trim();
        if (s.Length < 2 || s[^1] != '.' || s[^2] == ' ') return false;
        string[] words = s[..^1].Split(' ');
        foreach (var w in words) if (w.Length == 0) return false; // doubled space
        foreach (var n in new[] { Number.Singular, Number.Plural })
            foreach (int afterSubject in NounPhrase(words, 0, n))
                foreach (int end in VerbPhrase(words, afterSubject, n))
                    if (end == words.Length) return true;
        return false;
    }

    /// <summary>Judges each non-blank sample as one sentence (blank samples are skipped).</summary>
    public static GrammarReport Evaluate(IEnumerable<string> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        int total = 0, good = 0;
        foreach (var sample in samples)
        {
            if (string.IsNullOrWhiteSpace(sample)) continue;
            total++;
            if (IsGrammatical(sample)) good++;
        }
        return new GrammarReport(total, good);
    }

    private static bool Is(string[] words, int i, string[] category) => i < words.Length && Array.IndexOf(category, words[i]) >= 0;

    // Every end position of an NP of number n starting at i (several when a PP may or may not attach).
    private static IEnumerable<int> NounPhrase(string[] words, int i, Number n)
    {
        Number det = (Is(words, i, DetSingular) ? Number.Singular : 0) | (Is(words, i, DetPlural) ? Number.Plural : 0);
        if ((det & n) == 0) yield break;
        for (int noun = i + 1; noun <= i + 2 && noun < words.Length; noun++)
        {
            if (noun == i + 2 && !Is(words, i + 1, Adjectives)) break;
            Number head = Is(words, noun, NounSingular) ? Number.Singular : Is(words, noun, NounPlural) ? Number.Plural : 0;
            if ((head & det & n) == 0) continue;
            yield return noun + 1;
            foreach (int end in PrepositionalPhrase(words, noun + 1)) yield return end;
        }
    }

    private static IEnumerable<int> PrepositionalPhrase(string[] words, int i) =>
        Is(words, i, Prepositions) ? NounPhrase(words, i + 1, Number.Any) : [];

    private static IEnumerable<int> VerbPhrase(string[] words, int i, Number n)
    {
        bool singular = n == Number.Singular;
        if (Is(words, i, singular ? IntransitiveSingular : IntransitivePlural))
        {
            yield return i + 1;
            if (Is(words, i + 1, Adverbs)) yield return i + 2;
            foreach (int end in PrepositionalPhrase(words, i + 1)) yield return end;
        }
        if (Is(words, i, singular ? TransitiveSingular : TransitivePlural))
            foreach (int end in NounPhrase(words, i + 1, Number.Any)) yield return end;
    }
}
