// GgufExport: GGUF files for llama.cpp (not yet written; see docs/interop.md).
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Interop;

/// <summary>GGUF export for llama.cpp.</summary>
public static class GgufExport
{
    /// <summary>Writes <paramref name="model"/> as GGUF (f32, f16 or q8_0).</summary>
    public static void Save(string path, GptModel model, ITokenizer? tokenizer, string dtype)
    {
        _ = (path, model, tokenizer, dtype);
        throw new NotSupportedException("GGUF export is not implemented yet (issue 10); export --format hf and convert with llama.cpp's convert_hf_to_gguf.py");
    }
}
