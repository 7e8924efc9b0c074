// SpecialTokensTokenizer: a base tokenizer plus added special tokens (chat markers such as <|im_start|>), each one id.
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NextToken.Tokenization;

/// <summary>
/// Wraps a tokenizer and adds special tokens that encode to a single id each: a token the base vocabulary already
/// treats as special keeps its id; any other gets the next id after the base vocabulary (so a model's embedding grows
/// by that many rows). Encoding splits the text at every occurrence of an added token (longest first) and encodes the
/// pieces between with the base tokenizer. Saved as kind <c>special</c>, with the base tokenizer in <c>base/</c>.
/// </summary>
public sealed class SpecialTokensTokenizer : ITokenizer
{
    private const string BaseFolder = "base";
    private readonly ITokenizer _base;
    private readonly (string Text, int Id)[] _added;          // longest text first
    private readonly byte[][] _addedBytes;                      // by id - base vocab size (new ids only)
    private readonly Dictionary<string, int> _ids;

    /// <summary>
    /// Adds <paramref name="tokens"/> to <paramref name="baseTokenizer"/>. A token that encodes to one id of the base
    /// (its own special token, e.g. <c>&lt;|endoftext|&gt;</c>) keeps that id; the others get ids VocabSize, VocabSize+1, …
    /// in the order given. Tokens already added by a wrapped <see cref="SpecialTokensTokenizer"/> are merged, not nested.
    /// </summary>
    public static SpecialTokensTokenizer Create(ITokenizer baseTokenizer, IEnumerable<string> tokens)
    {
        ArgumentNullException.ThrowIfNull(baseTokenizer);
        ArgumentNullException.ThrowIfNull(tokens);
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var root = baseTokenizer;
        if (baseTokenizer is SpecialTokensTokenizer s)
        {
            root = s._base;
            foreach (var (text, id) in s._added) ids[text] = id;
        }
        int next = Math.Max(root.VocabSize, ids.Count == 0 ? 0 : ids.Values.Max() + 1);
        foreach (string t in tokens)
        {
            if (string.IsNullOrEmpty(t)) throw new ArgumentException("a special token cannot be empty", nameof(tokens));
            if (ids.ContainsKey(t)) continue;
            ids[t] = BaseId(root, t) ?? next++;
        }
        return new SpecialTokensTokenizer(root, ids);
    }

    // The base's own id for a marker such as "<|endoftext|>": it must encode to one id that decodes back to it, also
    // after other text (so an ordinary word that happens to be one token is not mistaken for it). Null when the base
    // cannot encode it at all (a character tokenizer without '<') or splits it.
    private static int? BaseId(ITokenizer root, string token)
    {
        try
        {
            int[] enc = root.Encode(token);
            if (enc.Length != 1 || root.Decode(enc) != token) return null;
            int[] after = root.Encode("\n" + token);
            return after.Length >= 2 && after[^1] == enc[0] ? enc[0] : null;
        }
        catch (ArgumentException) { return null; }
        catch (KeyNotFoundException) { return null; }
        catch (InvalidDataException) { return null; }
    }

    private SpecialTokensTokenizer(ITokenizer baseTokenizer, Dictionary<string, int> ids)
    {
        _base = baseTokenizer;
        _ids = ids;
        _added = [.. ids.Select(p => (p.Key, p.Value)).OrderByDescending(p => p.Key.Length).ThenBy(p => p.Key, StringComparer.Ordinal)];
        int size = Math.Max(baseTokenizer.VocabSize, ids.Count == 0 ? 0 : ids.Values.Max() + 1);
        _addedBytes = new byte[size - baseTokenizer.VocabSize][];
        foreach (var (text, id) in ids)
            if (id >= baseTokenizer.VocabSize) _addedBytes[id - baseTokenizer.VocabSize] = System.Text.Encoding.UTF8.GetBytes(text);
        for (int i = 0; i < _addedBytes.Length; i++)
            if (_addedBytes[i] is null) throw new InvalidDataException($"special token ids leave id {baseTokenizer.VocabSize + i} unassigned");
        VocabSize = size;
    }

    /// <summary>The tokenizer underneath.</summary>
    public ITokenizer Base => _base;
    /// <summary>Every added token with its id.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => _ids;
    /// <summary>How many ids beyond the base vocabulary the added tokens take.</summary>
    public int NewTokenCount => VocabSize - _base.VocabSize;

    /// <inheritdoc/>
    public string Kind => "special";
    /// <inheritdoc/>
    public int VocabSize { get; }
    /// <inheritdoc/>
    public int? EndOfTextId => _base.EndOfTextId;

    /// <summary>The id of added token <paramref name="text"/>, or null.</summary>
    public int? IdOf(string text) => _ids.TryGetValue(text, out int id) ? id : null;

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<int>(text.Length / 3 + 4);
        int start = 0, i = 0;
        while (i < text.Length)
        {
            int match = -1;
            if (text[i] is var c)
                for (int k = 0; k < _added.Length; k++)
                    if (_added[k].Text[0] == c && string.CompareOrdinal(text, i, _added[k].Text, 0, _added[k].Text.Length) == 0) { match = k; break; }
            if (match < 0) { i++; continue; }
            if (i > start) result.AddRange(_base.Encode(text[start..i]));
            result.Add(_added[match].Id);
            i += _added[match].Text.Length;
            start = i;
        }
        if (start < text.Length) result.AddRange(_base.Encode(text[start..]));
        return [.. result];
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids) => TokenText.Decode(this, ids);

    /// <inheritdoc/>
    public ReadOnlySpan<byte> TokenBytes(int id) =>
        id >= _base.VocabSize && id < VocabSize ? _addedBytes[id - _base.VocabSize] : _base.TokenBytes(id);

    /// <inheritdoc/>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        _base.Save(Path.Combine(directory, BaseFolder));
        var doc = new JsonObject
        {
            ["kind"] = Kind, ["base"] = BaseFolder,
            ["tokens"] = new JsonObject(_ids.OrderBy(p => p.Value).Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
        };
        Training.Checkpoint.WriteAtomically(Path.Combine(directory, TokenizerStore.FileName),
            s => s.Write(new System.Text.UTF8Encoding(false).GetBytes(doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }))));
    }

    /// <summary>Loads what <see cref="Save"/> wrote (TokenizerStore calls this for kind special).</summary>
    internal static SpecialTokensTokenizer Load(string directory, JsonElement root)
    {
        string json = Path.Combine(directory, TokenizerStore.FileName);
        string folder = root.TryGetProperty("base", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString()!
            : throw new InvalidDataException($"'{json}' lacks the string field 'base' a special-tokens tokenizer needs");
        if (folder.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(folder))
            throw new InvalidDataException($"'{json}': field 'base' must name a folder inside '{directory}' (got '{folder}')");
        var inner = TokenizerStore.Load(Path.Combine(directory, folder));
        if (!root.TryGetProperty("tokens", out var t) || t.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"'{json}' lacks the object field 'tokens' (token → id)");
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in t.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw new InvalidDataException($"'{json}': token '{p.Name}' has no valid id (expected an integer ≥ 0)");
            ids[p.Name] = id;
        }
        return new SpecialTokensTokenizer(inner, ids);
    }
}
