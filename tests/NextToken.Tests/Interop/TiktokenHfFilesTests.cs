// The built-in tiktoken vocabularies (gpt2 = r50k_base, cl100k) written as Hugging Face vocab.json + merges.txt: the
// merges are recovered from the ranks, and the files read back through an independent BPE (Microsoft.ML.Tokenizers'
// BpeTokenizer with those merges) must encode text to exactly the ids tiktoken gives.
using System.Text.Json;
using NextToken.Interop;
using NextToken.Tests.Data;
using NextToken.Tokenization;

namespace NextToken.Tests.Interop;

public sealed class TiktokenHfFilesTests
{
    private static readonly string[] Samples =
    [
        "Hello, world! It's a test: 12345 apples, 6 pears and 7890123 grapes.",
        "  leading spaces,\ttabs\nand\r\nnew lines\n\n\nThey'll say we've done it; I'M SURE.",
        "Unicode: naïve café — 東京 🚀 ÅÄÖ, ünïcödé; emoji 👍🏽 and symbols ∑∫√.",
        "def f(x):\n    return x**2 + 3*x - 1  # comment\n",
        "<|endoftext|>A special token inside text<|endoftext|>",
    ];

    [Theory]
    [InlineData("gpt2", 50_000)]
    [InlineData("cl100k", 100_000)]
    public void RecoveredMerges_EncodeLikeTiktoken(string kind, int merges)
    {
        var enc = TiktokenEncoding.ForKind(kind);
        var hf = HfTokenizer.FromTiktoken(enc);
        Assert.Equal(merges, hf.Merges.Count);
        Assert.Equal(enc.VocabSize, hf.VocabSize);
        Assert.Equal(enc.EndOfTextId, hf.EndOfTextId);
        foreach (string s in Samples) Assert.Equal(enc.Encode(s), hf.Encode(s));
    }

    [Fact]
    public void Gpt2Vocabulary_MatchesThePublishedFirstMerges()
    {
        // GPT-2's published merges.txt begins "Ġ t", "Ġ a", "h e", "i n", "r e", "o n" (ids 256.. in rank order).
        var hf = HfTokenizer.FromTiktoken(TiktokenEncoding.Gpt2);
        Assert.Equal(["Ġ t", "Ġ a", "h e", "i n", "r e", "o n"], hf.Merges.Take(6));
        Assert.Equal(50256, hf.Vocabulary["<|endoftext|>"]);
        Assert.Equal(0, hf.Vocabulary["!"]);
        Assert.Equal(220, hf.Vocabulary["Ġ"]);
    }

    [Fact]
    public void WrittenFiles_LoadBackAsAByteLevelTokenizer_WithAddedChatTokens()
    {
        using var dir = new TempDir();
        var tok = SpecialTokensTokenizer.Create(TiktokenEncoding.Gpt2, ["<|im_start|>", "<|im_end|>"]);
        HfTokenizer.From(tok)!.WriteHf(dir.Path);
        using (var vocab = JsonDocument.Parse(File.ReadAllText(dir.File("vocab.json"))))
            Assert.Equal(50_259, vocab.RootElement.EnumerateObject().Count());
        Assert.Equal(50_001, File.ReadAllLines(dir.File("merges.txt")).Count(l => l.Length > 0)); // + "#version" line
        var back = HfTokenizer.TryLoad(dir.Path, HfArchitecture.Gpt2)!; // reads tokenizer.json
        string text = "<|im_start|>user\nWhat's 2+2?<|im_end|>\n";
        Assert.Equal(tok.Encode(text), back.Encode(text));
        Assert.Equal(50257, back.Encode("<|im_start|>")[0]);
    }
}
