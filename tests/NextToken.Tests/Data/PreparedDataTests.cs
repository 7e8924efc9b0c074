// Tests of PreparedData: prepare a text file or directory into train/val token files and load it back.
using NextToken.Data;
using NextToken.Tokenization;

namespace NextToken.Tests.Data;

public sealed class PreparedDataTests
{
    [Fact]
    public void Prepare_TextFile_SplitsNinetyTenAndRoundTrips()
    {
        using var dir = new TempDir();
        string text = string.Concat(Enumerable.Repeat("hello world, ", 77)) + "é😀";
        File.WriteAllText(dir.File("in.txt"), text);
        var data = PreparedData.Prepare(dir.File("in.txt"), "char", dir.File("out"));
        Assert.Equal(text.Length, data.TrainTokens + data.ValTokens + 1); // the emoji is one char token of two chars
        using var train = data.OpenTrain();
        using var val = data.OpenVal();
        string decoded = data.Tokenizer.Decode(train.ToArray()) + data.Tokenizer.Decode(val.ToArray());
        Assert.Equal(text, decoded);
        Assert.Equal(text[..(int)(text.Length * 0.9)], data.Tokenizer.Decode(train.ToArray()));

        var loaded = PreparedData.Load(dir.File("out"));
        Assert.Equal(data.VocabSize, loaded.VocabSize);
        Assert.Equal(data.TrainTokens, loaded.TrainTokens);
        Assert.Equal(data.ValTokens, loaded.ValTokens);
        Assert.Equal(0.1, loaded.ValFraction);
        Assert.Equal(data.TrainPath, loaded.TrainPath);
        Assert.True(File.Exists(Path.Combine(dir.File("out"), "tokenizer.json")));
        Assert.Contains("\"vocab_size\"", File.ReadAllText(Path.Combine(dir.File("out"), "meta.json")));
    }

    [Fact]
    public void BitsPerCharacter_CharAndGpt2_ScaleByTokensPerCharacter()
    {
        using var dir = new TempDir();
        string text = string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog. ", 40)) + "é😀";
        File.WriteAllText(dir.File("in.txt"), text);
        var chars = PreparedData.Prepare(dir.File("in.txt"), "char", dir.File("char"));
        // The emoji is two UTF-16 chars but one character.
        long valChars = text.Length - (int)(text.Length * 0.9) - 1;
        Assert.Equal(valChars, chars.ValCharacters);
        Assert.Equal(valChars, chars.ValTokens);
        Assert.Equal(2.0, chars.BitsPerCharacter(2 * Math.Log(2))!.Value, 12); // one token per character: bits per token

        var bpe = PreparedData.Prepare(dir.File("in.txt"), "gpt2", dir.File("bpe"));
        Assert.Equal(valChars, bpe.ValCharacters);
        Assert.True(bpe.ValTokens < valChars / 2, $"{bpe.ValTokens} gpt2 tokens for {valChars} characters");
        double expected = 3.0 / Math.Log(2) * bpe.ValTokens / valChars;
        Assert.Equal(expected, PreparedData.Load(dir.File("bpe")).BitsPerCharacter(3.0)!.Value, 12);
    }

    [Fact]
    public void Prepare_Directory_ConcatenatesTxtFilesSortedByName()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("docs"));
        File.WriteAllText(Path.Combine(dir.File("docs"), "b.txt"), "bbbb\n");
        File.WriteAllText(Path.Combine(dir.File("docs"), "a.txt"), "aaaa\n");
        File.WriteAllText(Path.Combine(dir.File("docs"), "skip.md"), "zzzz\n");
        var data = PreparedData.Prepare(dir.File("docs"), "char", dir.File("out"), 0.0);
        using var train = data.OpenTrain();
        Assert.Equal("aaaa\nbbbb\n", data.Tokenizer.Decode(train.ToArray()));
        Assert.Equal(0, data.ValTokens);
    }

    [Fact]
    public void Prepare_MissingInput_ThrowsFileNotFound()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => PreparedData.Prepare(dir.File("none.txt"), "char", dir.File("out")));
        Assert.Contains("none.txt", e.Message);
    }

    [Fact]
    public void Prepare_EmptyInput_ThrowsNamingFile()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("empty.txt"), "");
        var e = Assert.Throws<ArgumentException>(() => PreparedData.Prepare(dir.File("empty.txt"), "char", dir.File("out")));
        Assert.Equal($"input file '{dir.File("empty.txt")}' is empty", e.Message);
    }

    [Fact]
    public void Prepare_BadValFraction_Throws()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("in.txt"), "abc");
        Assert.Throws<ArgumentOutOfRangeException>(() => PreparedData.Prepare(dir.File("in.txt"), "char", dir.File("out"), 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => PreparedData.Prepare(dir.File("in.txt"), "char", dir.File("out"), -0.1));
    }

    [Fact]
    public void Load_DirectoryWithoutMeta_Throws()
    {
        using var dir = new TempDir();
        Assert.Throws<FileNotFoundException>(() => PreparedData.Load(dir.Path));
        Assert.Throws<DirectoryNotFoundException>(() => PreparedData.Load(dir.File("missing")));
    }

    [DataSharedFileFact("tinyshakespeare.txt")]
    public void Prepare_TinyShakespeare_NanoGptCounts()
    {
        using var dir = new TempDir();
        var data = PreparedData.Prepare(Path.Combine(DataSharedFileFactAttribute.Root, "tinyshakespeare.txt"), "char", dir.Path);
        // nanoGPT's shakespeare_char: vocab 65, 1,003,854 train and 111,540 val tokens.
        Assert.Equal(65, data.VocabSize);
        Assert.Equal(1_003_854, data.TrainTokens);
        Assert.Equal(111_540, data.ValTokens);
    }

    // A char tokenizer plus one extra id standing for <|endoftext|>, as GPT-2's has.
    private sealed class EotTokenizer(CharTokenizer inner) : ITokenizer
    {
        public string Kind => "test-eot";
        public int VocabSize => inner.VocabSize + 1;
        public int? EndOfTextId => inner.VocabSize;
        public int[] Encode(string text) => inner.Encode(text);
        public string Decode(ReadOnlySpan<int> ids) => string.Concat(ids.ToArray().Select(i => i == inner.VocabSize ? "|" : inner.Decode([i])));
        public ReadOnlySpan<byte> TokenBytes(int id) => inner.TokenBytes(id);
        public void Save(string directory) => File.WriteAllText(Path.Combine(directory, "tokenizer.json"), "{}");
    }

    [Fact]
    public void Prepare_DirectoryWithEndOfText_SeparatesDocumentsButNotTheSplit()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("docs"));
        File.WriteAllText(Path.Combine(dir.File("docs"), "1.txt"), "aaaa");
        File.WriteAllText(Path.Combine(dir.File("docs"), "2.txt"), "bbbb");
        File.WriteAllText(Path.Combine(dir.File("docs"), "3.txt"), "cc");
        var tok = new EotTokenizer(CharTokenizer.FromText("abc"));
        var data = PreparedData.Prepare(dir.File("docs"), tok, dir.File("out"), 0.2); // 10 chars: cut after 8
        using var train = data.OpenTrain();
        using var val = data.OpenVal();
        Assert.Equal("aaaa|bbbb", tok.Decode(train.ToArray()));
        Assert.Equal("cc", tok.Decode(val.ToArray()));
        var split = PreparedData.Prepare(dir.File("docs"), tok, dir.File("out2"), 0.5); // cut inside 2.txt
        using var train2 = split.OpenTrain();
        using var val2 = split.OpenVal();
        Assert.Equal("aaaa|b", tok.Decode(train2.ToArray()));
        Assert.Equal("bbb|cc", tok.Decode(val2.ToArray()));
    }
}
