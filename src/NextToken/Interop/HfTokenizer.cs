// HfTokenizer: a Hugging Face BPE tokenizer (tokenizer.json, or vocab.json + merges.txt) encoded through
// Microsoft.ML.Tokenizers: byte-level BPE (GPT-2, LLaMA-family tokenizer.json) or GPT-1's lower-cased BPE with "</w>".
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using NextToken.Tokenization;
using Ml = Microsoft.ML.Tokenizers;

namespace NextToken.Interop;

/// <summary>
/// A BPE vocabulary in Hugging Face's files. Byte-level models split text with GPT-2's pattern (with digits one by one
/// when tokenizer.json's pre-tokenizer says <c>individual_digits</c>, as SmolLM2's does); GPT-1 lower-cases, strips
/// accents and splits on whitespace and punctuation (Hugging Face's fallback when spaCy and ftfy are absent) and marks
/// word ends with <c>&lt;/w&gt;</c>. Saved into a NextToken directory as kind <c>hf-bpe</c>.
/// </summary>
public sealed class HfTokenizer : ITokenizer, Chat.IDeclaresChatTemplate
{
    internal const string DigitsPattern = @"'(?:[sdmt]|re|ve|ll)| ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    internal const string BertPattern = @"[^\s\p{P}\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E]+|[\p{P}\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E]";
    private const string VocabFile = "vocab.json", MergesFile = "merges.txt";

    private readonly Dictionary<string, int> _vocab;
    private readonly List<string> _merges;
    private readonly Dictionary<string, int> _specials;
    private readonly byte[][] _bytes;
    private readonly Ml.BpeTokenizer _ml;

    private HfTokenizer(Dictionary<string, int> vocab, List<string> merges, Dictionary<string, int> specials, bool byteLevel, bool lowercase, string? endOfWord, string pattern)
    {
        _vocab = vocab;
        _merges = merges;
        _specials = specials;
        ByteLevel = byteLevel;
        Lowercase = lowercase;
        EndOfWordSuffix = endOfWord;
        Pattern = pattern;
        int size = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max() + 1, specials.Count == 0 ? 0 : specials.Values.Max() + 1);
        _bytes = new byte[size][];
        foreach (var (token, id) in vocab) _bytes[id] = TextToBytes(token);
        foreach (var (token, id) in specials) _bytes[id] = Encoding.UTF8.GetBytes(token);
        for (int i = 0; i < size; i++) _bytes[i] ??= [];
        var options = new Ml.BpeOptions(vocab.Where(p => !specials.ContainsKey(p.Key)))
        {
            Merges = merges,
            SpecialTokens = specials,
            ByteLevel = byteLevel,
            EndOfWordSuffix = endOfWord,
            PreTokenizer = new Ml.RegexPreTokenizer(new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant), specials),
            UnknownToken = vocab.ContainsKey("<unk>") ? "<unk>" : null,
        };
        _ml = Ml.BpeTokenizer.Create(options);
        EndOfTextId = specials.TryGetValue(BpeTokenizer.EndOfText, out int eot) ? eot
            : specials.TryGetValue("</s>", out int eos) ? eos : null;
    }

    /// <inheritdoc/>
    public string Kind => "hf-bpe";
    /// <inheritdoc/>
    public int VocabSize => _bytes.Length;
    /// <inheritdoc/>
    public int? EndOfTextId { get; }
    /// <summary>True for byte-level BPE (GPT-2 alphabet: Ġ for space, …).</summary>
    public bool ByteLevel { get; }
    /// <summary>True when text is lower-cased and accents stripped first (GPT-1).</summary>
    public bool Lowercase { get; }
    /// <summary>Suffix that marks a word's last piece (<c>&lt;/w&gt;</c> in GPT-1), or null.</summary>
    public string? EndOfWordSuffix { get; }
    /// <summary>The pre-tokenization regular expression.</summary>
    public string Pattern { get; }
    /// <summary>The BPE vocabulary as its files spell it (token text → id), special tokens excluded unless the vocabulary lists them.</summary>
    public IReadOnlyDictionary<string, int> Vocabulary => _vocab;
    /// <summary>Merges in priority order, "left right".</summary>
    public IReadOnlyList<string> Merges => _merges;
    /// <summary>Tokens the encoder recognises literally, with their ids.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens => _specials;
    /// <inheritdoc/>
    public string? ChatTemplateSource { get; private set; }
    /// <inheritdoc/>
    public string? EndOfSentenceText { get; private set; }

    /// <summary>This tokenizer carrying <paramref name="jinja"/> as its model's chat template (what tokenizer_config.json declared).</summary>
    public HfTokenizer WithChatTemplate(string? jinja, string? endOfSentence)
    {
        var t = new HfTokenizer(_vocab, _merges, _specials, ByteLevel, Lowercase, EndOfWordSuffix, Pattern)
        { ChatTemplateSource = jinja, EndOfSentenceText = endOfSentence };
        return t;
    }

    private byte[] TextToBytes(string token)
    {
        if (ByteLevel) return ByteLevelAlphabet.ToBytes(token, VocabFile);
        if (EndOfWordSuffix is { } s && token.EndsWith(s, StringComparison.Ordinal)) token = token[..^s.Length] + " ";
        return Encoding.UTF8.GetBytes(token);
    }

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Lowercase) text = StripAccents(text.ToLowerInvariant());
        return [.. _ml.EncodeToIds(text)];
    }

    // BERT's strip_accents is NFD then dropping non-spacing marks. The build runs with invariant globalization, where
    // Normalize does not decompose, so the lower-case letters of Latin-1 and Latin Extended-A that NFD splits into a
    // base letter and marks are mapped here (generated from Python's unicodedata), and stray combining marks dropped.
    private const string Accented = "àáâãäåçèéêëìíîïñòóôõöùúûüýÿāăąćĉċčďēĕėęěĝğġģĥĩīĭįĵķĺļľńņňōŏőŕŗřśŝşšţťũūŭůűųŵŷźżž";
    private const string Bases = "aaaaaaceeeeiiiinooooouuuuyyaaaccccdeeeeegggghiiiijklllnnnooorrrssssttuuuuuuwyzzz";

    private static string StripAccents(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            int i = c >= '\u00E0' && c <= '\u017F' ? Accented.IndexOf(c, StringComparison.Ordinal) : -1;
            if (i >= 0) sb.Append(Bases[i]);
            else if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark) sb.Append(c);
        }
        return sb.ToString();
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids) => TokenText.Decode(this, ids);

    /// <inheritdoc/>
    public ReadOnlySpan<byte> TokenBytes(int id) =>
        (uint)id < (uint)_bytes.Length ? _bytes[id] : throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is outside the vocabulary (0..{_bytes.Length - 1})");

    /// <summary>
    /// The tokenizer of a Hugging Face model directory: tokenizer.json when it holds a BPE model, else vocab.json +
    /// merges.txt; null when there are none.
    /// </summary>
    public static HfTokenizer? TryLoad(string directory, HfArchitecture arch)
    {
        var tok = TryLoadFiles(directory, arch);
        if (tok is null) return null;
        var cfg = HfTokenizerConfig.Read(directory);
        tok.ChatTemplateSource = cfg.ChatTemplate;   // a fresh instance: set in place, no second BPE build
        tok.EndOfSentenceText = cfg.EosToken;
        return tok;
    }

    /// <summary>
    /// The tokenizer of a Hugging Face model directory in any form NextToken reads: byte-level BPE (tokenizer.json, or
    /// vocab.json + merges.txt), GPT-1's BPE, or a SentencePiece tokenizer.model (used when tokenizer.json is absent or
    /// is not byte-level, as for LLaMA 2 and TinyLlama); the chat template and special tokens of tokenizer_config.json
    /// are kept with it. Null when the directory has no tokenizer files.
    /// </summary>
    public static ITokenizer? TryLoadAny(string directory, HfArchitecture arch)
    {
        string sp = Path.Combine(directory, SentencePieceVocabulary.ModelFile);
        if (File.Exists(sp) && arch != HfArchitecture.OpenAiGpt && !IsByteLevelTokenizerJson(Path.Combine(directory, "tokenizer.json")))
        {
            var cfg = HfTokenizerConfig.Read(directory);
            return SentencePieceVocabulary.Load(sp, cfg.AddBosToken ?? true, cfg.AddedTokens, cfg.ChatTemplate, cfg.EosToken);
        }
        return TryLoad(directory, arch);
    }

    private static bool IsByteLevelTokenizerJson(string path)
    {
        if (!File.Exists(path)) return false;
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(path));
            return root is not null && (root["model"]?["type"]?.GetValue<string>() ?? "BPE") == "BPE" && IsByteLevel(root);
        }
        catch (JsonException) { return false; }
    }

    // A tokenizer.json is byte-level when its pre-tokenizer or decoder (alone or inside a Sequence) is ByteLevel.
    private static bool IsByteLevel(JsonNode root) =>
        (root["pre_tokenizer"]?.ToJsonString() ?? "").Contains("\"ByteLevel\"", StringComparison.Ordinal)
        || (root["decoder"]?.ToJsonString() ?? "").Contains("\"ByteLevel\"", StringComparison.Ordinal);

    private static HfTokenizer? TryLoadFiles(string directory, HfArchitecture arch)
    {
        string tj = Path.Combine(directory, "tokenizer.json");
        if (File.Exists(tj) && arch != HfArchitecture.OpenAiGpt) return FromTokenizerJson(tj);
        string vocab = Path.Combine(directory, VocabFile), merges = Path.Combine(directory, MergesFile);
        if (!File.Exists(vocab) || !File.Exists(merges)) return null;
        var v = ReadVocab(vocab);
        var m = ReadMerges(merges);
        if (arch == HfArchitecture.OpenAiGpt)
            return new HfTokenizer(v, m, [], byteLevel: false, lowercase: true, "</w>", BertPattern);
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        if (v.TryGetValue(BpeTokenizer.EndOfText, out int eot)) specials[BpeTokenizer.EndOfText] = eot;
        return new HfTokenizer(v, m, specials, byteLevel: true, lowercase: false, null, BpePatterns.Gpt2);
    }

    private static Dictionary<string, int> ReadVocab(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(path))
                   ?? throw new InvalidDataException($"'{path}' is empty");
        }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not a JSON object of token → id: {e.Message}", e); }
    }

    private static List<string> ReadMerges(string path)
    {
        var merges = new List<string>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNo++;
            if (line.Length == 0 || (lineNo == 1 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            if (line.Split(' ').Length != 2) throw new InvalidDataException($"'{path}' line {lineNo} is not two tokens separated by a space");
            merges.Add(line);
        }
        return merges;
    }

    private static HfTokenizer FromTokenizerJson(string path)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e); }
        var model = root?["model"] as JsonObject ?? throw new InvalidDataException($"'{path}' has no \"model\" object: is it a Hugging Face tokenizer.json?");
        string type = model["type"]?.GetValue<string>() ?? "BPE";
        if (type != "BPE") throw new InvalidDataException($"'{path}': model type '{type}' is not supported (NextToken reads BPE tokenizers)");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (k, v) in model["vocab"] as JsonObject ?? throw new InvalidDataException($"'{path}': model has no \"vocab\" object"))
            vocab[k] = v!.GetValue<int>();
        var merges = new List<string>();
        foreach (var m in model["merges"] as JsonArray ?? [])
            merges.Add(m is JsonArray pair ? $"{pair[0]!.GetValue<string>()} {pair[1]!.GetValue<string>()}" : m!.GetValue<string>());
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var a in root!["added_tokens"] as JsonArray ?? [])
            specials[a!["content"]!.GetValue<string>()] = a["id"]!.GetValue<int>();
        string pre = root["pre_tokenizer"]?.ToJsonString() ?? "";
        if (!IsByteLevel(root)) throw new InvalidDataException($"'{path}': only byte-level BPE tokenizers are supported (no ByteLevel pre-tokenizer or decoder found)");
        bool digits = pre.Contains("\"individual_digits\":true", StringComparison.Ordinal);
        return new HfTokenizer(vocab, merges, specials, byteLevel: true, lowercase: false, model["end_of_word_suffix"]?.GetValue<string>() is { Length: > 0 } s ? s : null,
                               digits ? DigitsPattern : BpePatterns.Gpt2);
    }

    /// <summary>Our trained byte-level BPE in Hugging Face's terms (same ids; merges in training order).</summary>
    public static HfTokenizer FromBpe(BpeTokenizer bpe)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < bpe.VocabSize - bpe.SpecialTokens.Count; id++) vocab[ByteLevelAlphabet.ToText(bpe.TokenBytes(id))] = id;
        var merges = bpe.Merges.Select(m => ByteLevelAlphabet.ToText(bpe.TokenBytes(m.Left)) + " " + ByteLevelAlphabet.ToText(bpe.TokenBytes(m.Right))).ToList();
        var specials = bpe.SpecialTokens.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        foreach (var (s, id) in specials) vocab[s] = id;
        return new HfTokenizer(vocab, merges, specials, byteLevel: true, lowercase: false, null, BpePatterns.Get(bpe.Pattern));
    }

    /// <summary>
    /// Any tokenizer with a byte-level BPE vocabulary in Hugging Face's terms: imported, our trained BPE, the built-in
    /// tiktoken encodings (merges recovered from the ranks) and any of these with added special tokens; null for the
    /// others (character vocabularies, SentencePiece).
    /// </summary>
    public static HfTokenizer? From(ITokenizer? tokenizer) => tokenizer switch
    {
        HfTokenizer h => h,
        BpeTokenizer b => FromBpe(b),
        TiktokenEncoding e => FromTiktoken(e),
        SpecialTokensTokenizer s when From(s.Base) is { } inner => inner.WithSpecialTokens(s.AddedTokens, chatMlWhenUndeclared: true),
        _ => null,
    };

    /// <summary>This vocabulary with <paramref name="added"/> special tokens (ids as given) recognised literally.</summary>
    public HfTokenizer WithSpecialTokens(IReadOnlyDictionary<string, int> added) => WithSpecialTokens(added, chatMlWhenUndeclared: false);

    // chatMlWhenUndeclared: a vocabulary given ChatML's markers without a declared template exports ChatML's.
    private HfTokenizer WithSpecialTokens(IReadOnlyDictionary<string, int> added, bool chatMlWhenUndeclared)
    {
        var specials = new Dictionary<string, int>(_specials, StringComparer.Ordinal);
        var vocab = new Dictionary<string, int>(_vocab, StringComparer.Ordinal);
        foreach (var (t, id) in added) { specials[t] = id; vocab[t] = id; }
        bool chatMl = chatMlWhenUndeclared && ChatTemplateSource is null && added.ContainsKey(Chat.ChatTemplate.ChatMl.StartMarker);
        return new HfTokenizer(vocab, _merges, specials, ByteLevel, Lowercase, EndOfWordSuffix, Pattern)
        { ChatTemplateSource = chatMl ? Chat.ChatTemplate.ChatMl.ToJinja() : ChatTemplateSource, EndOfSentenceText = EndOfSentenceText };
    }

    /// <summary>
    /// A tiktoken encoding (<c>gpt2</c> = r50k_base, <c>cl100k</c>) as vocab + merges. tiktoken keeps only ranks; the
    /// merge that makes a token is recovered by running byte-pair merging on the token's bytes with the ranks below its
    /// own until two parts remain (the parts are the merge's left and right). Ids are the ranks, so the result encodes
    /// every text to the same ids as the encoding itself (tested).
    /// </summary>
    public static HfTokenizer FromTiktoken(TiktokenEncoding encoding)
    {
        ArgumentNullException.ThrowIfNull(encoding);
        var specialIds = encoding.MlTokenizer.SpecialTokens ?? new Dictionary<string, int>();
        var latin1 = Encoding.Latin1;
        var rank = new Dictionary<string, int>(StringComparer.Ordinal);
        var pieces = new List<byte[]>();
        for (int id = 0; id < encoding.RankCount; id++)
        {
            byte[] b = encoding.TokenBytes(id).ToArray();
            rank[latin1.GetString(b)] = id;
            pieces.Add(b);
        }
        var vocab = new Dictionary<string, int>(pieces.Count + specialIds.Count, StringComparer.Ordinal);
        for (int id = 0; id < pieces.Count; id++) vocab[ByteLevelAlphabet.ToText(pieces[id])] = id;
        var merges = new List<(int Rank, string Merge)>(pieces.Count);
        var parts = new List<string>(64);
        for (int id = 0; id < pieces.Count; id++)
        {
            if (pieces[id].Length < 2) continue;
            parts.Clear();
            foreach (byte x in pieces[id]) parts.Add(latin1.GetString([x]));
            while (parts.Count > 2)
            {
                int best = -1, bestRank = id;
                for (int i = 0; i + 1 < parts.Count; i++)
                    if (rank.TryGetValue(parts[i] + parts[i + 1], out int r) && r < bestRank) { bestRank = r; best = i; }
                if (best < 0) break;
                parts[best] += parts[best + 1];
                parts.RemoveAt(best + 1);
            }
            if (parts.Count != 2) throw new InvalidDataException($"{encoding.Kind}: token {id} cannot be built from lower-ranked tokens, so it has no merge");
            merges.Add((id, ByteLevelAlphabet.ToText(latin1.GetBytes(parts[0])) + " " + ByteLevelAlphabet.ToText(latin1.GetBytes(parts[1]))));
        }
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (t, id) in specialIds) { specials[t] = id; vocab[t] = id; }
        return new HfTokenizer(vocab, [.. merges.OrderBy(m => m.Rank).Select(m => m.Merge)], specials, byteLevel: true, lowercase: false, null,
                               encoding.Kind == "cl100k" ? BpePatterns.Cl100k : BpePatterns.Gpt2);
    }

    /// <summary>Writes Hugging Face's files: vocab.json, merges.txt, tokenizer.json and tokenizer_config.json.</summary>
    public void WriteHf(string directory)
    {
        Directory.CreateDirectory(directory);
        var json = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        var vocab = new JsonObject();
        foreach (var (k, v) in _vocab.OrderBy(p => p.Value)) vocab[k] = v;
        foreach (var (k, v) in _specials.OrderBy(p => p.Value)) vocab[k] = v;
        WriteText(Path.Combine(directory, VocabFile), vocab.ToJsonString(json));
        WriteText(Path.Combine(directory, MergesFile), "#version: 0.2\n" + string.Concat(_merges.Select(m => m + "\n")));
        var added = new JsonArray(_specials.OrderBy(p => p.Value).Select(p => (JsonNode?)new JsonObject
        {
            ["id"] = p.Value, ["content"] = p.Key, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
        }).ToArray());
        JsonNode? preTokenizer = ByteLevel
            ? Pattern == DigitsPattern
                ? new JsonObject { ["type"] = "Sequence", ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Digits", ["individual_digits"] = true },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true }) }
                : new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true }
            : new JsonObject { ["type"] = "BertPreTokenizer" };
        var tj = new JsonObject
        {
            ["version"] = "1.0", ["truncation"] = null, ["padding"] = null, ["added_tokens"] = added,
            ["normalizer"] = Lowercase ? new JsonObject { ["type"] = "BertNormalizer", ["clean_text"] = true, ["handle_chinese_chars"] = true, ["strip_accents"] = null, ["lowercase"] = true } : null,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = ByteLevel ? new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true } : null,
            ["decoder"] = ByteLevel ? new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true }
                                    : new JsonObject { ["type"] = "BPEDecoder", ["suffix"] = EndOfWordSuffix ?? "</w>" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = ByteLevel ? null : "<unk>", ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = EndOfWordSuffix, ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = vocab.DeepClone(), ["merges"] = new JsonArray(_merges.Select(m => (JsonNode?)m).ToArray()),
            },
        };
        WriteText(Path.Combine(directory, "tokenizer.json"), tj.ToJsonString(json));
        string? eot = EndOfTextId is int e ? _specials.First(p => p.Value == e).Key : null;
        var config = new JsonObject
        {
            ["tokenizer_class"] = ByteLevel ? "GPT2Tokenizer" : "OpenAIGPTTokenizer", ["model_max_length"] = 1_000_000_000,
            ["add_prefix_space"] = false, ["clean_up_tokenization_spaces"] = false,
        };
        if (eot is not null) { config["bos_token"] = eot; config["eos_token"] = eot; config["unk_token"] = eot; }
        if (EndOfSentenceText is not null) config["eos_token"] = EndOfSentenceText;
        if (ChatTemplateSource is not null) config["chat_template"] = ChatTemplateSource;
        WriteText(Path.Combine(directory, "tokenizer_config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static void WriteText(string path, string text) =>
        Training.Checkpoint.WriteAtomically(path, s => s.Write(new UTF8Encoding(false).GetBytes(text)));

    /// <summary>Writes <c>tokenizer.json</c> (kind hf-bpe) with <c>hf-vocab.json</c> and <c>hf-merges.txt</c> beside it.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        WriteText(Path.Combine(directory, "hf-vocab.json"), JsonSerializer.Serialize(_vocab));
        WriteText(Path.Combine(directory, "hf-merges.txt"), string.Concat(_merges.Select(m => m + "\n")));
        var doc = new JsonObject
        {
            ["kind"] = Kind, ["vocab"] = "hf-vocab.json", ["merges"] = "hf-merges.txt", ["byteLevel"] = ByteLevel, ["lowercase"] = Lowercase,
            ["endOfWordSuffix"] = EndOfWordSuffix, ["pattern"] = Pattern,
            ["specialTokens"] = new JsonObject(_specials.OrderBy(p => p.Value).Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
        };
        if (ChatTemplateSource is not null) doc["chatTemplate"] = ChatTemplateSource;
        if (EndOfSentenceText is not null) doc["eosToken"] = EndOfSentenceText;
        WriteText(Path.Combine(directory, TokenizerStore.FileName), doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Loads what <see cref="Save"/> wrote (TokenizerStore calls this for kind hf-bpe).</summary>
    internal static HfTokenizer LoadSaved(string directory, JsonElement root)
    {
        string json = Path.Combine(directory, TokenizerStore.FileName);
        string Text(string name) => root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()!
            : throw new InvalidDataException($"'{json}' lacks the string field '{name}' an hf-bpe tokenizer needs");
        var vocab = ReadVocab(Path.Combine(directory, Text("vocab")));
        string mergesPath = Path.Combine(directory, Text("merges"));
        if (!File.Exists(mergesPath)) throw new FileNotFoundException($"'{json}' refers to '{mergesPath}', which is missing", mergesPath);
        var merges = File.ReadLines(mergesPath).Where(l => l.Length > 0).ToList();
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("specialTokens", out var sp) && sp.ValueKind == JsonValueKind.Object)
            foreach (var p in sp.EnumerateObject()) specials[p.Name] = p.Value.GetInt32();
        bool Flag(string name) => root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.True;
        string? eow = root.TryGetProperty("endOfWordSuffix", out var ew) && ew.ValueKind == JsonValueKind.String ? ew.GetString() : null;
        string? Optional(string name) => root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        return new HfTokenizer(vocab, merges, specials, Flag("byteLevel"), Flag("lowercase"), eow, Text("pattern"))
        { ChatTemplateSource = Optional("chatTemplate"), EndOfSentenceText = Optional("eosToken") };
    }
}
