// Checkpoint: one binary file (weights, Adam moments, training state) written atomically, plus config and tokenizer.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Training;

/// <summary>
/// A checkpoint directory holds <c>checkpoint.bin</c>, <c>config.json</c> (the effective model config, readable) and
/// <c>tokenizer.json</c>. checkpoint.bin is: int32 magic 0x4B50544E ("NTPK"), int32 version 1, int64 parameter floats,
/// int32 flags (bit 0: optimizer moments present), int32 JSON length, the JSON (config + training state), the
/// parameters, then m and v. Every file is written to a temporary name and renamed, so a crash or a full disk never
/// leaves a half-written checkpoint where a good one was.
/// </summary>
public static class Checkpoint
{
    /// <summary>The binary file's name.</summary>
    public const string FileName = "checkpoint.bin";
    /// <summary>The readable config's name.</summary>
    public const string ConfigFileName = "config.json";
    /// <summary>Magic number at the start of checkpoint.bin ("NTPK" little-endian).</summary>
    public const int Magic = 0x4B50544E;
    /// <summary>Format version.</summary>
    public const int Version = 1;
    private const int HeaderBytes = 4 + 4 + 8 + 4 + 4;

    private static readonly System.Text.Json.JsonSerializerOptions MetaJson = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private sealed record Meta(string Config, TrainingState? State, AdamWOptions? Optimizer, long OptimizerStep);

    /// <summary>Saves the model (and optionally optimizer, state and tokenizer) into <paramref name="directory"/>.</summary>
    public static void Save(string directory, GptModel model, AdamW? optimizer = null, TrainingState? state = null, ITokenizer? tokenizer = null)
    {
        Directory.CreateDirectory(directory);
        var meta = new Meta(model.Config.ToJson(), state, optimizer?.Options, optimizer?.Step ?? 0);
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(meta, MetaJson);
        string path = Path.Combine(directory, FileName);
        WriteAtomically(path, stream =>
        {
            Span<byte> header = stackalloc byte[HeaderBytes];
            BinaryPrimitives.WriteInt32LittleEndian(header, Magic);
            BinaryPrimitives.WriteInt32LittleEndian(header[4..], Version);
            BinaryPrimitives.WriteInt64LittleEndian(header[8..], model.Parameters.LongLength);
            BinaryPrimitives.WriteInt32LittleEndian(header[16..], optimizer is null ? 0 : 1);
            BinaryPrimitives.WriteInt32LittleEndian(header[20..], json.Length);
            stream.Write(header);
            stream.Write(json);
            stream.Write(MemoryMarshal.AsBytes(model.Parameters.AsSpan()));
            if (optimizer is not null)
            {
                // Moments are stored in the parameters' layout; a partly frozen model's (smaller) moments are spread
                // out with zeros for the frozen tensors.
                stream.Write(MemoryMarshal.AsBytes(Spread(model, optimizer.M).AsSpan()));
                stream.Write(MemoryMarshal.AsBytes(Spread(model, optimizer.V).AsSpan()));
            }
        });
        WriteAtomically(Path.Combine(directory, ConfigFileName), s => s.Write(Encoding.UTF8.GetBytes(model.Config.ToJson())));
        tokenizer?.Save(directory);
    }

    private static float[] Spread(GptModel model, float[] moments)
    {
        if (moments.LongLength == model.Parameters.LongLength && model.GradientLayout.Size == model.Layout.Size) return moments;
        var full = new float[model.Parameters.Length];
        foreach (var g in model.GradientLayout.Slots)
            Array.Copy(moments, g.Offset, full, model.Layout[g.Name].Offset, g.Length);
        return full;
    }

    /// <summary>
    /// The optimizer for <paramref name="model"/>'s trainable tensors (its <c>GradientLayout</c>, after any freezing) from
    /// one loaded in the parameters' full layout: the moments of the trainable tensors are gathered, the step kept.
    /// A model with every tensor trainable gets <paramref name="loaded"/> itself.
    /// </summary>
    public static AdamW ForTrainable(GptModel model, AdamW loaded)
    {
        if (loaded.M.LongLength != model.Parameters.LongLength)
            throw new ArgumentException($"the optimizer holds {loaded.M.LongLength} moments, the model {model.Parameters.LongLength} parameters");
        if (model.GradientLayout.Size == model.Layout.Size) return loaded;
        var opt = new AdamW(model.Layout, model.GradientLayout, loaded.Options, loaded.Groups) { Step = loaded.Step };
        foreach (var g in model.GradientLayout.Slots)
        {
            long from = model.Layout[g.Name].Offset;
            Array.Copy(loaded.M, from, opt.M, g.Offset, g.Length);
            Array.Copy(loaded.V, from, opt.V, g.Offset, g.Length);
        }
        return opt;
    }

    /// <summary>Writes through a temporary file in the same directory and renames it over <paramref name="path"/>.</summary>
    public static void WriteAtomically(string path, Action<Stream> write)
    {
        string tmp = path + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch (IOException e)
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw new IOException($"could not write '{path}' ({e.Message}); any earlier file there is unchanged", e);
        }
    }

    /// <summary>Loads a checkpoint directory for inference: the model and, when present, its tokenizer.</summary>
    public static (GptModel Model, ITokenizer? Tokenizer) Load(string directory)
    {
        var c = LoadFull(directory, withOptimizer: false);
        return (c.Model, c.Tokenizer);
    }

    /// <summary>Everything a checkpoint holds.</summary>
    public sealed record Loaded(GptModel Model, ITokenizer? Tokenizer, AdamW? Optimizer, TrainingState? State);

    /// <summary>
    /// Loads a checkpoint directory (or a path to checkpoint.bin). Validates magic, version and size, and says which
    /// file is wrong and how.
    /// </summary>
    public static Loaded LoadFull(string directory, bool withOptimizer)
    {
        string path = File.Exists(directory) ? directory : Path.Combine(directory, FileName);
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!File.Exists(path)) throw new FileNotFoundException($"no checkpoint at '{directory}': expected {FileName} there (Checkpoint.Save and the Trainer write one)", path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        long size = fs.Length;
        Span<byte> header = stackalloc byte[HeaderBytes];
        if (size < HeaderBytes || fs.ReadAtLeast(header, HeaderBytes, throwOnEndOfStream: false) < HeaderBytes)
            throw new InvalidDataException($"'{path}' is truncated: {size} bytes is shorter than the {HeaderBytes}-byte header");
        int magic = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (magic != Magic) throw new InvalidDataException($"'{path}' is not a NextToken checkpoint: magic is 0x{magic:X8}, expected 0x{Magic:X8}");
        int version = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        if (version != Version) throw new InvalidDataException($"'{path}' has checkpoint version {version}; this build reads version {Version}");
        long count = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
        bool hasOpt = (BinaryPrimitives.ReadInt32LittleEndian(header[16..]) & 1) != 0;
        int jsonLength = BinaryPrimitives.ReadInt32LittleEndian(header[20..]);
        if (count < 0 || jsonLength < 0 || jsonLength > 1 << 24) throw new InvalidDataException($"'{path}' has a corrupt header (parameters {count}, metadata {jsonLength} bytes)");
        long expected = HeaderBytes + jsonLength + count * 4 * (hasOpt ? 3 : 1);
        if (size != expected) throw new InvalidDataException($"'{path}' is {(size < expected ? "truncated" : "corrupt")}: expected {expected} bytes, found {size}");
        var json = new byte[jsonLength];
        fs.ReadExactly(json);
        Meta meta;
        try { meta = JsonSerializer.Deserialize<Meta>(json, MetaJson) ?? throw new JsonException("empty metadata"); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' has corrupt metadata: {e.Message}", e); }
        var config = GptConfig.FromJson(meta.Config);
        var model = GptModel.CreateUninitialised(config);
        if (model.Parameters.LongLength != count)
            throw new InvalidDataException($"'{path}' holds {count} parameter floats but its config needs {model.Parameters.LongLength}");
        fs.ReadExactly(MemoryMarshal.AsBytes(model.Parameters.AsSpan()));
        AdamW? opt = null;
        if (withOptimizer && hasOpt)
        {
            opt = new AdamW(model.Layout, meta.Optimizer ?? new AdamWOptions()) { Step = meta.OptimizerStep };
            fs.ReadExactly(MemoryMarshal.AsBytes(opt.M.AsSpan()));
            fs.ReadExactly(MemoryMarshal.AsBytes(opt.V.AsSpan()));
        }
        if (meta.State is { } st) model.DropoutRng = new Tensors.Rng { State = st.DropoutRngState, Increment = st.DropoutRngIncrement };
        ITokenizer? tokenizer = File.Exists(Path.Combine(dir, TokenizerStore.FileName)) ? TokenizerStore.Load(dir) : null;
        return new Loaded(model, tokenizer, opt, meta.State);
    }
}
