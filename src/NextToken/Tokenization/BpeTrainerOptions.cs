// BpeTrainerOptions: every knob of the byte-level BPE trainer, with its default.
namespace NextToken.Tokenization;

/// <summary>Options for <see cref="BpeTrainer.Train(string, BpeTrainerOptions)"/>.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>Final vocabulary size: 256 byte tokens + merges + special tokens. Must be at least 256 + specials.</summary>
    public int VocabSize { get; init; } = 4096;

    /// <summary>Pre-tokenization pattern name: <c>gpt2</c> (default) or <c>cl100k</c>; see <see cref="BpePatterns"/>.</summary>
    public string Pattern { get; init; } = "gpt2";

    /// <summary>
    /// Special tokens, given the last ids in this order. Occurrences in the training text are cut out and never
    /// merged into. Default: <c>&lt;|endoftext|&gt;</c>.
    /// </summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = [BpeTokenizer.EndOfText];

    /// <summary>A pair is merged only if it occurs at least this many times; training stops early otherwise.</summary>
    public int MinFrequency { get; init; } = 2;

    /// <summary>Threads for word counting (the dominant cost); the merge loop is sequential.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
}
