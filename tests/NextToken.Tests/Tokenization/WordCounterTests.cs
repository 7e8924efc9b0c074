// Tests of parallel, chunked word counting: it must equal one regex pass over the whole text.
using System.Text;
using NextToken.Tokenization;

namespace NextToken.Tests.Tokenization;

public sealed class WordCounterTests
{
    private static Dictionary<string, long> Naive(string text, string pattern, string[] specials)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var regex = BpePatterns.Create(pattern);
        foreach (var (start, length) in WordCounter.SplitOnSpecials(text, specials))
            foreach (System.Text.RegularExpressions.Match m in regex.Matches(text.Substring(start, length)))
                counts[m.Value] = counts.GetValueOrDefault(m.Value) + 1;
        return counts;
    }

    private static string TrickyText(int approxChars)
    {
        // Lines with every kind of boundary the patterns care about: runs of spaces and newlines, CRLF, digits,
        // punctuation before newlines, contractions, non-Latin letters, specials.
        string[] lines = ["Second Speaker:", "", "  indented   words  ", "numbers 1234567 and 3.14\r", "Don't SHOUT; we'll see.",
            "tabs\tand\t\ttabs", "日本語のテキスト。", "emoji 👍🏽 here", "end with spaces   ", "<|endoftext|>", "", "", "x"];
        var sb = new StringBuilder();
        for (int i = 0; sb.Length < approxChars; i++) sb.Append(lines[i % lines.Length]).Append(i % 7 == 0 ? "\n\n" : "\n");
        return sb.ToString();
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("cl100k")]
    public void Count_TextOfSeveralChunks_EqualsWholeTextRegex(string pattern)
    {
        string text = TrickyText(WordCounter.ChunkChars * 3 + 12345);
        string[] specials = ["<|endoftext|>"];
        var expected = Naive(text, pattern, specials);
        var inMemory = WordCounter.Count(text, pattern, specials, threads: 3);
        var streamed = WordCounter.Count(new StringReader(text), pattern, specials, threads: 2);
        Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), inMemory.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), streamed.OrderBy(p => p.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void Count_NoSafeCutPoints_StillCountsEverything()
    {
        string text = string.Concat(Enumerable.Repeat("word ", WordCounter.ChunkChars / 2)); // no newlines at all
        var counts = WordCounter.Count(new StringReader(text), "gpt2", [], threads: 2);
        Assert.Equal(WordCounter.ChunkChars / 2 - 1, counts[" word"]);
        Assert.Equal(1, counts["word"]);
    }

    [SharedDataFact]
    public void Count_TinyShakespeare_EqualsWholeTextRegex()
    {
        string text = SharedData.ReadText("tinyshakespeare.txt");
        var expected = Naive(text, "gpt2", []);
        Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), WordCounter.Count(text, "gpt2", [], 2).OrderBy(p => p.Key, StringComparer.Ordinal));
    }
}
