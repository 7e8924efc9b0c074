// StreamingTextDecoder: token bytes in, text pieces out — never half a UTF-8 character, never part of a stop string.
using System.Text;

namespace NextToken.Generation;

/// <summary>
/// Incremental detokeniser for streaming. Token bytes are decoded with a stateful UTF-8 decoder, which holds back an
/// incomplete byte sequence (GPT-2's byte-level tokens can split an emoji over several tokens) until the rest
/// arrives. Stop strings are matched in the decoded text, so one split across tokens is still found; text that
/// could be the start of a stop string is held back until it is known not to be one. The concatenated pieces equal
/// <see cref="Text"/>, which ends before the first stop string.
/// </summary>
public sealed class StreamingTextDecoder
{
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly string[] _stops;
    private char[] _text = new char[256];
    private char[] _chars = new char[64];
    private int _length, _emitted;

    /// <summary>Creates a decoder that ends at the first of <paramref name="stopStrings"/>.</summary>
    public StreamingTextDecoder(IReadOnlyList<string>? stopStrings = null)
    {
        _stops = stopStrings?.Where(s => !string.IsNullOrEmpty(s)).ToArray() ?? [];
    }

    /// <summary>True once a stop string was found; later input is ignored.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The text so far (complete characters only), cut before a stop string.</summary>
    public string Text => new(_text, 0, _length);

    /// <summary>Characters of <see cref="Text"/> so far (shown or held back), without building the string.</summary>
    internal int Length => _length;

    /// <summary>Decodes <paramref name="bytes"/> and returns the text that is now safe to show (often empty).</summary>
    public string Append(ReadOnlySpan<byte> bytes)
    {
        if (Stopped) return "";
        int need = _utf8.GetCharCount(bytes, flush: false);
        if (_chars.Length < need) _chars = new char[Math.Max(need, _chars.Length * 2)];
        int n = _utf8.GetChars(bytes, _chars, flush: false);
        return Add(_chars.AsSpan(0, n), final: false);
    }

    /// <summary>Ends the stream: trailing incomplete bytes become U+FFFD, held-back text is released.</summary>
    public string Finish()
    {
        if (Stopped) return "";
        int n = _utf8.GetChars(ReadOnlySpan<byte>.Empty, _chars, flush: true);
        return Add(_chars.AsSpan(0, n), final: true);
    }

    private string Add(ReadOnlySpan<char> chars, bool final)
    {
        int before = _length;
        if (_text.Length < _length + chars.Length) Array.Resize(ref _text, Math.Max(_length + chars.Length, _text.Length * 2));
        chars.CopyTo(_text.AsSpan(_length));
        _length += chars.Length;
        var text = _text.AsSpan(0, _length);

        // The earliest stop string that ends inside the new characters.
        int cut = -1;
        foreach (var s in _stops)
        {
            int from = Math.Max(0, before - s.Length + 1);
            int i = text[from..].IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (cut < 0 || from + i < cut)) cut = from + i;
        }
        if (cut >= 0)
        {
            Stopped = true;
            _length = cut;
            return Emit(cut);
        }
        if (final) return Emit(_length);

        // Hold back the longest suffix that is a proper prefix of a stop string.
        int hold = 0;
        foreach (var s in _stops)
            for (int k = Math.Min(s.Length - 1, _length); k > hold; k--)
                if (text[(_length - k)..].SequenceEqual(s.AsSpan(0, k))) { hold = k; break; }
        int end = _length - hold;
        if (end > _emitted && char.IsHighSurrogate(_text[end - 1])) end--; // never split a surrogate pair
        return Emit(end);
    }

    private string Emit(int end)
    {
        if (end <= _emitted) return "";
        string piece = new(_text, _emitted, end - _emitted);
        _emitted = end;
        return piece;
    }
}
