// Streaming: stop strings across token boundaries, pieces that concatenate to the text, emoji never emitted half,
// and each TextPiece carrying exactly the tokens whose text it completes.
using System.Text;
using NextToken.Generation;
using NextToken.Tokenization;

namespace NextToken.Tests.Generation;

public sealed class StreamingTests
{
    private static bool IsWholeText(string s)
    {
        if (s.Contains('\uFFFD')) return false;
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i])) { if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1])) return false; i++; }
            else if (char.IsLowSurrogate(s[i])) return false;
        }
        return true;
    }

    [Fact]
    public void Decoder_StopStringSplitAcrossTokens_IsCaughtAndExcluded()
    {
        var d = new StreamingTextDecoder(["STOP", "zz"]);
        var pieces = new List<string>();
        foreach (var t in new[] { "hel", "lo S", "T", "O", "P and more" })
        {
            pieces.Add(d.Append(Encoding.UTF8.GetBytes(t)));
            Assert.DoesNotContain("S", string.Concat(pieces)); // a possible stop prefix is held back
        }
        Assert.True(d.Stopped);
        Assert.Equal("hello ", d.Text);
        Assert.Equal("hello ", string.Concat(pieces) + d.Finish());
    }

    [Fact]
    public void Decoder_PrefixThatIsNotAStop_IsReleased()
    {
        var d = new StreamingTextDecoder(["STOP"]);
        Assert.Equal("a", d.Append("aST"u8));
        Assert.Equal("STx", d.Append("x"u8));
        Assert.Equal("ST", d.Append("ST"u8) + d.Finish());
        Assert.False(d.Stopped);
        Assert.Equal("aSTxST", d.Text);
    }

    [Fact]
    public void Decoder_EmojiSplitOverByteTokens_NeverEmittedHalf()
    {
        var gpt2 = TiktokenEncoding.Gpt2;
        const string text = "hi 😀🎉 ok 👩‍💻!";
        int[] ids = gpt2.Encode(text);
        Assert.Contains(ids, id => !IsWholeText(Encoding.UTF8.GetString(gpt2.TokenBytes(id)))); // some token is part of a character
        var d = new StreamingTextDecoder();
        var pieces = ids.Select(id => d.Append(gpt2.TokenBytes(id))).Append(d.Finish()).Where(p => p.Length > 0).ToList();
        Assert.All(pieces, p => Assert.True(IsWholeText(p), $"piece '{p}' splits a character"));
        Assert.Equal(text, string.Concat(pieces));
    }

    [Fact]
    public void Decoder_InvalidTrailingBytes_BecomeReplacementAtFinish()
    {
        var d = new StreamingTextDecoder();
        Assert.Equal("a", d.Append([(byte)'a', 0xF0, 0x9F]));
        Assert.Equal("\uFFFD", d.Finish());
    }

    [Fact]
    public async Task StreamAsync_GeneratedEmoji_PiecesWholeAndConcatenateToText()
    {
        var gpt2 = TiktokenEncoding.Gpt2;
        int[] script = gpt2.Encode("Q: 😀🎉👍 done STOP after");
        var model = new ScriptedLm(gpt2.VocabSize, script);
        var g = new Generator(model, gpt2);
        var o = new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = 40, StopStrings = [" STOP"] };
        var result = g.Generate(script[..1], o);
        Assert.Equal(FinishReason.Stop, result.Best.FinishReason);
        Assert.Equal(" 😀🎉👍 done", result.Best.Text[result.Best.Text.IndexOf(' ')..]);
        var pieces = new List<string>();
        await foreach (var piece in g.StreamAsync(script[..1], o)) pieces.Add(piece);
        Assert.True(pieces.Count > 3);
        Assert.All(pieces, p => Assert.True(IsWholeText(p), $"piece '{p}' splits a character"));
        Assert.Equal(result.Best.Text, string.Concat(pieces));
    }

    [Theory]
    [InlineData(DecodingStrategy.Greedy)]
    [InlineData(DecodingStrategy.Contrastive)]
    [InlineData(DecodingStrategy.PromptLookup)]
    [InlineData(DecodingStrategy.Beam)]
    public void Generate_StopStringAcrossTokens_EveryStrategyStopsAndExcludesIt(DecodingStrategy strategy)
    {
        var tok = new CharTokenizer("\n abcdehlorw".Select(c => c.ToString()));
        int[] script = tok.Encode("\nhello world\nabc");
        var g = new Generator(new ScriptedLm(tok.VocabSize, script), tok);
        var r = g.Generate(script[..1], new GenerationOptions { Strategy = strategy, Temperature = 0, MaxNewTokens = 30, StopStrings = ["lo w", "xyz"], Beams = 2 });
        Assert.Equal("hel", r.Best.Text);
        Assert.Equal(FinishReason.Stop, r.Best.FinishReason);
    }

    [Fact]
    public void Generate_EndOfText_EndsWithoutItsText()
    {
        var gpt2 = TiktokenEncoding.Gpt2;
        int[] script = gpt2.Encode("x one two<|endoftext|> three");
        var r = new Generator(new ScriptedLm(gpt2.VocabSize, script), gpt2).Generate(script[..1], new GenerationOptions { Temperature = 0, MaxNewTokens = 20 });
        Assert.Equal(FinishReason.EndOfText, r.Best.FinishReason);
        Assert.Equal(" one two", r.Best.Text);
        Assert.Equal(gpt2.EndOfTextId, r.Best.Tokens[^1]);
    }

    [Fact]
    public async Task GeneratePiecesAsync_CharTokens_EachPieceCarriesExactlyTheTokensItSpells_StopTokensLeftOver()
    {
        // "aab" is a stop string: "a", then "aa" are held back; "aaay" releases "a" first (one token), then "aay" (three).
        var tok = new CharTokenizer("\nabxy".Select(c => c.ToString()));
        int[] script = tok.Encode("\nxaaayaabxx");
        var g = new Generator(new ScriptedLm(tok.VocabSize, script), tok);
        using var scheduler = new BatchScheduler(g);
        var pieces = new List<TextPiece>();
        var r = (await scheduler.GeneratePiecesAsync(script[..1], new GenerationOptions { Temperature = 0, MaxNewTokens = 30, StopStrings = ["aab"] }, pieces.Add)).Best;
        Assert.Equal("xaaay", r.Text);
        Assert.Equal(FinishReason.Stop, r.FinishReason);
        Assert.Equal(["x", "a", "aay"], pieces.Select(p => p.Text));
        Assert.All(pieces, p => Assert.Equal(p.Text, tok.Decode(p.Tokens.Select(t => t.Token).ToArray())));
        var carried = pieces.SelectMany(p => p.Tokens).ToList();
        Assert.Equal(r.Logprobs.Take(carried.Count), carried);
        Assert.Equal("aab", tok.Decode(r.Logprobs.Skip(carried.Count).Select(t => t.Token).ToArray())); // only in the sequence
    }

    [Fact]
    public async Task GeneratePiecesAsync_EmojiOverByteTokens_PiecesAndTheirTokensDecodeToTheText()
    {
        var gpt2 = TiktokenEncoding.Gpt2;
        int[] script = gpt2.Encode("Q: 😀🎉👍 done STOP after");
        var g = new Generator(new ScriptedLm(gpt2.VocabSize, script), gpt2);
        using var scheduler = new BatchScheduler(g);
        var pieces = new List<TextPiece>();
        var o = new GenerationOptions { Temperature = 0, MaxNewTokens = 40, StopStrings = [" STOP"], TopLogprobs = 2 };
        var r = (await scheduler.GeneratePiecesAsync(script[..1], o, pieces.Add)).Best;
        Assert.Equal(r.Text, string.Concat(pieces.Select(p => p.Text)));
        var carried = pieces.SelectMany(p => p.Tokens).ToList();
        Assert.Equal(r.Logprobs.Take(carried.Count), carried);
        Assert.Equal(r.Text, gpt2.Decode(carried.Select(t => t.Token).ToArray())); // no token is missing or beyond the text
        Assert.Equal(" STOP", gpt2.Decode(r.Logprobs.Skip(carried.Count).Select(t => t.Token).ToArray()));
        Assert.All(carried, t => Assert.Equal(2, t.TopLogprobs.Count));
    }
}
