// Tests of the facts corpus: the line format, one fixed set of facts per entity, Zipf mention frequencies, determinism.
using System.Text.RegularExpressions;
using NextToken.Data;

namespace NextToken.Tests.Data;

public sealed partial class FactsCorpusTests
{
    [GeneratedRegex(@"^([a-z]{6}) lives in ([a-z]{4}) , likes ([a-z]{4}) and works as a ([a-z]{4}) \.$")]
    private static partial Regex Line();

    [Fact]
    public void Generate_EveryLineIsAProfile_AndAnEntityAlwaysHasTheSameFacts()
    {
        var world = new FactsWorld { Entities = 500 };
        var facts = FactsCorpus.Facts(3, world).ToDictionary(f => f.Name);
        Assert.Equal(500, facts.Count); // distinct names
        var lines = FactsCorpus.Generate(3, 9, 4000, world).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4000, lines.Length);
        var values = new HashSet<string>[3] { [], [], [] };
        foreach (string line in lines)
        {
            var m = Line().Match(line);
            Assert.True(m.Success, line);
            var f = facts[m.Groups[1].Value];
            Assert.Equal((f.Home, f.Likes, f.Job), (m.Groups[2].Value, m.Groups[3].Value, m.Groups[4].Value));
            for (int k = 0; k < 3; k++) values[k].Add(m.Groups[k + 2].Value);
        }
        Assert.All(values, v => Assert.InRange(v.Count, 30, world.ValuesPerRelation)); // values vary across entities
        Assert.Empty(values[0].Intersect(values[1])); // each relation has its own words
        Assert.DoesNotContain(facts.Keys, values[2].Contains);
    }

    [Fact]
    public void Generate_MentionFrequencies_FollowTheZipfLaw()
    {
        var world = new FactsWorld { Entities = 2000, ZipfExponent = 1.3 };
        var byRank = FactsCorpus.Facts(1, world).Select((f, r) => (f.Name, r)).ToDictionary(p => p.Name, p => p.r);
        const int n = 200_000;
        var counts = new int[world.Entities];
        foreach (string line in FactsCorpus.Generate(1, 2, n, world).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            counts[byRank[line[..line.IndexOf(' ')]]]++;
        foreach (int r in new[] { 0, 1, 9, 99 })
        {
            double p = FactsCorpus.Probability(r, world), se = Math.Sqrt(p * (1 - p) / n);
            Assert.InRange(counts[r] / (double)n, p - 5 * se, p + 5 * se);
        }
        // Ranks 0 and 9: p ∝ r^-1.3, so their ratio is 10^1.3 ≈ 20.
        Assert.InRange(FactsCorpus.Probability(0, world) / FactsCorpus.Probability(9, world), 19.9, 20.0);
        Assert.InRange(counts[0] / (double)counts[9], 17, 23.5);
    }

    [Fact]
    public void Generate_SameSeeds_SameText_OtherSampleSeed_SameWorld()
    {
        var world = new FactsWorld { Entities = 300 };
        Assert.Equal(FactsCorpus.Generate(4, 5, 200, world), FactsCorpus.Generate(4, 5, 200, world));
        Assert.NotEqual(FactsCorpus.Generate(4, 5, 200, world), FactsCorpus.Generate(4, 6, 200, world));
        Assert.Equal(FactsCorpus.Facts(4, world), FactsCorpus.Facts(4, world));
        Assert.NotEqual(FactsCorpus.Facts(4, world), FactsCorpus.Facts(5, world));
        Assert.Throws<ArgumentOutOfRangeException>(() => FactsCorpus.Generate(1, 1, 10, new FactsWorld { ZipfExponent = 0 }));
    }
}
