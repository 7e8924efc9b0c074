// TiktokenEncoding: OpenAI's GPT-2 (r50k_base) and GPT-4 (cl100k_base) vocabularies via Microsoft.ML.Tokenizers.
using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Ml = Microsoft.ML.Tokenizers;

namespace NextToken.Tokenization;

/// <summary>
/// A published tiktoken encoding: <c>gpt2</c> (r50k_base, 50,257 ids, <c>&lt;|endoftext|&gt;</c> = 50256) or
/// <c>cl100k</c> (cl100k_base, 100,277 ids). The vocabularies ship in the Microsoft.ML.Tokenizers.Data packages;
/// tokenizer.json records only the kind.
/// </summary>
public sealed class TiktokenEncoding : ITokenizer
{
    private static readonly Lazy<TiktokenEncoding> LazyGpt2 = new(() => new TiktokenEncoding("gpt2", "r50k_base", "Microsoft.ML.Tokenizers.Data.R50kBase"));
    private static readonly Lazy<TiktokenEncoding> LazyCl100k = new(() => new TiktokenEncoding("cl100k", "cl100k_base", "Microsoft.ML.Tokenizers.Data.Cl100kBase"));

    private readonly Ml.TiktokenTokenizer _ml;
    private readonly byte[][] _bytes;

    private TiktokenEncoding(string kind, string encoding, string dataAssembly)
    {
        Kind = kind;
        _ml = Ml.TiktokenTokenizer.CreateForEncoding(encoding);
        // The library keeps its id -> bytes table internal, so we read the same rank file from its data package.
        var ranks = ReadRanks(dataAssembly, $"{encoding}.tiktoken.deflate");
        RankCount = ranks.Count;
        int size = Math.Max(ranks.Count, (_ml.SpecialTokens?.Values.DefaultIfEmpty(-1).Max() ?? -1) + 1);
        _bytes = new byte[size][];
        for (int id = 0; id < ranks.Count; id++) _bytes[id] = ranks[id];
        if (_ml.SpecialTokens is not null) foreach (var (s, id) in _ml.SpecialTokens) _bytes[id] = Encoding.UTF8.GetBytes(s);
        EndOfTextId = _ml.SpecialTokens is not null && _ml.SpecialTokens.TryGetValue(BpeTokenizer.EndOfText, out int eot) ? eot : null;
    }

    private static List<byte[]> ReadRanks(string assemblyName, string resource)
    {
        var assembly = Assembly.Load(assemblyName);
        using var packed = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"{assemblyName} has no resource '{resource}': is the package version the one NextToken was built with?");
        using var inflated = new DeflateStream(packed, CompressionMode.Decompress);
        using var reader = new StreamReader(inflated, Encoding.UTF8);
        var tokens = new List<byte[]>(100_300);
        string? line;
        // The packaged files start with "Capacity: N" and then hold one base64 token per line, rank = line number
        // (plain tiktoken files write "<base64> <rank>"; both are accepted).
        while ((line = reader.ReadLine()) is not null)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            int space = line.IndexOf(' ');
            if (space > 0 && int.Parse(line.AsSpan(space + 1), CultureInfo.InvariantCulture) != tokens.Count)
                throw new InvalidDataException($"{resource}: expected rank {tokens.Count} on its line");
            tokens.Add(Convert.FromBase64String(space > 0 ? line[..space] : line));
        }
        return tokens;
    }

    /// <summary>GPT-2's encoding (r50k_base).</summary>
    public static TiktokenEncoding Gpt2 => LazyGpt2.Value;
    /// <summary>GPT-3.5/4's encoding (cl100k_base).</summary>
    public static TiktokenEncoding Cl100k => LazyCl100k.Value;

    /// <summary>The encoding for a kind name: <c>gpt2</c> or <c>cl100k</c>.</summary>
    public static TiktokenEncoding ForKind(string kind) => kind switch
    {
        "gpt2" => Gpt2,
        "cl100k" => Cl100k,
        _ => throw new ArgumentException($"unknown tiktoken encoding '{kind}': use gpt2 or cl100k", nameof(kind)),
    };

    /// <inheritdoc/>
    public string Kind { get; }
    /// <inheritdoc/>
    public int VocabSize => _bytes.Length;
    /// <inheritdoc/>
    public int? EndOfTextId { get; }
    /// <summary>Number of byte-sequence tokens (ids 0 .. RankCount-1, merge ranks); special tokens come after.</summary>
    public int RankCount { get; }
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
    public ReadOnlySpan<byte> TokenBytes(int id) =>
        (uint)id < (uint)_bytes.Length && _bytes[id] is { } b ? b
            : throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is not in {Kind} (0..{_bytes.Length - 1})");

    /// <inheritdoc/>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var doc = new Dictionary<string, object> { ["kind"] = Kind };
        File.WriteAllText(Path.Combine(directory, TokenizerStore.FileName), JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
    }
}
