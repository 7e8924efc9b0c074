// Tests of the built-in grammar: the sampler only produces sentences the recogniser accepts, and the recogniser
// rejects shuffled words and broken agreement.
using NextToken.Data;
using NextToken.Tensors;

namespace NextToken.Tests.Data;

public sealed class GrammarCorpusTests
{
    private static string[] Sentences(ulong seed, int n) => GrammarCorpus.Generate(seed, n).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Generate_ManySentences_AllGrammaticalAndShort()
    {
        var sentences = Sentences(1, 3000);
        Assert.Equal(3000, sentences.Length);
        Assert.All(sentences, s => Assert.True(GrammarCorpus.IsGrammatical(s), s));
        Assert.All(sentences, s => Assert.InRange(s.Length, 1, GrammarCorpus.MaxSentenceLength));
        Assert.True(sentences.Distinct().Count() > 2000); // varied, not a handful of templates
    }

    [Fact]
    public void Generate_SameSeed_SameText()
    {
        Assert.Equal(GrammarCorpus.Generate(5, 100), GrammarCorpus.Generate(5, 100));
        Assert.NotEqual(GrammarCorpus.Generate(5, 100), GrammarCorpus.Generate(6, 100));
    }

    [Fact]
    public void GenerateWithRepeats_FreshSentencesInOrder_EachRepeatCopiesOneOfTheLastFour()
    {
        string[] fresh = Sentences(3, 2000);
        string[] lines = GrammarCorpus.GenerateWithRepeats(3, 2000, repeatShare: 0.5, window: 4).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Walk the lines: each is either the next fresh sentence or a copy of one of the four latest fresh ones.
        int next = 0, repeats = 0;
        foreach (string line in lines)
        {
            if (next < fresh.Length && line == fresh[next]) { next++; continue; }
            Assert.True(next > 0, "a repeat before any fresh sentence");
            Assert.Contains(line, fresh[Math.Max(0, next - 4)..next]);
            repeats++;
        }
        Assert.Equal(fresh.Length, next);
        // Geometric repeats with p = 0.5: about one repeat per fresh sentence (binomial spread ~ 45 over 2,000).
        Assert.InRange(repeats, 1700, 2300);
        Assert.Equal(GrammarCorpus.Generate(3, 0), GrammarCorpus.GenerateWithRepeats(3, 0));
        Assert.Equal(string.Join('\n', fresh) + "\n", GrammarCorpus.GenerateWithRepeats(3, 2000, repeatShare: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => GrammarCorpus.GenerateWithRepeats(3, 10, repeatShare: 1));
    }

    [Fact]
    public void Vocabulary_Size_BetweenFortyAndEighty()
    {
        Assert.InRange(GrammarCorpus.Vocabulary.Count, 40, 80);
        var used = Sentences(2, 3000).SelectMany(s => s.TrimEnd('.').Split(' ')).ToHashSet();
        Assert.Equal(GrammarCorpus.Vocabulary.Order(StringComparer.Ordinal), used.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("the cat sleeps.")]
    [InlineData("the cats sleep.")]
    [InlineData("a lazy dog chases the birds near two tall horses.")]
    [InlineData("these children laugh quietly.")]
    [InlineData("every farmer waits behind the green horse.")]
    [InlineData("the fox near the dog with a cat under the boys sings.")] // deeper than the sampler goes
    [InlineData("  the men help a woman.  ")]
    public void IsGrammatical_ValidSentence_True(string sentence) => Assert.True(GrammarCorpus.IsGrammatical(sentence));

    [Theory]
    [InlineData("the cats sleeps.")]          // subject-verb agreement
    [InlineData("the cat sleep.")]
    [InlineData("these cat sleeps.")]         // determiner-noun agreement
    [InlineData("a dogs run.")]
    [InlineData("the dog chases a birds.")]   // agreement inside the object
    [InlineData("cat the sleeps.")]           // order
    [InlineData("the cat sleeps")]            // no period
    [InlineData("the cat sleeps .")]          // detached period
    [InlineData("the  cat sleeps.")]          // doubled space
    [InlineData("the cat chases.")]           // transitive without object
    [InlineData("the cat sleeps the dog.")]   // intransitive with object
    [InlineData("the big red cat sleeps.")]   // at most one adjective
    [InlineData("the cat purrs.")]            // unknown word
    [InlineData("The cat sleeps.")]           // lowercase only
    [InlineData("")]
    [InlineData(".")]
    public void IsGrammatical_InvalidSentence_False(string sentence) => Assert.False(GrammarCorpus.IsGrammatical(sentence));

    [Fact]
    public void IsGrammatical_VerbNumberFlipped_False()
    {
        // Each sentence has exactly one verb; flipping its number always breaks subject-verb agreement.
        var flip = new Dictionary<string, string>
        {
            ["sees"] = "see", ["chases"] = "chase", ["likes"] = "like", ["finds"] = "find", ["follows"] = "follow", ["helps"] = "help",
            ["sleeps"] = "sleep", ["runs"] = "run", ["sings"] = "sing", ["waits"] = "wait", ["laughs"] = "laugh",
        };
        foreach (var (k, v) in flip.ToArray()) flip[v] = k;
        foreach (var s in Sentences(3, 500))
        {
            var words = s.TrimEnd('.').Split(' ');
            int verbs = words.Count(flip.ContainsKey);
            Assert.Equal(1, verbs);
            string broken = string.Join(' ', words.Select(w => flip.GetValueOrDefault(w, w))) + ".";
            Assert.False(GrammarCorpus.IsGrammatical(broken), broken);
        }
    }

    [Fact]
    public void IsGrammatical_ShuffledWords_AlmostNeverTrue()
    {
        var rng = new Rng(11);
        int tried = 0, accepted = 0;
        foreach (var s in Sentences(4, 500))
        {
            var words = s.TrimEnd('.').Split(' ');
            if (words.Length < 4) continue;
            var shuffled = words.ToArray();
            for (int i = shuffled.Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (shuffled[i], shuffled[j]) = (shuffled[j], shuffled[i]); }
            if (shuffled.SequenceEqual(words)) continue;
            tried++;
            if (GrammarCorpus.IsGrammatical(string.Join(' ', shuffled) + ".")) accepted++; // e.g. swapping two NPs is still fine
        }
        Assert.True(tried > 300);
        Assert.True(accepted < tried / 20, $"{accepted} of {tried} shuffled sentences parsed");
    }

    [Fact]
    public void Evaluate_MixedSamples_CountsShareAndSkipsBlank()
    {
        var report = GrammarCorpus.Evaluate(["the cat sleeps.", "the cat sleep.", "", "  ", "two boys run."]);
        Assert.Equal(3, report.Total);
        Assert.Equal(2, report.Grammatical);
        Assert.Equal(2.0 / 3, report.Share, 12);
        Assert.Equal(0, GrammarCorpus.Evaluate([]).Share);
    }
}
