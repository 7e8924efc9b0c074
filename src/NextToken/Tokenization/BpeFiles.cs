// BpeFiles: reads and writes trained vocabularies as tiktoken ranks, GPT-2 vocab.json/merges.txt and a listing.
using System.Text;
using System.Text.Json;

namespace NextToken.Tokenization;

/// <summary>
/// File formats of a trained byte-level BPE vocabulary. <c>*.tiktoken</c>: one line per token, base64 of its bytes,
/// a space, its rank (= id), the format Microsoft.ML.Tokenizers' TiktokenTokenizer reads. <c>vocab.json</c> +
/// <c>merges.txt</c>: GPT-2's layout (byte-level characters, <c>#version: 0.2</c> header). <c>vocab.txt</c>: one
/// line per id for people.
/// </summary>
internal static class BpeFiles
{
    public static void WriteTiktoken(Stream stream, IReadOnlyList<byte[]> tokens)
    {
        using var w = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
        for (int id = 0; id < tokens.Count; id++) { w.Write(Convert.ToBase64String(tokens[id])); w.Write(' '); w.WriteLine(id); }
    }

    /// <summary>Reads a rank file; ranks must be exactly 0..count-1 so ids and ranks coincide.</summary>
    public static List<byte[]> ReadTiktoken(string path)
    {
        var byId = new SortedDictionary<int, byte[]>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNo++;
            if (line.Length == 0) continue;
            int space = line.IndexOf(' ');
            byte[] bytes;
            try { bytes = Convert.FromBase64String(line[..Math.Max(0, space)]); }
            catch (FormatException) { bytes = []; }
            if (space <= 0 || bytes.Length == 0 || !int.TryParse(line.AsSpan(space + 1), out int rank) || rank < 0)
                throw new InvalidDataException($"'{path}' line {lineNo} is not '<base64 bytes> <rank>': is this a tiktoken rank file?");
            if (!byId.TryAdd(rank, bytes)) throw new InvalidDataException($"'{path}' line {lineNo} repeats rank {rank}");
        }
        var tokens = byId.Values.ToList();
        if (tokens.Count < 256 || byId.Keys.Last() != tokens.Count - 1)
            throw new InvalidDataException($"'{path}' must hold ranks 0..N-1 with N >= 256 (all single bytes); it holds {tokens.Count} ranks");
        return tokens;
    }

    public static void WriteVocabJson(string path, IReadOnlyList<byte[]> tokens, IReadOnlyDictionary<string, int> specials)
    {
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        for (int id = 0; id < tokens.Count; id++) w.WriteNumber(ByteLevelAlphabet.ToText(tokens[id]), id);
        foreach (var (s, id) in specials) w.WriteNumber(s, id);
        w.WriteEndObject();
    }

    public static void WriteMerges(string path, IReadOnlyList<byte[]> tokens, IReadOnlyList<(int Left, int Right)> merges)
    {
        using var w = new StreamWriter(path, false, new UTF8Encoding(false)) { NewLine = "\n" };
        w.WriteLine("#version: 0.2");
        foreach (var (l, r) in merges) w.WriteLine($"{ByteLevelAlphabet.ToText(tokens[l])} {ByteLevelAlphabet.ToText(tokens[r])}");
    }

    public static List<(int, int)> ReadMerges(string path, IReadOnlyList<byte[]> tokens)
    {
        var ids = new Dictionary<byte[], int>(ByteArrayComparer.Instance);
        for (int i = 0; i < tokens.Count; i++) ids[tokens[i]] = i;
        var merges = new List<(int, int)>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNo++;
            if (line.Length == 0 || (lineNo == 1 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || !ids.TryGetValue(ByteLevelAlphabet.ToBytes(parts[0], path), out int l) || !ids.TryGetValue(ByteLevelAlphabet.ToBytes(parts[1], path), out int r))
                throw new InvalidDataException($"'{path}' line {lineNo} is not a merge of two tokens of the vocabulary");
            merges.Add((l, r));
        }
        return merges;
    }

    /// <summary>vocab.txt: <c>id "token"</c>, and for merged tokens <c>= "left" + "right"</c>.</summary>
    public static void WriteListing(string path, IReadOnlyList<byte[]> tokens, IReadOnlyList<(int Left, int Right)> merges, IReadOnlyDictionary<string, int> specials)
    {
        var parents = new Dictionary<int, (int, int)>();
        var ids = new Dictionary<byte[], int>(ByteArrayComparer.Instance);
        for (int i = 0; i < tokens.Count; i++) ids[tokens[i]] = i;
        foreach (var (l, r) in merges) parents.TryAdd(ids[[.. tokens[l], .. tokens[r]]], (l, r));
        using var w = new StreamWriter(path, false, new UTF8Encoding(false)) { NewLine = "\n" };
        w.WriteLine($"# {tokens.Count + specials.Count} tokens: id, token (escaped, invalid UTF-8 as \\xNN), and for merges: = left + right");
        for (int id = 0; id < tokens.Count; id++)
        {
            w.Write($"{id}\t{Render(tokens[id])}");
            if (parents.TryGetValue(id, out var p)) w.Write($"\t= {Render(tokens[p.Item1])} + {Render(tokens[p.Item2])}");
            w.WriteLine();
        }
        foreach (var (s, id) in specials) w.WriteLine($"{id}\t{Render(Encoding.UTF8.GetBytes(s))}\t(special)");
    }

    /// <summary>Quoted, escaped form of a token's bytes: printable characters as they are, the rest escaped.</summary>
    public static string Render(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder("\"");
        while (!bytes.IsEmpty)
        {
            var status = System.Text.Rune.DecodeFromUtf8(bytes, out var rune, out int used);
            if (status != System.Buffers.OperationStatus.Done) { sb.Append($"\\x{bytes[0]:X2}"); bytes = bytes[1..]; continue; }
            bytes = bytes[used..];
            switch (rune.Value)
            {
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                default:
                    if (System.Text.Rune.IsControl(rune) || rune.Value == 0xFEFF) sb.Append($"\\u{rune.Value:X4}");
                    else sb.Append(rune.ToString());
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
