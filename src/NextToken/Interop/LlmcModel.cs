// LlmcModel: llm.c's GPT-2 model file (train_gpt2.c: 256 int32 header with magic 20240326, version 3 fp32 or 5 bf16,
// max T, V, L, NH, C, padded V; then the 16 parameter tensors, each for all layers at once) in and out.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using NextToken.Model;

namespace NextToken.Interop;

/// <summary>Reads and writes llm.c <c>gpt2_124M.bin</c>-style model files (see docs/interop.md).</summary>
public static class LlmcModel
{
    /// <summary>Model file magic.</summary>
    public const int Magic = 20240326;
    private const int HeaderInts = 256;

    /// <summary>True when <paramref name="path"/> is a file starting with llm.c's model magic.</summary>
    public static bool IsLlmcModel(string path)
    {
        if (!File.Exists(path)) return false;
        using var fs = File.OpenRead(path);
        Span<byte> b = stackalloc byte[4];
        return fs.ReadAtLeast(b, 4, throwOnEndOfStream: false) == 4 && BinaryPrimitives.ReadInt32LittleEndian(b) == Magic;
    }

    // llm.c's parameter order: (our name per layer or global, rows per layer, columns).
    private static IEnumerable<(string Name, bool PerLayer)> Order()
    {
        yield return ("wte.weight", false);
        yield return ("wpe.weight", false);
        foreach (string n in new[] { "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
                                     "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias" })
            yield return (n, true);
        yield return ("ln_f.weight", false);
        yield return ("ln_f.bias", false);
    }

    /// <summary>Loads an llm.c model file (fp32 or bf16) into a GPT-2-shaped model.</summary>
    public static GptModel Load(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var header = new int[HeaderInts];
        if (fs.Length < HeaderInts * 4) throw new InvalidDataException($"'{path}' is truncated: {fs.Length} bytes is shorter than llm.c's 1024-byte header");
        fs.ReadExactly(MemoryMarshal.AsBytes(header.AsSpan()));
        if (header[0] != Magic) throw new InvalidDataException($"'{path}' is not an llm.c model file: magic is {header[0]}, expected {Magic}");
        int version = header[1];
        if (version is not (3 or 5)) throw new InvalidDataException($"'{path}' has llm.c model version {version}; NextToken reads 3 (fp32) and 5 (bf16)");
        int maxT = header[2], V = header[3], L = header[4], NH = header[5], C = header[6], Vp = header[7];
        if (Vp < V) throw new InvalidDataException($"'{path}': padded vocabulary {Vp} is smaller than the vocabulary {V}");
        GptConfig cfg;
        try { cfg = new GptConfig { VocabSize = V, ContextLength = maxT, Layers = L, Heads = NH, EmbeddingSize = C }.Validate(); }
        catch (ArgumentException e) { throw new InvalidDataException($"'{path}': header describes an invalid model: {e.Message}", e); }
        var model = GptModel.CreateUninitialised(cfg);
        int elem = version == 3 ? 4 : 2;
        long expected = HeaderInts * 4L + Count(cfg, Vp) * elem;
        if (fs.Length != expected) throw new InvalidDataException($"'{path}' is {(fs.Length < expected ? "truncated" : "corrupt")}: expected {expected} bytes for this header, found {fs.Length}");
        var buffer = new byte[1 << 20];
        foreach (var (name, perLayer) in Order())
        {
            int layers = perLayer ? L : 1;
            for (int l = 0; l < layers; l++)
            {
                string ours = perLayer ? $"h.{l}.{name}" : name;
                var dest = model.Parameter(ours);
                long n = name == "wte.weight" ? (long)Vp * C : dest.Length;
                int keep = name == "wte.weight" ? V * C : dest.Length; // padded vocabulary rows are dropped
                ReadFloats(fs, dest[..keep], elem, buffer);
                Skip(fs, (n - keep) * elem);
            }
        }
        return model;
    }

    private static long Count(GptConfig cfg, int Vp)
    {
        long C = cfg.EmbeddingSize, L = cfg.Layers;
        return Vp * C + cfg.ContextLength * C + L * (C + C + 3 * C * C + 3 * C + C * C + C + C + C + 4 * C * C + 4 * C + 4 * C * C + C) + 2 * C;
    }

    private static void Skip(Stream s, long bytes) { if (bytes > 0) s.Seek(bytes, SeekOrigin.Current); }

    private static void ReadFloats(Stream s, Span<float> dest, int elem, byte[] buffer)
    {
        if (elem == 4) { s.ReadExactly(MemoryMarshal.AsBytes(dest)); return; }
        int chunk = buffer.Length / 2;
        for (int done = 0; done < dest.Length; done += chunk)
        {
            int n = Math.Min(chunk, dest.Length - done);
            s.ReadExactly(buffer.AsSpan(0, 2 * n));
            var bits = MemoryMarshal.Cast<byte, ushort>(buffer.AsSpan(0, 2 * n));
            for (int i = 0; i < n; i++) dest[done + i] = BitConverter.Int32BitsToSingle(bits[i] << 16);
        }
    }

    /// <summary>
    /// Writes <paramref name="model"/> as an llm.c model file (version 3 fp32, or 5 bf16), vocabulary padded to a
    /// multiple of 128 as llm.c pads it. Only GPT-2-shaped models (pre-LN LayerNorm, GELU, learned positions, biases,
    /// tied head, multi-head attention, MLP 4·C) have an llm.c form.
    /// </summary>
    public static void Save(string path, GptModel model, bool bf16 = false)
    {
        var cfg = model.Config;
        if (cfg.Norm != NormPlacement.Pre || cfg.NormKind != NormKind.LayerNorm || cfg.Mlp != MlpKind.Gelu || cfg.Positions != PositionEncoding.Learned
            || !cfg.Bias || !cfg.TiedEmbeddings || cfg.KvHeadCount != cfg.Heads || cfg.MlpSize != 4 * cfg.EmbeddingSize)
            throw new NotSupportedException("llm.c holds GPT-2-shaped models only (pre-LN LayerNorm, GELU MLP of 4·C, learned positions, biases, tied head, multi-head attention)");
        int V = cfg.VocabSize, C = cfg.EmbeddingSize, Vp = (V + 127) / 128 * 128;
        var header = new int[HeaderInts];
        header[0] = Magic; header[1] = bf16 ? 5 : 3; header[2] = cfg.ContextLength; header[3] = V; header[4] = cfg.Layers;
        header[5] = cfg.Heads; header[6] = C; header[7] = Vp;
        Training.Checkpoint.WriteAtomically(path, s =>
        {
            s.Write(MemoryMarshal.AsBytes(header.AsSpan()));
            foreach (var (name, perLayer) in Order())
                for (int l = 0; l < (perLayer ? cfg.Layers : 1); l++)
                {
                    var src = model.Parameter(perLayer ? $"h.{l}.{name}" : name);
                    if (name == "wte.weight") src = src[..(V * C)];
                    WriteFloats(s, src, bf16);
                    if (name == "wte.weight") WriteFloats(s, new float[(Vp - V) * C], bf16);
                }
        });
    }

    private static void WriteFloats(Stream s, ReadOnlySpan<float> src, bool bf16)
    {
        if (!bf16) { s.Write(MemoryMarshal.AsBytes(src)); return; }
        var buf = new ushort[Math.Min(src.Length, 1 << 19)];
        for (int done = 0; done < src.Length; done += buf.Length)
        {
            int n = Math.Min(buf.Length, src.Length - done);
            for (int i = 0; i < n; i++) buf[i] = Dtypes.ToBf16(src[done + i]);
            s.Write(MemoryMarshal.AsBytes(buf.AsSpan(0, n)));
        }
    }
}
