// SentencePieceVocabulary: a SentencePiece tokenizer.model (LLaMA, TinyLlama, Mistral …) through Microsoft.ML.Tokenizers.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NextToken.Tokenization;
using Ml = Microsoft.ML.Tokenizers;

namespace NextToken.Interop;

/// <summary>
/// A SentencePiece model (BPE or unigram, the protobuf <c>tokenizer.model</c> of LLaMA-family checkpoints) encoded by
/// Microsoft.ML.Tokenizers' <see cref="Ml.SentencePieceTokenizer"/>. <see cref="Encode"/> adds the beginning-of-sentence
/// id when the model's <c>tokenizer_config.json</c> says <c>add_bos_token</c> (LlamaTokenizer's default), as
/// Hugging Face's <c>tokenizer(text)</c> does. Token bytes: "▁" is a space, byte pieces <c>&lt;0xAB&gt;</c> are that byte,
/// control pieces (<c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>) are empty. Saved into a NextToken directory as kind
/// <c>sentencepiece</c> with a copy of the model file.
/// </summary>
public sealed class SentencePieceVocabulary : ITokenizer, Chat.IDeclaresChatTemplate
{
    /// <summary>The file name of a SentencePiece model in Hugging Face directories (and in ours).</summary>
    public const string ModelFile = "tokenizer.model";
    private const string SavedModelFile = "sentencepiece.model";

    private readonly byte[] _model;
    private readonly Ml.SentencePieceTokenizer _ml;
    private readonly byte[][] _bytes;
    private readonly Dictionary<string, int> _added;

    private SentencePieceVocabulary(byte[] model, string source, bool addBos, IReadOnlyDictionary<string, int> added)
    {
        _model = model;
        AddBeginningOfSentence = addBos;
        _added = new Dictionary<string, int>(added, StringComparer.Ordinal);
        try
        {
            using var ms = new MemoryStream(model, writable: false);
            _ml = Ml.SentencePieceTokenizer.Create(ms, addBeginningOfSentence: false, addEndOfSentence: false, _added.Count == 0 ? null : _added);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or NotSupportedException or IOException
                                      or IndexOutOfRangeException or InvalidDataException)
        {
            throw new InvalidDataException($"'{source}' is not a SentencePiece model NextToken reads: {e.Message}", e);
        }
        int size = 0;
        foreach (var (_, id) in _ml.Vocabulary) size = Math.Max(size, id + 1);
        foreach (var (_, id) in _added) size = Math.Max(size, id + 1);
        _bytes = new byte[size][];
        foreach (var (piece, id) in _ml.Vocabulary) _bytes[id] = PieceBytes(piece, id);
        foreach (var (text, id) in _added) _bytes[id] = Encoding.UTF8.GetBytes(text);
        for (int i = 0; i < size; i++) _bytes[i] ??= [];
        EndOfTextId = _ml.EndOfSentenceId >= 0 && _ml.EndOfSentenceId < size ? _ml.EndOfSentenceId : null;
    }

    private byte[] PieceBytes(string piece, int id)
    {
        if (id == _ml.BeginningOfSentenceId || id == _ml.EndOfSentenceId) return [];
        if (id == _ml.UnknownId) return Encoding.UTF8.GetBytes(" \u2047 "); // SentencePiece's unk_surface
        if (_ml.ByteFallback && piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b))
            return [b];
        return Encoding.UTF8.GetBytes(piece.Replace('\u2581', ' '));
    }

    /// <summary>A piece of the model file: its text, score and SentencePiece type (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).</summary>
    public readonly record struct Piece(string Text, float Score, int Type);

    /// <summary>
    /// The model's pieces in id order, read from the protobuf (ModelProto field 1, each SentencePiece with piece = 1,
    /// score = 2, type = 3), for writers that need scores and types (GGUF's <c>llama</c> vocabulary).
    /// </summary>
    public IReadOnlyList<Piece> Pieces() => ReadPieces(_model);

    private static List<Piece> ReadPieces(byte[] model)
    {
        var pieces = new List<Piece>();
        var data = model.AsSpan();
        int pos = 0;
        while (pos < data.Length)
        {
            ulong key = ReadVarint(data, ref pos);
            int field = (int)(key >> 3), wire = (int)(key & 7);
            if (field == 1 && wire == 2)
            {
                int len = (int)ReadVarint(data, ref pos);
                var msg = data.Slice(pos, len);
                pos += len;
                string text = ""; float score = 0; int type = 1;
                int p = 0;
                while (p < msg.Length)
                {
                    ulong k = ReadVarint(msg, ref p);
                    int f = (int)(k >> 3), w = (int)(k & 7);
                    if (f == 1 && w == 2) { int l = (int)ReadVarint(msg, ref p); text = Encoding.UTF8.GetString(msg.Slice(p, l)); p += l; }
                    else if (f == 2 && w == 5) { score = BitConverter.ToSingle(msg.Slice(p, 4)); p += 4; }
                    else if (f == 3 && w == 0) type = (int)ReadVarint(msg, ref p);
                    else Skip(msg, w, ref p);
                }
                pieces.Add(new Piece(text, score, type));
            }
            else Skip(data, wire, ref pos);
        }
        return pieces;
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> d, ref int pos)
    {
        ulong v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= d.Length) throw new InvalidDataException("SentencePiece model: truncated varint");
            byte b = d[pos++];
            v |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
        throw new InvalidDataException("SentencePiece model: varint longer than 10 bytes");
    }

    private static void Skip(ReadOnlySpan<byte> d, int wire, ref int pos)
    {
        switch (wire)
        {
            case 0: ReadVarint(d, ref pos); break;
            case 1: pos += 8; break;
            case 2: { int len = (int)ReadVarint(d, ref pos); pos += len; break; }
            case 5: pos += 4; break;
            default: throw new InvalidDataException($"SentencePiece model: protobuf wire type {wire} is not supported");
        }
        if (pos > d.Length) throw new InvalidDataException("SentencePiece model: a field runs past the end of the file");
    }

    /// <summary>Reads a SentencePiece model file; <paramref name="added"/> are extra tokens (id ≥ the model's pieces) matched literally.</summary>
    public static SentencePieceVocabulary Load(string path, bool addBeginningOfSentence = true, IReadOnlyDictionary<string, int>? added = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"SentencePiece model '{path}' is missing", path);
        return new SentencePieceVocabulary(File.ReadAllBytes(path), path, addBeginningOfSentence, added ?? new Dictionary<string, int>());
    }

    /// <summary>
    /// Reads a model file with what a Hugging Face tokenizer_config.json declares beside it: the tokens of
    /// added_tokens_decoder beyond the model's pieces, the chat template and the eos text (one build of the encoder).
    /// </summary>
    public static SentencePieceVocabulary Load(string path, bool addBeginningOfSentence, IReadOnlyDictionary<int, string> declared, string? chatTemplate, string? endOfSentence)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"SentencePiece model '{path}' is missing", path);
        byte[] model = File.ReadAllBytes(path);
        int pieces;
        try { pieces = ReadPieces(model).Count; }
        catch (Exception e) when (e is InvalidDataException or ArgumentOutOfRangeException or ArgumentException)
        {
            throw new InvalidDataException($"'{path}' is not a SentencePiece model NextToken reads: {e.Message}", e);
        }
        var added = declared.Where(p => p.Key >= pieces).ToDictionary(p => p.Value, p => p.Key, StringComparer.Ordinal);
        return new SentencePieceVocabulary(model, path, addBeginningOfSentence, added) { ChatTemplateSource = chatTemplate, EndOfSentenceText = endOfSentence };
    }

    /// <inheritdoc/>
    public string Kind => "sentencepiece";
    /// <inheritdoc/>
    public int VocabSize => _bytes.Length;
    /// <summary>The end-of-sentence id (<c>&lt;/s&gt;</c>): generation stops there.</summary>
    public int? EndOfTextId { get; }
    /// <summary>The beginning-of-sentence id (<c>&lt;s&gt;</c>), or -1.</summary>
    public int BeginningOfSentenceId => _ml.BeginningOfSentenceId;
    /// <summary>True when <see cref="Encode"/> starts with the beginning-of-sentence id.</summary>
    public bool AddBeginningOfSentence { get; }
    /// <summary>Tokens added beyond the model's pieces (from tokenizer_config.json), with their ids.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => _added;
    /// <inheritdoc/>
    public string? ChatTemplateSource { get; private set; }
    /// <inheritdoc/>
    public string? EndOfSentenceText { get; private set; }

    /// <summary>This tokenizer carrying its model's declared chat template.</summary>
    public SentencePieceVocabulary WithChatTemplate(string? jinja, string? endOfSentence) =>
        new(_model, "tokenizer.model", AddBeginningOfSentence, _added) { ChatTemplateSource = jinja, EndOfSentenceText = endOfSentence };

    /// <summary>The Microsoft.ML.Tokenizers tokenizer that does the work.</summary>
    public Ml.SentencePieceTokenizer MlTokenizer => _ml;

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return [.. _ml.EncodeToIds(text, AddBeginningOfSentence, addEndOfSentence: false)];
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        foreach (int id in ids)
            if ((uint)id >= (uint)_bytes.Length) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is outside the vocabulary (0..{_bytes.Length - 1})");
        return _ml.Decode(ids.ToArray(), considerSpecialTokens: false);
    }

    /// <inheritdoc/>
    public ReadOnlySpan<byte> TokenBytes(int id) =>
        (uint)id < (uint)_bytes.Length ? _bytes[id] : throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is outside the vocabulary (0..{_bytes.Length - 1})");

    /// <inheritdoc/>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        Training.Checkpoint.WriteAtomically(Path.Combine(directory, SavedModelFile), s => s.Write(_model));
        var doc = new JsonObject
        {
            ["kind"] = Kind, ["model"] = SavedModelFile, ["addBos"] = AddBeginningOfSentence,
            ["addedTokens"] = new JsonObject(_added.OrderBy(p => p.Value).Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
        };
        if (ChatTemplateSource is not null) doc["chatTemplate"] = ChatTemplateSource;
        if (EndOfSentenceText is not null) doc["eosToken"] = EndOfSentenceText;
        Training.Checkpoint.WriteAtomically(Path.Combine(directory, TokenizerStore.FileName),
            s => s.Write(new UTF8Encoding(false).GetBytes(doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }))));
    }

    /// <summary>
    /// Writes Hugging Face's files: the model as <c>tokenizer.model</c> and a <c>tokenizer_config.json</c> for
    /// LlamaTokenizer (with the chat template and added tokens kept from the import).
    /// </summary>
    public void WriteHf(string directory)
    {
        Directory.CreateDirectory(directory);
        Training.Checkpoint.WriteAtomically(Path.Combine(directory, ModelFile), s => s.Write(_model));
        string Piece(int id) => id >= 0 && _ml.Vocabulary.FirstOrDefault(p => p.Value == id).Key is { } k ? k : "";
        var config = new JsonObject
        {
            ["tokenizer_class"] = "LlamaTokenizer", ["add_bos_token"] = AddBeginningOfSentence, ["add_eos_token"] = false,
            ["bos_token"] = Piece(_ml.BeginningOfSentenceId), ["eos_token"] = EndOfSentenceText ?? Piece(_ml.EndOfSentenceId),
            ["unk_token"] = Piece(_ml.UnknownId), ["legacy"] = false, ["model_max_length"] = 1_000_000_000,
        };
        if (_added.Count > 0)
            config["added_tokens_decoder"] = new JsonObject(_added.OrderBy(p => p.Value).Select(p => KeyValuePair.Create(
                p.Value.ToString(CultureInfo.InvariantCulture), (JsonNode?)new JsonObject { ["content"] = p.Key, ["special"] = true })));
        if (ChatTemplateSource is not null) config["chat_template"] = ChatTemplateSource;
        Training.Checkpoint.WriteAtomically(Path.Combine(directory, HfTokenizerConfig.FileName),
            s => s.Write(new UTF8Encoding(false).GetBytes(config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }))));
    }

    /// <summary>Loads what <see cref="Save"/> wrote (TokenizerStore calls this for kind sentencepiece).</summary>
    internal static SentencePieceVocabulary LoadSaved(string directory, JsonElement root)
    {
        string json = Path.Combine(directory, TokenizerStore.FileName);
        string file = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()!
            : throw new InvalidDataException($"'{json}' lacks the string field 'model' a sentencepiece tokenizer needs");
        if (file.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(file))
            throw new InvalidDataException($"'{json}': field 'model' must name a file inside '{directory}' (got '{file}')");
        bool addBos = !root.TryGetProperty("addBos", out var b) || b.ValueKind != JsonValueKind.False;
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("addedTokens", out var a) && a.ValueKind == JsonValueKind.Object)
            foreach (var p in a.EnumerateObject()) added[p.Name] = p.Value.GetInt32();
        string? Optional(string name) => root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        var tok = Load(Path.Combine(directory, file), addBos, added);
        tok.ChatTemplateSource = Optional("chatTemplate");   // a fresh instance: set in place
        tok.EndOfSentenceText = Optional("eosToken");
        return tok;
    }
}
