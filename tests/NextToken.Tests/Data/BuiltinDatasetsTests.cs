// Tests of the built-in datasets: each prepares into an ordinary directory that loads and batches.
using NextToken.Data;

namespace NextToken.Tests.Data;

public sealed class BuiltinDatasetsTests
{
    [Fact]
    public void PrepareBuiltin_Grammar_ValIsWholeGrammaticalSentences()
    {
        using var dir = new TempDir();
        var data = BuiltinDatasets.PrepareBuiltin("grammar", dir.Path, 1);
        Assert.InRange(data.TrainTokens, 200_000, 400_000);
        Assert.InRange(data.VocabSize, 257, 1024);
        // Word-level: every word of the grammar after a space is one token, and so is every sentence opener (determiners).
        foreach (var word in GrammarCorpus.Vocabulary) Assert.Single(data.Tokenizer.Encode(" " + word));
        foreach (var opener in new[] { "a", "the", "every", "this", "that", "some", "many", "these", "those", "two" })
            Assert.Single(data.Tokenizer.Encode(opener));
        using var val = data.OpenVal();
        var lines = data.Tokenizer.Decode(val.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(BuiltinDatasets.GrammarSentences / 10, lines.Length);
        Assert.Equal(1.0, GrammarCorpus.Evaluate(lines).Share);
        var loaded = PreparedData.Load(dir.Path);
        using var train = loaded.OpenTrain();
        var loader = new BatchLoader(train, 4, 64, BatchOrder.Random, 0);
        loader.Next(new int[256], new int[256]);
    }

    [Fact]
    public void PrepareBuiltin_Addition_ValIsHeldOutProblems()
    {
        using var dir = new TempDir();
        var data = BuiltinDatasets.PrepareBuiltin("addition", dir.Path, 42);
        Assert.Equal(13, data.VocabSize); // 0-9 + = \n
        using var val = data.OpenVal();
        var expected = AdditionTask.HeldOutProblems(BuiltinDatasets.AdditionDigits, 42, BuiltinDatasets.AdditionHeldOutFraction);
        Assert.Equal(string.Concat(expected.Select(p => p.Prompt + p.Expected + "\n")), data.Tokenizer.Decode(val.ToArray()));
    }

    [Fact]
    public void PrepareBuiltin_Icl_LabelsAreOneTokenWithTheirSpace()
    {
        using var dir = new TempDir();
        var data = BuiltinDatasets.PrepareBuiltin("icl", dir.Path, 3);
        // As GPT-2's BPE writes the harness's format: a letter and " R" one token each; a blank line before the next letter
        // is "\n" "\n" (the pre-tokenizer keeps the last whitespace for the word), at the end one "\n\n" token.
        foreach (var label in NextToken.Evaluation.Tasks.IclEpisodes.Labels) Assert.Single(data.Tokenizer.Encode(" " + label));
        for (char k = 'a'; k <= 'z'; k++) Assert.Single(data.Tokenizer.Encode(k.ToString()));
        Assert.Single(data.Tokenizer.Encode("\n\n"));
        Assert.Equal(11, data.Tokenizer.Encode("k R\n\nq D\n\nk R\n\n").Length);
        var copies = NextToken.Evaluation.Tasks.IclEpisodes.RandomEpisodes(data.Tokenizer, 64, count: 3);
        Assert.All(copies, c => Assert.Equal(8 * 4, c.Length)); // 8 examples of 4 tokens fill half of 64
        Assert.All(copies, c => Assert.Equal(8, c.Where((_, i) => i % 4 == 0).Distinct().Count())); // distinct letters
        using var val = data.OpenVal();
        Assert.StartsWith(NextToken.Evaluation.Tasks.IclEpisodes.Generate(1, 4, heldOut: true), data.Tokenizer.Decode(val.ToArray()));
    }

    [Fact]
    public void PrepareBuiltin_UnknownName_ThrowsListingNames()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<ArgumentException>(() => BuiltinDatasets.PrepareBuiltin("poems", dir.Path, 1));
        Assert.Contains("grammar", e.Message);
    }

    [Fact]
    public void TryParse_BuiltinPrefix_GivesName()
    {
        Assert.True(BuiltinDatasets.TryParse("builtin:grammar", out var name));
        Assert.Equal("grammar", name);
        Assert.False(BuiltinDatasets.TryParse("data/grammar.txt", out _));
        Assert.False(BuiltinDatasets.TryParse("builtin:", out _));
    }
}
