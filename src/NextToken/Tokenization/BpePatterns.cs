// BpePatterns: the pre-tokenization regexes byte-level BPE splits text with before merging (GPT-2, cl100k).
using System.Text.RegularExpressions;

namespace NextToken.Tokenization;

/// <summary>
/// Pre-tokenization patterns by name. Text is first cut into "words" by one of these regexes; merges never cross
/// a word boundary. <c>gpt2</c> is the pattern of GPT-2 (r50k_base); <c>cl100k</c> the one of GPT-4 (cl100k_base),
/// which keeps at most three digits together and is case-insensitive on contractions.
/// </summary>
public static class BpePatterns
{
    /// <summary>GPT-2's pattern (openai/gpt-2 encoder.py), written as tiktoken writes it for r50k_base.</summary>
    public const string Gpt2 = @"'(?:[sdmt]|re|ve|ll)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>GPT-4's cl100k_base pattern (possessive quantifiers of the original dropped: .NET has none, same matches).</summary>
    public const string Cl100k = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The names <see cref="Get"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = ["gpt2", "cl100k"];

    /// <summary>The regex source for a pattern name (<c>gpt2</c> or <c>cl100k</c>).</summary>
    public static string Get(string name) => name switch
    {
        "gpt2" => Gpt2,
        "cl100k" => Cl100k,
        _ => throw new ArgumentException($"unknown pre-tokenization pattern '{name}': use gpt2 or cl100k", nameof(name)),
    };

    /// <summary>
    /// A new compiled regex for the pattern. Each thread should own one: threads sharing one .NET Regex serialise
    /// on its runner cache and get no speed-up.
    /// </summary>
    public static Regex Create(string name) => new(Get(name), RegexOptions.Compiled | RegexOptions.CultureInvariant);
}
