// BpeTokenizer: a byte-level BPE vocabulary we trained; encoding goes through Microsoft.ML.Tokenizers' tiktoken.
using System.Text;
using System.Text.Json;
using Ml = Microsoft.ML.Tokenizers;

namespace NextToken.Tokenization;

/// <summary>
/// A trained byte-level BPE tokenizer: ids 0..255 are bytes, then one id per merge (rank = id), then the special
/// tokens. Encoding is Microsoft.ML.Tokenizers' <see cref="Ml.TiktokenTokenizer"/> built from our rank file and
/// pre-tokenization regex; decoding concatenates token bytes. Text with unpaired UTF-16 surrogates is encoded as if
/// each one were U+FFFD (UTF-8 cannot hold them), so it decodes with U+FFFD in their place.
/// </summary>
public sealed class BpeTokenizer : ITokenizer
{
    /// <summary>GPT's document separator.</summary>
    public const string EndOfText = "<|endoftext|>";
    /// <summary>Rank file name inside a saved directory.</summary>
    public const string RanksFileName = "bpe.tiktoken";

    private readonly byte[][] _tokens;
    private readonly (int Left, int Right)[] _merges;
    private readonly Dictionary<string, int> _specials;
    private readonly byte[][] _specialBytes;
    private readonly Ml.TiktokenTokenizer _ml;

    internal BpeTokenizer(IReadOnlyList<byte[]> tokens, IReadOnlyList<(int Left, int Right)> merges, IReadOnlyList<string> specialTokens, string pattern, Stream? ranks = null)
    {
        _tokens = tokens.ToArray();
        _merges = merges.ToArray();
        Pattern = pattern;
        _specials = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in specialTokens) _specials.Add(s, _tokens.Length + _specials.Count);
        _specialBytes = specialTokens.Select(s => Encoding.UTF8.GetBytes(s)).ToArray();

        Stream rankStream = ranks ?? new MemoryStream();
        if (ranks is null) { BpeFiles.WriteTiktoken(rankStream, _tokens); rankStream.Position = 0; }
        var pre = new Ml.RegexPreTokenizer(BpePatterns.Create(pattern), _specials);
        _ml = Ml.TiktokenTokenizer.Create(rankStream, pre, normalizer: null, specialTokens: _specials);
    }

    /// <inheritdoc/>
    public string Kind => "bpe";
    /// <inheritdoc/>
    public int VocabSize => _tokens.Length + _specials.Count;
    /// <inheritdoc/>
    public int? EndOfTextId => _specials.TryGetValue(EndOfText, out int id) ? id : null;
    /// <summary>Pre-tokenization pattern name (<c>gpt2</c> or <c>cl100k</c>).</summary>
    public string Pattern { get; }
    /// <summary>Special tokens and their ids.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens => _specials;
    /// <summary>Merges in training order, as (left id, right id).</summary>
    public IReadOnlyList<(int Left, int Right)> Merges => _merges;
    /// <summary>The Microsoft.ML.Tokenizers tokenizer that does the encoding.</summary>
    public Ml.TiktokenTokenizer MlTokenizer => _ml;

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = _ml.EncodeToIds(TokenText.ReplaceLoneSurrogates(text));
        return ids is List<int> list ? list.ToArray() : ids.ToArray();
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids) => TokenText.Decode(this, ids);

    /// <inheritdoc/>
    public ReadOnlySpan<byte> TokenBytes(int id)
    {
        if ((uint)id < (uint)_tokens.Length) return _tokens[id];
        int s = id - _tokens.Length;
        if ((uint)s < (uint)_specialBytes.Length) return _specialBytes[s];
        throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is outside the vocabulary (0..{VocabSize - 1})");
    }

    /// <summary>
    /// Writes tokenizer.json, the tiktoken rank file <c>bpe.tiktoken</c>, GPT-2-style <c>vocab.json</c> and
    /// <c>merges.txt</c>, and the listing <c>vocab.txt</c>.
    /// </summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        using (var f = File.Create(Path.Combine(directory, RanksFileName))) BpeFiles.WriteTiktoken(f, _tokens);
        BpeFiles.WriteVocabJson(Path.Combine(directory, "vocab.json"), _tokens, _specials);
        BpeFiles.WriteMerges(Path.Combine(directory, "merges.txt"), _tokens, _merges);
        BpeFiles.WriteListing(Path.Combine(directory, "vocab.txt"), _tokens, _merges, _specials);
        var doc = new Dictionary<string, object>
        {
            ["kind"] = Kind,
            ["pattern"] = Pattern,
            ["vocabSize"] = VocabSize,
            ["ranks"] = RanksFileName,
            ["merges"] = "merges.txt",
            ["specialTokens"] = _specials.OrderBy(p => p.Value).Select(p => p.Key).ToArray(),
        };
        File.WriteAllText(Path.Combine(directory, TokenizerStore.FileName), JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
    }

    internal static BpeTokenizer Load(string directory, JsonElement root)
    {
        string json = Path.Combine(directory, TokenizerStore.FileName);
        string Text(string name) => root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()!
            : throw new InvalidDataException($"'{json}' lacks the string field '{name}' a bpe tokenizer needs");
        string pattern = Text("pattern");
        if (!BpePatterns.Names.Contains(pattern)) throw new InvalidDataException($"'{json}' names pattern '{pattern}'; known: {string.Join(", ", BpePatterns.Names)}");
        string ranksPath = Path.Combine(directory, Text("ranks"));
        string mergesPath = Path.Combine(directory, Text("merges"));
        if (!File.Exists(ranksPath)) throw new FileNotFoundException($"'{json}' refers to the rank file '{ranksPath}', which is missing", ranksPath);
        var specials = root.TryGetProperty("specialTokens", out var sp) && sp.ValueKind == JsonValueKind.Array
            ? sp.EnumerateArray().Select(e => e.GetString() ?? throw new InvalidDataException($"'{json}': specialTokens must be strings")).ToArray()
            : [];
        var tokens = BpeFiles.ReadTiktoken(ranksPath);
        var merges = File.Exists(mergesPath) ? BpeFiles.ReadMerges(mergesPath, tokens) : [];
        using var ranks = File.OpenRead(ranksPath);
        var tokenizer = new BpeTokenizer(tokens, merges, specials, pattern, ranks);
        if (root.TryGetProperty("vocabSize", out var vs) && vs.TryGetInt32(out int size) && size != tokenizer.VocabSize)
            throw new InvalidDataException($"'{json}' says vocabSize {size} but '{ranksPath}' and the special tokens give {tokenizer.VocabSize}");
        return tokenizer;
    }
}
