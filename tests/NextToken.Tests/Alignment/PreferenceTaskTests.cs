// builtin:preferences: the true reward on hand-written responses, the prompts' split, the labeler's noise rate, and the
// preference JSONL reader's errors.
using NextToken.Alignment;
using NextToken.Tensors;
using NextToken.Tests.Data;

namespace NextToken.Tests.Alignment;

public sealed class PreferenceTaskTests
{
    [Theory]
    [InlineData("the cat", " sees the dog.\n", 1.0)]
    [InlineData("the cat", " sees the dog near the fox.\n", 2.0)]
    [InlineData("the cat", " sees the dog near the fox with a bird.\n", 1.5)]   // 9 words: 3 animals − 0.5·3
    [InlineData("the cat", " sleeps.\n", 0.0)]
    [InlineData("the cat", " sees the man.\n", 0.0)]
    [InlineData("some happy foxes", " chase two horses.\n", 1.0)]
    [InlineData("the cat", " see the dog.\n", -1.0)]                           // agreement error
    [InlineData("the cat", " sees the dog.", -1.0)]                            // unfinished: no end-of-response newline
    [InlineData("the cat", " sees the dog.\nthe dog sleeps.\n", -1.0)]         // two sentences
    [InlineData("a dog", " runs near the horses quietly.\n", -1.0)]            // an adverb after a PP is not in the grammar
    public void TrueReward_MatchesTheDefinition(string prompt, string response, double expected) =>
        Assert.Equal(expected, PreferenceTask.TrueReward(prompt, response), 12);

    [Fact]
    public void Prompts_AreEveryOpeningNounPhrase_SplitNineToOne()
    {
        Assert.Equal(1452, PreferenceTask.AllPrompts.Count);
        Assert.Equal(1452, PreferenceTask.AllPrompts.Distinct().Count());
        Assert.Equal(146, PreferenceTask.HeldOutPrompts.Count);
        Assert.Empty(PreferenceTask.TrainPrompts.Intersect(PreferenceTask.HeldOutPrompts));
        foreach (var p in PreferenceTask.AllPrompts.Take(50)) Assert.True(PreferenceTask.TrueReward(p, " sleeps.\n") == 0 || PreferenceTask.TrueReward(p, " sleep.\n") == 0, p);
    }

    [Fact]
    public void Labeler_DisagreesAsBradleyTerryPredicts()
    {
                var rng = new Rng(5);
        int n = 20000, agree = 0;
        for (int i = 0; i < n; i++)
            if (PreferenceTask.Label("the cat", " sees the dog near a man.\n", " sees the dog near the man with a boy.\n", ref rng) == true) agree++;
        // Rewards 1 and 1 − 0.5·3 = −0.5: gap 1.5, σ(1.5/0.45) = 0.96555.
        Assert.InRange(agree / (double)n, 0.96555 - 0.005, 0.96555 + 0.005);
        rng = new Rng(6);
        agree = 0;
        for (int i = 0; i < n; i++)
            if (PreferenceTask.Label("the cat", " sees the dog near the man.\n", " sees the dog near the big man.\n", ref rng) == true) agree++;
        Assert.InRange(agree / (double)n, 0.75230 - 0.012, 0.75230 + 0.012); // rewards 1 and 0.5: σ(0.5/0.45)
        Assert.Null(PreferenceTask.Label("the cat", " sleeps.\n", " runs.\n", ref rng)); // equal true reward: no label
    }

    [Fact]
    public void NoiseCeiling_IsTheMeanBradleyTerryAgreement()
    {
        var pairs = new[] { new LabeledPair("p", "a", "b", 1, 0.5), new LabeledPair("p", "a", "b", 0, 1) };
        double expected = (PolicyMath.Sigmoid(0.5 / 0.45) + PolicyMath.Sigmoid(1 / 0.45)) / 2;
        Assert.Equal(expected, PreferenceTask.NoiseCeiling(pairs), 12);
    }

    [Fact]
    public void PreferenceData_ReadsBothShapes_SkipsIdenticalPairs()
    {
        var set = PreferenceData.Parse([
            """{"prompt":"p","chosen":"a","rejected":"b"}""",
            """{"prompt":"p","chosen":"same","rejected":"same"}""",
            "",
            """{"prompt":"q","responses":["x","y","z"]}""",
        ], "prefs.jsonl");
        Assert.Equal(2, set.Examples.Count);
        Assert.Equal(1, set.SkippedIdentical);
        Assert.Equal(1 + 3, set.PairCount);
        Assert.Equal([(0, 1), (0, 2), (1, 2)], set.Examples[1].Pairs().ToArray());
    }

    [Theory]
    [InlineData("""{"chosen":"a","rejected":"b"}""", "prefs.jsonl:1: missing string field \"prompt\"")]
    [InlineData("""{"prompt":"p","chosen":"a"}""", "prefs.jsonl:1: missing string field \"rejected\"")]
    [InlineData("""{"prompt":"p","text":"a"}""", "prefs.jsonl:1: expected \"chosen\" and \"rejected\"")]
    [InlineData("""{"prompt":"p","responses":["a"]}""", "prefs.jsonl:1: \"responses\" needs at least two")]
    [InlineData("""{"prompt":"p","responses":["a", 3]}""", "prefs.jsonl:1: responses[1] is not a string")]
    [InlineData("""{"prompt":"p",""", "prefs.jsonl:1: not valid JSON")]
    [InlineData("""{"prompt":"p","chosen":"a","rejected":"a"}""", "prefs.jsonl: no preference pairs (1 lines had identical responses)")]
    public void PreferenceData_BadLines_OneLineErrorNamingFileAndLine(string line, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => PreferenceData.Parse([line], "prefs.jsonl"));
        Assert.StartsWith(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
