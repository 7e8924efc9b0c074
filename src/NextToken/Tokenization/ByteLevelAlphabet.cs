// ByteLevelAlphabet: GPT-2's reversible byte <-> printable-character map used in vocab.json and merges.txt.
namespace NextToken.Tokenization;

/// <summary>
/// GPT-2 writes each byte of a token as one printable character so vocab.json and merges.txt stay plain text
/// without spaces: the printable Latin-1 bytes stand for themselves, the other 68 bytes become U+0100 upwards.
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildTable();
    private static readonly Dictionary<char, byte> CharToByte = Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    private static char[] BuildTable()
    {
        var table = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)(256 + extra++);
        }
        return table;
    }

    public static string ToText(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    public static byte[] ToBytes(string text, string path)
    {
        var bytes = new byte[text.Length];
        for (int i = 0; i < text.Length; i++)
            bytes[i] = CharToByte.TryGetValue(text[i], out byte b) ? b
                : throw new InvalidDataException($"'{path}' holds '{text}', which is not GPT-2 byte-level text (character U+{(int)text[i]:X4})");
        return bytes;
    }
}
