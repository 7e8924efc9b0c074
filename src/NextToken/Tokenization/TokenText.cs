// TokenText: byte-level decoding shared by the BPE tokenizers (concatenate token bytes, then UTF-8 decode).
using System.Buffers;
using System.Text;

namespace NextToken.Tokenization;

/// <summary>Decodes ids by concatenating <see cref="ITokenizer.TokenBytes"/>; invalid UTF-8 becomes U+FFFD.</summary>
internal static class TokenText
{
    /// <summary>
    /// Replaces unpaired UTF-16 surrogates with U+FFFD, as UTF-8 encoding does, so the encoders see the text its
    /// UTF-8 bytes stand for (Microsoft.ML.Tokenizers would otherwise write 3 invalid bytes per lone surrogate).
    /// </summary>
    public static string ReplaceLoneSurrogates(string text)
    {
        var span = text.AsSpan();
        int i = span.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0) return text;
        char[]? copy = null;
        for (; i < span.Length; i++)
        {
            char c = span[i];
            if (!char.IsSurrogate(c)) continue;
            if (char.IsHighSurrogate(c) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1])) { i++; continue; }
            copy ??= span.ToArray();
            copy[i] = '\uFFFD';
        }
        return copy is null ? text : new string(copy);
    }

    public static string Decode(ITokenizer tokenizer, ReadOnlySpan<int> ids)
    {
        var buffer = new ArrayBufferWriter<byte>(Math.Max(16, ids.Length * 4));
        foreach (int id in ids) buffer.Write(tokenizer.TokenBytes(id));
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
