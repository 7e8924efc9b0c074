// TokenizerStore: reads tokenizer.json from a prepared-data or checkpoint directory and rebuilds the tokenizer.
using System.Text.Json;

namespace NextToken.Tokenization;

/// <summary>Loads any tokenizer that <see cref="ITokenizer.Save"/> wrote.</summary>
public static class TokenizerStore
{
    /// <summary>The file every tokenizer writes into its directory.</summary>
    public const string FileName = "tokenizer.json";

    /// <summary>Loads the tokenizer described by <c>directory/tokenizer.json</c>.</summary>
    public static ITokenizer Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"no {FileName} in '{directory}': give a prepared data directory or a checkpoint directory (both hold one)", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e); }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw new InvalidDataException($"'{path}' is not a tokenizer description (expected a JSON object with a \"kind\" field)");
        }
        using (doc)
        {
            var root = doc.RootElement;
            string kind = root.TryGetProperty("kind", out var k) ? k.GetString() ?? "" : "";
            return kind switch
            {
                "char" => CharTokenizer.Load(root),
                "bpe" => BpeTokenizer.Load(directory, root),
                "gpt2" or "cl100k" => TiktokenEncoding.ForKind(kind),
                "hf-bpe" => Interop.HfTokenizer.LoadSaved(directory, root),
                "special" => SpecialTokensTokenizer.Load(directory, root),
                "sentencepiece" => Interop.SentencePieceVocabulary.LoadSaved(directory, root),
                _ => throw new InvalidDataException($"'{path}' names tokenizer kind '{kind}', which this version cannot load (known: char, bpe, gpt2, cl100k, hf-bpe, special, sentencepiece)"),
            };
        }
    }
}
