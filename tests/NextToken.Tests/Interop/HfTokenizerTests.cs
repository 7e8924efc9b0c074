// Hugging Face tokenizer files: GPT-1's vocab.json + merges.txt with "</w>" and lower-casing, and a hand-written
// byte-level tokenizer.json with added tokens and the Digits pre-tokenizer, each checked on a worked example.
using System.Text.Json;
using NextToken.Interop;
using NextToken.Tests.Data;
using NextToken.Tokenization;

namespace NextToken.Tests.Interop;

public sealed class HfTokenizerTests
{
    [Fact]
    public void Gpt1Tokenizer_LowercasesSplitsPunctuationAndMarksWordEnds()
    {
        using var dir = new TempDir();
        string[] vocab = ["h", "e", "l", "o", "w", "r", "d</w>", ",</w>", "o</w>", "he", "ll", "llo</w>", "hello</w>", "<unk>"];
        File.WriteAllText(dir.File("vocab.json"), JsonSerializer.Serialize(vocab.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i)));
        File.WriteAllText(dir.File("merges.txt"), "#version: 0.2\nh e\nl l\nll o</w>\nhe llo</w>\n");
        var tok = HfTokenizer.TryLoad(dir.Path, HfArchitecture.OpenAiGpt)!;
        // "Héllo, World" → hello , world → hello</w> ,</w> w o r l d</w>
        int[] ids = tok.Encode("Héllo, World");
        Assert.Equal([12, 7, 4, 3, 5, 2, 6], ids);
        Assert.Equal("hello , world ", tok.Decode(ids));
        // Saved into a NextToken directory and loaded back through TokenizerStore.
        tok.Save(dir.File("saved"));
        var back = TokenizerStore.Load(dir.File("saved"));
        Assert.Equal("hf-bpe", back.Kind);
        Assert.Equal(ids, back.Encode("Héllo, World"));
    }

    private static void WriteTokenizerJson(string dir, bool digits)
    {
        var vocab = new Dictionary<string, int> { ["<|endoftext|>"] = 0, ["a"] = 1, ["b"] = 2, ["Ġ"] = 3, ["1"] = 4, ["2"] = 5, ["ab"] = 6, ["Ġ1"] = 7, ["12"] = 8 };
        object byteLevel = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true };
        object pre = digits
            ? new Dictionary<string, object> { ["type"] = "Sequence", ["pretokenizers"] = new object[] { new Dictionary<string, object> { ["type"] = "Digits", ["individual_digits"] = true }, byteLevel } }
            : byteLevel;
        var doc = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = new object[] { new Dictionary<string, object> { ["id"] = 0, ["content"] = "<|endoftext|>", ["special"] = true } },
            ["normalizer"] = null, ["pre_tokenizer"] = pre, ["decoder"] = new Dictionary<string, object> { ["type"] = "ByteLevel" },
            ["model"] = new Dictionary<string, object?> { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new[] { "a b", "Ġ 1", "1 2" } },
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), JsonSerializer.Serialize(doc));
    }

    [Theory]
    [InlineData(true, new[] { 6, 3, 4, 5, 0 })]   // Digits first: "ab", " ", "1", "2"
    [InlineData(false, new[] { 6, 7, 5, 0 })]     // GPT-2 split: "ab", " 12" → Ġ1 (rank 1) before 12 (rank 2)
    public void TokenizerJson_ByteLevel_WorkedExample(bool digits, int[] expected)
    {
        using var dir = new TempDir();
        WriteTokenizerJson(dir.Path, digits);
        var tok = HfTokenizer.TryLoad(dir.Path, HfArchitecture.Llama)!;
        Assert.Equal(9, tok.VocabSize);
        Assert.Equal(0, tok.EndOfTextId);
        Assert.Equal(expected, tok.Encode("ab 12<|endoftext|>"));
        Assert.Equal("ab 12<|endoftext|>", tok.Decode(expected));
    }
}
