// LlmcTokenizerFile: llm.c's tokenizer file (256 uint32 header: magic 20240328, version 2, vocabulary size, end-of-text
// id; then per token one length byte and its bytes) — what llm.c's decoder prints tokens with.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using NextToken.Tokenization;

namespace NextToken.Interop;

/// <summary>Reads and writes llm.c tokenizer files (a decoding table: id → bytes).</summary>
public static class LlmcTokenizerFile
{
    /// <summary>Tokenizer file magic.</summary>
    public const int Magic = 20240328;

    /// <summary>Writes every token's bytes of <paramref name="tokenizer"/> (version 2, with its end-of-text id).</summary>
    public static void Save(string path, ITokenizer tokenizer)
    {
        var header = new int[256];
        header[0] = Magic; header[1] = 2; header[2] = tokenizer.VocabSize; header[3] = tokenizer.EndOfTextId ?? -1;
        Training.Checkpoint.WriteAtomically(path, s =>
        {
            s.Write(MemoryMarshal.AsBytes(header.AsSpan()));
            for (int id = 0; id < tokenizer.VocabSize; id++)
            {
                var b = tokenizer.TokenBytes(id);
                if (b.Length is 0 or > 255) throw new NotSupportedException($"token {id} is {b.Length} bytes long; llm.c's tokenizer file holds 1 to 255");
                s.WriteByte((byte)b.Length);
                s.Write(b);
            }
        });
    }

    /// <summary>Reads a tokenizer file (versions 1 and 2): every token's bytes and the end-of-text id (version 2).</summary>
    public static (byte[][] Tokens, int? EndOfText) Load(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        if (data.Length < 1024) throw new InvalidDataException($"'{path}' is truncated: {data.Length} bytes is shorter than llm.c's 1024-byte header");
        int magic = BinaryPrimitives.ReadInt32LittleEndian(data), version = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(4));
        if (magic != Magic) throw new InvalidDataException($"'{path}' is not an llm.c tokenizer file: magic is {magic}, expected {Magic}");
        if (version is not (1 or 2)) throw new InvalidDataException($"'{path}' has llm.c tokenizer version {version}; NextToken reads 1 and 2");
        int count = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(8));
        int? eot = version == 2 ? BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(12)) : null;
        var tokens = new byte[count][];
        int pos = 1024;
        for (int i = 0; i < count; i++)
        {
            if (pos >= data.Length || pos + 1 + data[pos] > data.Length) throw new InvalidDataException($"'{path}' is truncated at token {i} of {count}");
            tokens[i] = data.AsSpan(pos + 1, data[pos]).ToArray();
            pos += 1 + data[pos];
        }
        return (tokens, eot);
    }
}
