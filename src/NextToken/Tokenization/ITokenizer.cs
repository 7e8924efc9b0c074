// ITokenizer: the one tokenizer abstraction the engine, data preparation, checkpoints and generation use.
namespace NextToken.Tokenization;

/// <summary>
/// Maps text to token ids and back. Implementations: <see cref="CharTokenizer"/>, trained byte-level BPE, GPT-2
/// (r50k_base) and cl100k through Microsoft.ML.Tokenizers. Each one records itself with <see cref="Save"/> into
/// a directory (prepared data, checkpoints) and <see cref="TokenizerStore.Load"/> brings it back.
/// </summary>
public interface ITokenizer
{
    /// <summary>Short kind name written to <c>tokenizer.json</c>: <c>char</c>, <c>bpe</c>, <c>gpt2</c>, <c>cl100k</c>.</summary>
    string Kind { get; }

    /// <summary>Number of ids the tokenizer can produce (ids are 0 .. VocabSize-1).</summary>
    int VocabSize { get; }

    /// <summary>Id of <c>&lt;|endoftext|&gt;</c> (document separator), or null when the tokenizer has none.</summary>
    int? EndOfTextId { get; }

    /// <summary>Encodes text (special tokens such as <c>&lt;|endoftext|&gt;</c> written literally are recognised).</summary>
    int[] Encode(string text);

    /// <summary>Decodes ids to text; bytes that do not form valid UTF-8 become U+FFFD.</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>
    /// The raw UTF-8 bytes one token stands for. Streaming decoders concatenate these and emit only whole
    /// characters, so a character split over several byte tokens is never shown half.
    /// </summary>
    ReadOnlySpan<byte> TokenBytes(int id);

    /// <summary>Writes <c>tokenizer.json</c> (and any vocabulary files) into <paramref name="directory"/>.</summary>
    void Save(string directory);
}
