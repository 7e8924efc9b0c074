// Tests of saving, loading and creating tokenizers: every kind round-trips through tokenizer.json; bad files fail clearly.
using Microsoft.ML.Tokenizers;
using NextToken.Tokenization;
using MlBpe = Microsoft.ML.Tokenizers.BpeTokenizer;

namespace NextToken.Tests.Tokenization;

public sealed class TokenizerStoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nt-tok-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    private const string Corpus = "The quick brown fox jumps over the lazy dog.\nThe dog sleeps; the fox runs!\nnaïve café 👍 1234567\n";

    [Theory]
    [InlineData("char")]
    [InlineData("gpt2")]
    [InlineData("cl100k")]
    public void SaveLoad_BuiltInKinds_SameEncoding(string spec)
    {
        var tok = TokenizerFactory.Create(spec, Corpus);
        tok.Save(_dir);
        var back = TokenizerStore.Load(_dir);
        Assert.Equal(tok.Kind, back.Kind);
        Assert.Equal(tok.VocabSize, back.VocabSize);
        Assert.Equal(tok.Encode(Corpus), back.Encode(Corpus));
    }

    [Fact]
    public void SaveLoad_TrainedBpe_SameVocabularyMergesAndEncoding()
    {
        var tok = BpeTrainer.Train(Corpus, new BpeTrainerOptions { VocabSize = 300, MinFrequency = 1, SpecialTokens = ["<|endoftext|>", "<|user|>"], Pattern = "cl100k" }).Tokenizer;
        tok.Save(_dir);
        foreach (var f in new[] { "tokenizer.json", "bpe.tiktoken", "vocab.json", "merges.txt", "vocab.txt" }) Assert.True(File.Exists(Path.Combine(_dir, f)), f);
        var back = Assert.IsType<NextToken.Tokenization.BpeTokenizer>(TokenizerFactory.Create(_dir));
        Assert.Equal(tok.VocabSize, back.VocabSize);
        Assert.Equal("cl100k", back.Pattern);
        Assert.Equal(tok.Merges, back.Merges);
        Assert.Equal(tok.SpecialTokens, back.SpecialTokens);
        string text = Corpus + "<|user|>unseen words<|endoftext|>";
        Assert.Equal(tok.Encode(text), back.Encode(text));
        for (int id = 0; id < tok.VocabSize; id++) Assert.Equal(tok.TokenBytes(id).ToArray(), back.TokenBytes(id).ToArray());
        // tokenizer.json itself is accepted as the spec too.
        Assert.Equal(tok.Encode(text), TokenizerFactory.Create(Path.Combine(_dir, "tokenizer.json")).Encode(text));
    }

    [Fact]
    public void SavedVocabJsonAndMerges_ReadByLibraryBpe_EncodeLikeTiktokenPath()
    {
        var tok = BpeTrainer.Train(Corpus + Corpus.ToUpperInvariant(), new BpeTrainerOptions { VocabSize = 320, MinFrequency = 1, SpecialTokens = [] }).Tokenizer;
        tok.Save(_dir);
        var options = new BpeOptions(Path.Combine(_dir, "vocab.json"), Path.Combine(_dir, "merges.txt"))
        {
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(BpePatterns.Create("gpt2"), null),
        };
        var library = MlBpe.Create(options);
        string text = "The lazy fox sleeps, the quick dog runs.";
        Assert.Equal(tok.Encode(text), library.EncodeToIds(text));
    }

    [Fact]
    public void Load_WrongFormatFiles_ThrowInvalidData()
    {
        Directory.CreateDirectory(_dir);
        string json = Path.Combine(_dir, TokenizerStore.FileName);
        File.WriteAllText(json, "not json");
        Assert.Contains("not valid JSON", Assert.Throws<InvalidDataException>(() => TokenizerStore.Load(_dir)).Message);
        File.WriteAllText(json, "[1,2]");
        Assert.Throws<InvalidDataException>(() => TokenizerStore.Load(_dir));
        File.WriteAllText(json, """{"kind":"sentencepiece"}""");
        Assert.Contains("sentencepiece", Assert.Throws<InvalidDataException>(() => TokenizerStore.Load(_dir)).Message);
        File.WriteAllText(json, """{"kind":"bpe","pattern":"gpt2","ranks":"bpe.tiktoken","merges":"merges.txt"}""");
        File.WriteAllText(Path.Combine(_dir, "bpe.tiktoken"), "hello there\n");
        Assert.Contains("tiktoken", Assert.Throws<InvalidDataException>(() => TokenizerStore.Load(_dir)).Message);
        string other = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(other, "text");
        Assert.Throws<InvalidDataException>(() => TokenizerFactory.Create(other));
    }

    [Fact]
    public void Create_UnknownSpec_ThrowsListingChoices()
    {
        var e = Assert.Throws<ArgumentException>(() => TokenizerFactory.Create("no-such-tokenizer"));
        Assert.Contains("gpt2", e.Message);
    }
}
