// Tests of the GPT-2 (r50k_base) and cl100k encodings: known ids, the library as oracle, round trips, token bytes.
using System.Text;
using Microsoft.ML.Tokenizers;
using NextToken.Tokenization;

namespace NextToken.Tests.Tokenization;

public sealed class TiktokenEncodingTests
{
    [Fact]
    public void Encode_HelloWorldGpt2_Gives15496And995()
    {
        Assert.Equal([15496, 995], TiktokenEncoding.Gpt2.Encode("Hello world"));
        Assert.Equal(50257, TiktokenEncoding.Gpt2.VocabSize);
        Assert.Equal(50256, TiktokenEncoding.Gpt2.EndOfTextId);
    }

    [Fact]
    public void Encode_HelloWorldCl100k_Gives9906And1917()
    {
        Assert.Equal([9906, 1917], TiktokenEncoding.Cl100k.Encode("Hello world"));
        Assert.Equal(100257, TiktokenEncoding.Cl100k.EndOfTextId);
        Assert.Equal(100277, TiktokenEncoding.Cl100k.VocabSize);
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("cl100k")]
    public void EncodeDecode_UnicodeAndSpecials_RoundTrip(string kind)
    {
        var tok = TiktokenEncoding.ForKind(kind);
        foreach (string text in new[] { "", "?", "naïve café 日本語 👍🏽👨‍👩‍👧 e\u0301", "a<|endoftext|>b", "  \n\n\t x" })
            Assert.Equal(text, tok.Decode(tok.Encode(text)));
        Assert.Equal(tok.EndOfTextId, tok.Encode("<|endoftext|>").Single());
    }

    [Fact]
    public void TokenBytes_EmojiSplitOverTokens_ConcatenatesToUtf8()
    {
        var tok = TiktokenEncoding.Gpt2;
        string text = "🦙 llama";
        int[] ids = tok.Encode(text);
        var bytes = ids.SelectMany(id => tok.TokenBytes(id).ToArray()).ToArray();
        Assert.Equal(Encoding.UTF8.GetBytes(text), bytes);
        Assert.Contains(ids, id => !IsValidUtf8(tok.TokenBytes(id))); // the emoji is split into partial UTF-8 tokens
        Assert.Equal(" world", Encoding.UTF8.GetString(tok.TokenBytes(995)));
    }

    private static bool IsValidUtf8(ReadOnlySpan<byte> b) => System.Text.Unicode.Utf8.IsValid(b);

    [SharedDataFact]
    public void Encode_TinyShakespeareGpt2_EqualsLibraryR50kAndRoundTrips()
    {
        string text = SharedData.ReadText("tinyshakespeare.txt");
        var oracle = TiktokenTokenizer.CreateForEncoding("r50k_base");
        int[] ids = TiktokenEncoding.Gpt2.Encode(text);
        Assert.Equal(oracle.EncodeToIds(text), ids);
        Assert.Equal(338_025, ids.Length);
        Assert.Equal(text, TiktokenEncoding.Gpt2.Decode(ids));
    }
}
