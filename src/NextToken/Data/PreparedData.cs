// PreparedData: a directory of train.bin, val.bin, tokenizer.json and meta.json that training reads.
using System.Globalization;
using System.Text;
using System.Text.Json;
using NextToken.Tokenization;

namespace NextToken.Data;

/// <summary>
/// Tokenized training data on disk (nanoGPT's <c>prepare.py</c> output, in llm.c's token-file format):
/// <c>train.bin</c> and <c>val.bin</c> (<see cref="TokenFile"/>), the tokenizer (<c>tokenizer.json</c>) and
/// <c>meta.json</c> (vocabulary size, tokenizer kind, token counts, source, validation fraction).
/// </summary>
public sealed class PreparedData
{
    /// <summary>Training tokens file name.</summary>
    public const string TrainFileName = "train.bin";
    /// <summary>Validation tokens file name.</summary>
    public const string ValFileName = "val.bin";
    /// <summary>Metadata file name; it is written last, so its presence marks a complete directory.</summary>
    public const string MetaFileName = "meta.json";
    /// <summary>nanoGPT's default share of the text held out for validation.</summary>
    public const double DefaultValFraction = 0.1;

    private PreparedData(string directory, ITokenizer tokenizer, long trainTokens, long valTokens, string source, double valFraction,
                         long? valCharacters)
    {
        ValCharacters = valCharacters;
        Directory = directory;
        Tokenizer = tokenizer;
        TrainTokens = trainTokens;
        ValTokens = valTokens;
        Source = source;
        ValFraction = valFraction;
    }

    /// <summary>The prepared directory.</summary>
    public string Directory { get; }
    /// <summary>The tokenizer the tokens were made with.</summary>
    public ITokenizer Tokenizer { get; }
    /// <summary>The tokenizer's vocabulary size (token ids are below it).</summary>
    public int VocabSize => Tokenizer.VocabSize;
    /// <summary>Path of <c>train.bin</c>.</summary>
    public string TrainPath => Path.Combine(Directory, TrainFileName);
    /// <summary>Path of <c>val.bin</c>.</summary>
    public string ValPath => Path.Combine(Directory, ValFileName);
    /// <summary>Tokens in <c>train.bin</c>.</summary>
    public long TrainTokens { get; }
    /// <summary>Tokens in <c>val.bin</c>.</summary>
    public long ValTokens { get; }
    /// <summary>Where the text came from (a file, a directory, or <c>builtin:NAME</c>).</summary>
    public string Source { get; }
    /// <summary>Share of the text that went to validation.</summary>
    public double ValFraction { get; }
    /// <summary>
    /// Unicode characters (scalar values) of the validation text, or null for directories prepared before this was
    /// recorded. With <see cref="ValTokens"/> it turns a loss per token into bits per character.
    /// </summary>
    public long? ValCharacters { get; }

    /// <summary>
    /// Converts a mean validation loss in nats per token into bits per character:
    /// loss / ln 2 · (val tokens / val characters), the measure that compares tokenizers fairly
    /// (a char model's bits per token are already per character). Null when the character count is unknown.
    /// </summary>
    public double? BitsPerCharacter(double natsPerToken) =>
        ValCharacters is > 0 && ValTokens > 0 ? natsPerToken / Math.Log(2) * ValTokens / ValCharacters.Value : null;

    /// <summary>Maps <c>train.bin</c>; the caller disposes it.</summary>
    public TokenFile OpenTrain() => TokenFile.Open(TrainPath);

    /// <summary>Maps <c>val.bin</c>; the caller disposes it.</summary>
    public TokenFile OpenVal() => TokenFile.Open(ValPath);

    /// <summary>
    /// Tokenizes <paramref name="input"/> into <paramref name="outDir"/>. The input is one text file (one
    /// document) or a directory whose <c>*.txt</c> files, sorted by name, are the documents; documents are
    /// separated by the tokenizer's <c>&lt;|endoftext|&gt;</c> id when it has one, else simply concatenated.
    /// The first (1 − <paramref name="valFraction"/>) of the characters go to train and the rest to val
    /// (nanoGPT's convention). <paramref name="tokenizerSpec"/> is anything <see cref="TokenizerFactory.Create"/>
    /// accepts (<c>char</c> builds its vocabulary from the whole text).
    /// </summary>
    public static PreparedData Prepare(string input, string tokenizerSpec, string outDir, double valFraction = DefaultValFraction)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(input);
        ArgumentException.ThrowIfNullOrWhiteSpace(tokenizerSpec);
        ArgumentException.ThrowIfNullOrWhiteSpace(outDir);
        CheckValFraction(valFraction);

        var documents = ReadDocuments(input);
        return PrepareDocuments(input, documents, TokenizerFactory.Create(tokenizerSpec, string.Concat(documents)), outDir, valFraction);
    }

    /// <summary>
    /// As <see cref="Prepare(string, string, string, double)"/>, with a tokenizer already built (for example a
    /// BPE tokenizer trained in the same program).
    /// </summary>
    public static PreparedData Prepare(string input, ITokenizer tokenizer, string outDir, double valFraction = DefaultValFraction)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(input);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentException.ThrowIfNullOrWhiteSpace(outDir);
        CheckValFraction(valFraction);
        return PrepareDocuments(input, ReadDocuments(input), tokenizer, outDir, valFraction);
    }

    private static void CheckValFraction(double valFraction)
    {
        if (!(valFraction >= 0 && valFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(valFraction), $"validation fraction is {valFraction}; use a value in [0, 1), e.g. 0.1");
    }

    private static PreparedData PrepareDocuments(string input, List<string> documents, ITokenizer tokenizer, string outDir, double valFraction)
    {
        string allText = string.Concat(documents);

        // Cut the concatenated characters at floor((1 - f) * N), never inside a surrogate pair.
        long total = allText.Length;
        long cut = (long)(total * (1 - valFraction)); // truncation, as nanoGPT's int(n*0.9)
        if (cut > 0 && cut < total && char.IsLowSurrogate(allText[(int)cut])) cut++;
        var train = new List<string>();
        var val = new List<string>();
        long offset = 0;
        foreach (var doc in documents)
        {
            long end = offset + doc.Length;
            if (end <= cut) train.Add(doc);
            else if (offset >= cut) val.Add(doc);
            else
            {
                int split = (int)(cut - offset);
                train.Add(doc[..split]);
                val.Add(doc[split..]);
            }
            offset = end;
        }
        return Write(outDir, tokenizer, Encode(tokenizer, train), Encode(tokenizer, val), Path.GetFullPath(input), valFraction,
                     val.Sum(CountCharacters));
    }

    /// <summary>Opens a directory written by <see cref="Prepare(string, string, string, double)"/> (or <c>nexttoken prepare</c>).</summary>
    public static PreparedData Load(string dir)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        if (!System.IO.Directory.Exists(dir)) throw new DirectoryNotFoundException($"prepared data directory '{dir}' does not exist; create it with PreparedData.Prepare");
        string metaPath = Path.Combine(dir, MetaFileName);
        if (!File.Exists(metaPath)) throw new FileNotFoundException($"'{dir}' has no {MetaFileName}, so it is not a (complete) prepared data directory; prepare it again", metaPath);
        var tokenizer = TokenizerStore.Load(dir);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(metaPath));
            var root = doc.RootElement;
            int vocab = root.GetProperty("vocab_size").GetInt32();
            if (vocab != tokenizer.VocabSize)
                throw new InvalidDataException($"'{metaPath}' says vocab_size {vocab} but the tokenizer in '{dir}' has {tokenizer.VocabSize}; prepare the data again");
            var data = new PreparedData(Path.GetFullPath(dir), tokenizer,
                root.GetProperty("train_tokens").GetInt64(), root.GetProperty("val_tokens").GetInt64(),
                root.GetProperty("source").GetString() ?? "", root.GetProperty("val_fraction").GetDouble(),
                root.TryGetProperty("val_characters", out var vc) ? (long?)vc.GetInt64() : null);
            foreach (var path in new[] { data.TrainPath, data.ValPath })
                if (!File.Exists(path)) throw new FileNotFoundException($"'{dir}' has no {Path.GetFileName(path)}; prepare the data again", path);
            return data;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"'{metaPath}' is not a valid prepared-data meta file: {e.Message}", e);
        }
    }

    /// <summary>Writes an already split text (built-in corpora split by lines or problems, not by characters).</summary>
    internal static PreparedData FromSplit(string trainText, string valText, string tokenizerSpec, string outDir, string source)
    {
        if (trainText.Length == 0) throw new ArgumentException("the training text is empty", nameof(trainText));
        return FromSplit(trainText, valText, TokenizerFactory.Create(tokenizerSpec, trainText + valText), outDir, source);
    }

    /// <summary>As <see cref="FromSplit(string, string, string, string, string)"/> with a tokenizer already built.</summary>
    internal static PreparedData FromSplit(string trainText, string valText, ITokenizer tokenizer, string outDir, string source)
    {
        if (trainText.Length == 0) throw new ArgumentException("the training text is empty", nameof(trainText));
        double valFraction = (double)valText.Length / (trainText.Length + valText.Length);
        return Write(outDir, tokenizer, tokenizer.Encode(trainText), valText.Length == 0 ? [] : tokenizer.Encode(valText), source, valFraction,
                     CountCharacters(valText));
    }

    private static List<string> ReadDocuments(string input)
    {
        if (System.IO.Directory.Exists(input))
        {
            var files = System.IO.Directory.GetFiles(input, "*.txt").OrderBy(f => f, StringComparer.Ordinal).ToList();
            if (files.Count == 0) throw new ArgumentException($"input directory '{input}' has no *.txt files");
            var docs = files.Select(f => File.ReadAllText(f, Encoding.UTF8)).Where(t => t.Length > 0).ToList();
            if (docs.Count == 0) throw new ArgumentException($"every *.txt file in input directory '{input}' is empty");
            return docs;
        }
        if (!File.Exists(input)) throw new FileNotFoundException($"input file '{input}' does not exist", input);
        string text = File.ReadAllText(input, Encoding.UTF8);
        if (text.Length == 0) throw new ArgumentException($"input file '{input}' is empty");
        return [text];
    }

    // Encodes each document piece and joins them with <|endoftext|> when the tokenizer has it. A document cut
    // by the train/val split contributes its head to train and its tail to val, with no separator at the cut.
    private static int[] Encode(ITokenizer tokenizer, List<string> pieces)
    {
        var ids = new List<int>();
        for (int i = 0; i < pieces.Count; i++)
        {
            if (i > 0 && tokenizer.EndOfTextId is int eot) ids.Add(eot);
            if (pieces[i].Length > 0) ids.AddRange(tokenizer.Encode(pieces[i]));
        }
        return ids.ToArray();
    }

    // Unicode scalar values: a surrogate pair is one character.
    private static long CountCharacters(string text)
    {
        long n = text.Length;
        foreach (char c in text) if (char.IsLowSurrogate(c)) n--;
        return n;
    }

    private static PreparedData Write(string outDir, ITokenizer tokenizer, int[] train, int[] val, string source, double valFraction,
                                      long valCharacters)
    {
        System.IO.Directory.CreateDirectory(outDir);
        // Remove an old meta.json first: if we are cut off half-way, the directory then reads as incomplete
        // instead of pairing old metadata with new tokens.
        string metaPath = Path.Combine(outDir, MetaFileName);
        if (File.Exists(metaPath)) File.Delete(metaPath);
        TokenFile.Write(Path.Combine(outDir, TrainFileName), train, tokenizer.VocabSize);
        TokenFile.Write(Path.Combine(outDir, ValFileName), val, tokenizer.VocabSize);
        tokenizer.Save(outDir);

        using (var stream = new MemoryStream())
        {
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteNumber("vocab_size", tokenizer.VocabSize);
                w.WriteString("tokenizer", tokenizer.Kind);
                w.WriteNumber("train_tokens", train.Length);
                w.WriteNumber("val_tokens", val.Length);
                w.WriteString("source", source);
                w.WriteNumber("val_fraction", valFraction);
                w.WriteNumber("val_characters", valCharacters);
                w.WriteString("token_format", tokenizer.VocabSize <= 65536 ? "uint16 (version 1)" : "uint32 (version 2)");
                w.WriteEndObject();
            }
            string temp = metaPath + ".tmp";
            File.WriteAllBytes(temp, stream.ToArray());
            File.Move(temp, metaPath, overwrite: true);
        }
        return new PreparedData(Path.GetFullPath(outDir), tokenizer, train.Length, val.Length, source, valFraction, valCharacters);
    }

    /// <summary>One line describing the directory (what <c>nexttoken prepare</c> prints).</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{TrainTokens:N0} train tokens, {ValTokens:N0} val tokens, vocab {VocabSize} ({Tokenizer.Kind}) in {Directory}");
}
