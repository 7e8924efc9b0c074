// CharTokenizer: one id per distinct character of the training text (nanoGPT's shakespeare_char).
using System.Text;
using System.Text.Json;

namespace NextToken.Tokenization;

/// <summary>
/// Character-level tokenizer whose vocabulary is the sorted set of UTF-16 code points' strings (surrogate pairs
/// kept whole) seen in the training text. Unknown characters are an error at encode time.
/// </summary>
public sealed class CharTokenizer : ITokenizer
{
    private readonly string[] _symbols;
    private readonly byte[][] _bytes;
    private readonly Dictionary<string, int> _ids;

    /// <summary>Creates a tokenizer over exactly these symbols (each one text element: a char or a surrogate pair).</summary>
    public CharTokenizer(IEnumerable<string> symbols)
    {
        _symbols = symbols.ToArray();
        if (_symbols.Length == 0) throw new ArgumentException("a character tokenizer needs at least one symbol; is the text empty?");
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _symbols.Length; i++)
            if (!_ids.TryAdd(_symbols[i], i)) throw new ArgumentException($"symbol '{_symbols[i]}' appears twice");
        _bytes = _symbols.Select(s => Encoding.UTF8.GetBytes(s)).ToArray();
    }

    /// <summary>Builds the vocabulary from the distinct characters of <paramref name="text"/>, sorted by code point.</summary>
    public static CharTokenizer FromText(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        var set = new SortedSet<string>(Split(text), StringComparer.Ordinal);
        return new CharTokenizer(set);
    }

    private static IEnumerable<string> Split(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                yield return text.Substring(i, 2);
                i++;
            }
            else yield return text[i].ToString();
        }
    }

    /// <inheritdoc/>
    public string Kind => "char";
    /// <inheritdoc/>
    public int VocabSize => _symbols.Length;
    /// <inheritdoc/>
    public int? EndOfTextId => null;
    /// <summary>The symbols, indexed by id.</summary>
    public IReadOnlyList<string> Symbols => _symbols;

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length);
        foreach (string s in Split(text))
        {
            if (!_ids.TryGetValue(s, out int id))
                throw new ArgumentException($"character '{s}' (U+{char.ConvertToUtf32(s, 0):X4}) is not in this character vocabulary of {VocabSize} symbols");
            ids.Add(id);
        }
        return ids.ToArray();
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder(ids.Length);
        foreach (int id in ids) sb.Append(_symbols[CheckId(id)]);
        return sb.ToString();
    }

    /// <inheritdoc/>
    public ReadOnlySpan<byte> TokenBytes(int id) => _bytes[CheckId(id)];

    private int CheckId(int id) =>
        (uint)id < (uint)_symbols.Length ? id : throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is outside the vocabulary (0..{_symbols.Length - 1})");

    /// <inheritdoc/>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var doc = new Dictionary<string, object> { ["kind"] = Kind, ["symbols"] = _symbols };
        File.WriteAllText(Path.Combine(directory, TokenizerStore.FileName), JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
    }

    internal static CharTokenizer Load(JsonElement root)
    {
        var symbols = root.GetProperty("symbols").EnumerateArray().Select(e => e.GetString() ?? "").ToArray();
        return new CharTokenizer(symbols);
    }
}
