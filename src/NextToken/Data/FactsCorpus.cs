// FactsCorpus: a synthetic knowledge corpus — one profile line per mention of an entity drawn from a Zipf law — whose
// loss keeps falling with model size and data (a power law over memorised facts) instead of reaching a floor in minutes.
using System.Text;
using NextToken.Tensors;

namespace NextToken.Data;

/// <summary>
/// A world of <see cref="FactsWorld.Entities"/> made-up names, each with a home town, a liked thing and a job drawn
/// uniformly from <see cref="FactsWorld.ValuesPerRelation"/> made-up words each; the text mentions entities with
/// Zipf frequencies (rank r drawn with probability ∝ r^−s), one line per mention:
/// <code>
/// kolamu lives in bera , likes tisu and works as a fano .
/// </code>
/// Which name comes next is irreducible (the Zipf law's entropy); the three values are a pure look-up that a model can
/// only learn by memorising that entity's facts. Frequent entities are learned first, so after n of them are known the
/// values' loss is the Zipf tail's mass beyond n, ∝ n^(1−s): the number of entities a model can learn grows with its
/// size and with the tokens it sees, and the loss falls as a power law in both (the "quanta" picture of Michaud et al.
/// 2023 with a known frequency law), with no floor reached within budgets a laptop trains in minutes.
/// </summary>
public static class FactsCorpus
{
    private static readonly string[] Relations = ["lives in", "likes", "works as a"];
    private const string Consonants = "bdfgklmnprstvz", Vowels = "aeiou";

    /// <summary>
    /// <paramref name="lines"/> profile lines from the world of <paramref name="worldSeed"/>, mentions drawn with
    /// <paramref name="sampleSeed"/>. The same seeds always give the same text; train and validation text come from
    /// one world and different sample seeds.
    /// </summary>
    public static string Generate(ulong worldSeed, ulong sampleSeed, int lines, FactsWorld? world = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lines);
        var w = world ?? new FactsWorld();
        var (names, values, facts) = Build(w, worldSeed);
        var cdf = ZipfCdf(w.Entities, w.ZipfExponent);
        var rng = new Rng(sampleSeed, 23);
        var text = new StringBuilder(lines * 48);
        for (int i = 0; i < lines; i++)
        {
            int e = Array.BinarySearch(cdf, rng.NextDouble());
            if (e < 0) e = ~e;
            if (e >= w.Entities) e = w.Entities - 1;
            text.Append(names[e]).Append(' ').Append(Relations[0]).Append(' ').Append(values[0][facts[e, 0]])
                .Append(" , ").Append(Relations[1]).Append(' ').Append(values[1][facts[e, 1]])
                .Append(" and ").Append(Relations[2]).Append(' ').Append(values[2][facts[e, 2]]).Append(" .\n");
        }
        return text.ToString();
    }

    /// <summary>The facts of the world of <paramref name="worldSeed"/>, by Zipf rank: (name, home, likes, job).</summary>
    public static IReadOnlyList<(string Name, string Home, string Likes, string Job)> Facts(ulong worldSeed, FactsWorld? world = null)
    {
        var w = world ?? new FactsWorld();
        var (names, values, facts) = Build(w, worldSeed);
        return Enumerable.Range(0, w.Entities).Select(e => (names[e], values[0][facts[e, 0]], values[1][facts[e, 1]], values[2][facts[e, 2]])).ToArray();
    }

    /// <summary>Probability of the entity of Zipf rank <paramref name="rank"/> (0-based).</summary>
    public static double Probability(int rank, FactsWorld? world = null)
    {
        var w = world ?? new FactsWorld();
        double z = 0;
        for (int r = 1; r <= w.Entities; r++) z += Math.Pow(r, -w.ZipfExponent);
        return Math.Pow(rank + 1, -w.ZipfExponent) / z;
    }

    private static (string[] Names, string[][] Values, int[,] Facts) Build(FactsWorld w, ulong seed)
    {
        w.Validate();
        var rng = new Rng(seed, 29);
        // Names have three syllables and values two, so no value is ever a name.
        var names = DistinctWords(ref rng, w.Entities, 3, []);
        var used = new HashSet<string>(StringComparer.Ordinal);
        var values = new string[3][];
        for (int k = 0; k < 3; k++)
        {
            values[k] = DistinctWords(ref rng, w.ValuesPerRelation, 2, used);
            used.UnionWith(values[k]);
        }
        var facts = new int[w.Entities, 3];
        for (int e = 0; e < w.Entities; e++)
            for (int k = 0; k < 3; k++) facts[e, k] = rng.NextInt(w.ValuesPerRelation);
        return (names, values, facts);
    }

    private static string[] DistinctWords(ref Rng rng, int count, int syllables, HashSet<string> exclude)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var words = new string[count];
        var sb = new StringBuilder(2 * syllables);
        for (int i = 0; i < count;)
        {
            sb.Clear();
            for (int s = 0; s < syllables; s++) sb.Append(Consonants[rng.NextInt(Consonants.Length)]).Append(Vowels[rng.NextInt(Vowels.Length)]);
            string word = sb.ToString();
            if (exclude.Contains(word) || !seen.Add(word)) continue;
            words[i++] = word;
        }
        return words;
    }

    private static double[] ZipfCdf(int n, double s)
    {
        var cdf = new double[n];
        double sum = 0;
        for (int r = 0; r < n; r++) cdf[r] = sum += Math.Pow(r + 1, -s);
        for (int r = 0; r < n; r++) cdf[r] /= sum;
        return cdf;
    }
}

/// <summary>The shape of a <see cref="FactsCorpus"/> world.</summary>
public sealed record FactsWorld
{
    /// <summary>Entities (made-up three-syllable names; at most 70³ = 343,000).</summary>
    public int Entities { get; init; } = 20_000;
    /// <summary>Possible values of each of the three relations (made-up two-syllable words).</summary>
    public int ValuesPerRelation { get; init; } = 48;
    /// <summary>The Zipf exponent s of mentions: rank r has probability ∝ r^−s.</summary>
    public double ZipfExponent { get; init; } = 1.3;

    /// <summary>Checks the ranges.</summary>
    public FactsWorld Validate()
    {
        if (Entities is < 1 or > 300_000) throw new ArgumentOutOfRangeException(nameof(Entities), Entities, "entities must be 1..300,000");
        if (ValuesPerRelation is < 2 or > 1_000) throw new ArgumentOutOfRangeException(nameof(ValuesPerRelation), ValuesPerRelation, "values per relation must be 2..1,000");
        if (!(ZipfExponent > 0) || !double.IsFinite(ZipfExponent)) throw new ArgumentOutOfRangeException(nameof(ZipfExponent), ZipfExponent, "the Zipf exponent must be positive");
        return this;
    }
}
