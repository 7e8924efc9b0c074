// TokenizerFactory: turns a command-line tokenizer spec (char, gpt2, cl100k, or a path) into a tokenizer.
namespace NextToken.Tokenization;

/// <summary>Creates tokenizers from the specs the CLI accepts.</summary>
public static class TokenizerFactory
{
    /// <summary>
    /// <c>char</c> builds a character vocabulary from <paramref name="trainingText"/>; other specs name a built-in
    /// encoding or a saved tokenizer (a directory with tokenizer.json, or a file).
    /// </summary>
    public static ITokenizer Create(string spec, string? trainingText = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        switch (spec)
        {
            case "char":
                if (string.IsNullOrEmpty(trainingText)) throw new ArgumentException("the char tokenizer is built from the training text, which is empty");
                return CharTokenizer.FromText(trainingText);
            case "gpt2":
            case "cl100k":
                return TiktokenEncoding.ForKind(spec);
            default:
                if (Directory.Exists(spec)) return TokenizerStore.Load(spec);
                if (File.Exists(spec))
                {
                    // A tokenizer.json (or any file named so) stands for its directory.
                    if (Path.GetFileName(spec) == TokenizerStore.FileName) return TokenizerStore.Load(Path.GetDirectoryName(Path.GetFullPath(spec))!);
                    throw new InvalidDataException($"'{spec}' is not a tokenizer: pass a directory holding {TokenizerStore.FileName} (as ITokenizer.Save writes it), or that file");
                }
                throw new ArgumentException($"unknown tokenizer '{spec}': use char, gpt2, cl100k, or a directory that holds {TokenizerStore.FileName}");
        }
    }
}
