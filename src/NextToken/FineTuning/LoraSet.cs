// LoraSet: every LoRA adapter of a model — attaching them (base frozen), their parameter and gradient arenas, saving
// and loading them alone in PEFT's file layout (adapter_model.safetensors + adapter_config.json), and merging them.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NextToken.Interop;
using NextToken.Model;
using NextToken.Tensors;

namespace NextToken.FineTuning;

/// <summary>
/// The LoRA adapters attached to a <see cref="GptModel"/> (Hu et al. 2021). Attaching freezes every base tensor, so the
/// base gets no gradient memory, no optimizer state and no weight-gradient product; an optimizer over
/// <see cref="Layout"/> updates <see cref="Parameters"/> from <see cref="Gradients"/>.
/// Names follow PEFT: GPT-2-style models (GELU MLP) adapt c_attn, attn.c_proj, c_fc, mlp.c_proj; LLaMA-style models
/// (SwiGLU) adapt q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj — one A, B pair each, placed on the rows
/// of our fused layers they fill.
/// </summary>
public sealed class LoraSet
{
    /// <summary>The adapter weights file.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";
    /// <summary>The adapter configuration file.</summary>
    public const string ConfigFileName = "adapter_config.json";

    private readonly List<LoraAdapter> _adapters = [];

    private LoraSet(GptModel model, LoraOptions options)
    {
        Model = model; Options = options.Validate();
        Layout = new TensorLayout();
        DropoutRng = new Rng(4242, 11);
    }

    /// <summary>The adapted model.</summary>
    public GptModel Model { get; }
    /// <summary>Rank, alpha, dropout, targets.</summary>
    public LoraOptions Options { get; }
    /// <summary>Names and shapes of every A and B (PEFT names without the base_model.model. prefix).</summary>
    public TensorLayout Layout { get; }
    /// <summary>All A and B values (see <see cref="Layout"/>).</summary>
    public float[] Parameters { get; private set; } = [];
    /// <summary>Their gradients (same layout), accumulated by the model's backward.</summary>
    public float[] Gradients { get; private set; } = [];
    /// <summary>The adapters, one per adapted layer.</summary>
    public IReadOnlyList<LoraAdapter> Adapters => _adapters;
    /// <summary>When true the adapters apply dropout (they also do whenever the model is <see cref="GptModel.Training"/>).</summary>
    public bool Training { get; set; }
    /// <summary>The generator LoRA dropout draws from.</summary>
    public Rng DropoutRng;

    private const string RngStateKey = "lora_dropout_rng_state", RngIncrementKey = "lora_dropout_rng_increment";

    /// <summary>The dropout generator's state as string pairs (saved with the adapters' optimizer state for an exact resume).</summary>
    public IReadOnlyDictionary<string, string> DropoutState() => new Dictionary<string, string>
    {
        [RngStateKey] = DropoutRng.State.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [RngIncrementKey] = DropoutRng.Increment.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Sets the dropout generator from <see cref="DropoutState"/>'s pairs; <paramref name="source"/> names the file in errors.</summary>
    public void RestoreDropoutState(IReadOnlyDictionary<string, string> state, string source)
    {
        ArgumentNullException.ThrowIfNull(state);
        ulong Get(string key) => state.TryGetValue(key, out var s) && ulong.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong v)
            ? v : throw new InvalidDataException($"{source}: metadata field '{key}' is missing or not an unsigned integer");
        DropoutRng = new Rng { State = Get(RngStateKey), Increment = Get(RngIncrementKey) };
    }

    // Scratch shared by every adapter (each uses it only inside one call): 0 dropped-out input, 1 dropout mask,
    // 2 (N, Rows) product / output gradient, 3 du (N, r), 4 dx before the mask. Grown, never shrunk.
    private readonly float[][] _scratch = [[], [], [], [], []];

    internal Span<float> Scratch(int which, int length)
    {
        if (_scratch[which].Length < length) _scratch[which] = new float[length];
        return _scratch[which].AsSpan(0, length);
    }

    /// <summary>Number of LoRA parameters.</summary>
    public long TrainableParameters => Layout.Size;

    /// <summary>True for LLaMA-style models (SwiGLU MLP): PEFT's LLaMA module names.</summary>
    public static bool UsesLlamaNames(GptConfig cfg) => cfg.Mlp == MlpKind.SwiGlu;

    /// <summary>PEFT's target_modules for <paramref name="targets"/> on this model.</summary>
    public static string[] TargetModules(GptConfig cfg, LoraTargets targets)
    {
        var list = new List<string>();
        bool llama = UsesLlamaNames(cfg);
        if (targets.HasFlag(LoraTargets.Qkv)) list.AddRange(llama ? ["q_proj", "k_proj", "v_proj"] : ["c_attn"]);
        if (targets.HasFlag(LoraTargets.Proj)) list.Add(llama ? "o_proj" : "c_proj");
        if (targets.HasFlag(LoraTargets.Fc)) list.AddRange(llama ? ["gate_proj", "up_proj"] : ["c_fc"]);
        if (targets.HasFlag(LoraTargets.FcProj)) list.Add(llama ? "down_proj" : "c_proj");
        return list.Distinct().ToArray();
    }

    // (our layer suffix, HF module path within a block, first row, rows) for every segment of layer l.
    private static IEnumerable<(string Layer, string Module, int Row, int Rows)> Segments(GptConfig cfg, LoraTargets targets, int l)
    {
        string h = $"h.{l}.";
        int C = cfg.EmbeddingSize, F = cfg.MlpSize, q = cfg.Heads * cfg.HeadSize, kv = cfg.KvSize;
        if (UsesLlamaNames(cfg))
        {
            string m = $"model.layers.{l}.";
            if (targets.HasFlag(LoraTargets.Qkv))
            {
                yield return (h + "attn.c_attn", m + "self_attn.q_proj", 0, q);
                yield return (h + "attn.c_attn", m + "self_attn.k_proj", q, kv);
                yield return (h + "attn.c_attn", m + "self_attn.v_proj", q + kv, kv);
            }
            if (targets.HasFlag(LoraTargets.Proj)) yield return (h + "attn.c_proj", m + "self_attn.o_proj", 0, C);
            if (targets.HasFlag(LoraTargets.Fc))
            {
                yield return (h + "mlp.c_fc", m + "mlp.gate_proj", 0, F);
                yield return (h + "mlp.c_fc", m + "mlp.up_proj", F, F);
            }
            if (targets.HasFlag(LoraTargets.FcProj)) yield return (h + "mlp.c_proj", m + "mlp.down_proj", 0, C);
        }
        else
        {
            string m = $"transformer.h.{l}.";
            if (targets.HasFlag(LoraTargets.Qkv)) yield return (h + "attn.c_attn", m + "attn.c_attn", 0, cfg.QkvSize);
            if (targets.HasFlag(LoraTargets.Proj)) yield return (h + "attn.c_proj", m + "attn.c_proj", 0, C);
            if (targets.HasFlag(LoraTargets.Fc)) yield return (h + "mlp.c_fc", m + "mlp.c_fc", 0, F);
            if (targets.HasFlag(LoraTargets.FcProj)) yield return (h + "mlp.c_proj", m + "mlp.c_proj", 0, C);
        }
    }

    /// <summary>
    /// Attaches fresh adapters to <paramref name="model"/> (A Kaiming-uniform as PEFT: U(−1/√in, 1/√in); B zero, so the
    /// model's output is unchanged) and freezes every base tensor. Call before creating the optimizer.
    /// </summary>
    public static LoraSet Attach(GptModel model, LoraOptions options, ulong seed = 1)
    {
        var set = Build(model, options);
        var rng = new Rng(seed, 17);
        foreach (var a in set._adapters)
            foreach (var seg in a.Segments)
            {
                float bound = 1f / MathF.Sqrt(a.Layer.In);
                var p = set.Parameters.AsSpan((int)seg.A.Offset, (int)seg.A.Length);
                for (int i = 0; i < p.Length; i++) p[i] = (2f * rng.NextFloat() - 1f) * bound;
            }
        return set;
    }

    private static LoraSet Build(GptModel model, LoraOptions options)
    {
        foreach (var lin in model.Linears)
            if (lin.Adapter is not null) throw new InvalidOperationException($"layer {lin.Name} already has an adapter");
        var set = new LoraSet(model, options);
        var cfg = model.Config;
        int r = options.Rank;
        var plan = new List<(string Layer, List<(string Module, int Row, int Rows)> Segs)>();
        for (int l = 0; l < cfg.Layers; l++)
            foreach (var g in Segments(cfg, options.Targets, l).GroupBy(s => s.Layer))
            {
                var lin = model.Linear(g.Key);
                var segs = new List<(string, int, int)>();
                foreach (var s in g)
                {
                    set.Layout.Add(s.Module + ".lora_A.weight", TensorKind.Matrix, r, lin.In);
                    set.Layout.Add(s.Module + ".lora_B.weight", TensorKind.Matrix, s.Rows, r);
                    segs.Add((s.Module, s.Row, s.Rows));
                }
                plan.Add((g.Key, segs));
            }
        set.Parameters = new float[set.Layout.Size];
        set.Gradients = new float[set.Layout.Size];
        model.Freeze(_ => true);
        foreach (var (layer, segs) in plan)
        {
            var lin = model.Linear(layer);
            var segments = segs.Select(s => new LoraSegment(s.Module, s.Row, s.Rows, set.Layout[s.Module + ".lora_A.weight"], set.Layout[s.Module + ".lora_B.weight"])).ToList();
            var adapter = new LoraAdapter(set, lin, segments, r, options.Scale);
            lin.Adapter = adapter;
            set._adapters.Add(adapter);
        }
        return set;
    }

    /// <summary>Sets every LoRA gradient to zero.</summary>
    public void ZeroGradients() => Array.Clear(Gradients);

    /// <summary>Removes the adapters from the model (its tensors stay frozen).</summary>
    public void Detach()
    {
        foreach (var a in _adapters) a.Layer.Adapter = null;
    }

    /// <summary>ΔW (Rows, In) = (α/r)·B·A for one segment, in our row order.</summary>
    public float[] Delta(LoraSegment seg, int inFeatures)
    {
        int r = Options.Rank;
        var d = new float[seg.Rows * inFeatures];
        var a = Parameters.AsSpan((int)seg.A.Offset, (int)seg.A.Length);
        var b = Parameters.AsSpan((int)seg.B.Offset, (int)seg.B.Length);
        for (int o = 0; o < seg.Rows; o++)
            for (int k = 0; k < r; k++)
            {
                float w = Options.Scale * b[o * r + k];
                if (w == 0) continue;
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(a.Slice(k * inFeatures, inFeatures), w, d.AsSpan(o * inFeatures, inFeatures), d.AsSpan(o * inFeatures, inFeatures));
            }
        return d;
    }

    /// <summary>Adds every ΔW into the base weights and detaches the adapters: the model alone then computes what base + adapters did.</summary>
    public void Merge()
    {
        foreach (var a in _adapters)
        {
            var w = Model.Parameter(a.Layer.Name + ".weight");
            foreach (var seg in a.Segments)
            {
                var d = Delta(seg, a.Layer.In);
                var rows = w.Slice(seg.Row * a.Layer.In, seg.Rows * a.Layer.In);
                System.Numerics.Tensors.TensorPrimitives.Add(rows, d, rows);
            }
        }
        Detach();
    }

    /// <summary>
    /// A fingerprint of the base an adapter is made for: the block shapes and a strided sample of every adapted layer's
    /// weight (embeddings are left out, so a base whose vocabulary grew by special tokens keeps its fingerprint).
    /// </summary>
    public static string Fingerprint(GptModel model)
    {
        var cfg = model.Config;
        using var sha = SHA256.Create();
        var sb = new StringBuilder();
        sb.Append($"L{cfg.Layers} C{cfg.EmbeddingSize} H{cfg.Heads} KV{cfg.KvHeadCount} HS{cfg.HeadSize} F{cfg.MlpSize} {cfg.Mlp} {cfg.Norm}");
        var head = Encoding.UTF8.GetBytes(sb.ToString());
        sha.TransformBlock(head, 0, head.Length, null, 0);
        var buffer = new float[4096];
        foreach (var lin in model.Linears.OrderBy(l => l.Name, StringComparer.Ordinal))
        {
            var w = model.Parameter(lin.Name + ".weight");
            int stride = Math.Max(1, w.Length / 4096), n = 0;
            for (int i = 0; i < w.Length && n < buffer.Length; i += stride) buffer[n++] = w[i];
            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(buffer.AsSpan(0, n)).ToArray();
            sha.TransformBlock(bytes, 0, bytes.Length, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        return Convert.ToHexStringLower(sha.Hash!)[..16];
    }

    private const string Prefix = "base_model.model.";

    // Our rows of a LLaMA q/k segment are in adjacent-pair RoPE order; PEFT's lora_B rows are in HF's rotate-half order.
    private bool NeedsRopePermute(LoraSegment seg) =>
        Model.Config.Positions == PositionEncoding.Rotary && UsesLlamaNames(Model.Config)
        && (seg.Module.EndsWith(".q_proj", StringComparison.Ordinal) || seg.Module.EndsWith(".k_proj", StringComparison.Ordinal));

    // Moves rows between our pair order and HF's rotate-half order within each head (toHf picks the direction).
    private void RopeRows(ReadOnlySpan<float> src, Span<float> dst, int rows, int cols, bool toHf)
    {
        int hs = Model.Config.HeadSize, half = hs / 2, heads = rows / hs;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++)
                {
                    int hfRow = h * hs + j * half + i, ourRow = h * hs + 2 * i + j;
                    src.Slice((toHf ? ourRow : hfRow) * cols, cols).CopyTo(dst.Slice((toHf ? hfRow : ourRow) * cols, cols));
                }
    }

    /// <summary>Writes adapter_model.safetensors (F32, PEFT names) and adapter_config.json into <paramref name="directory"/>.</summary>
    public void Save(string directory, string? baseModelPath = null)
    {
        Directory.CreateDirectory(directory);
        var entries = new List<SafeTensorsEntry>();
        foreach (var a in _adapters)
            foreach (var seg in a.Segments)
            {
                var sa = seg.A; var sb = seg.B;
                entries.Add(new SafeTensorsEntry(Prefix + sa.Name, sa.Shape, () => Parameters.AsSpan((int)sa.Offset, (int)sa.Length).ToArray()));
                bool permute = NeedsRopePermute(seg);
                entries.Add(new SafeTensorsEntry(Prefix + sb.Name, sb.Shape, () =>
                {
                    var src = Parameters.AsSpan((int)sb.Offset, (int)sb.Length);
                    var outp = new float[src.Length];
                    if (permute) RopeRows(src, outp, sb.Shape[0], sb.Shape[1], toHf: true); else src.CopyTo(outp);
                    return outp;
                }));
            }
        string fingerprint = Fingerprint(Model);
        SafeTensorsWriter.Write(Path.Combine(directory, WeightsFileName), entries, "F32",
            new Dictionary<string, string> { ["format"] = "pt", ["nexttoken_base_fingerprint"] = fingerprint });
        var cfg = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["r"] = Options.Rank,
            ["lora_alpha"] = Options.Alpha,
            ["lora_dropout"] = Options.Dropout,
            ["target_modules"] = new JsonArray(TargetModules(Model.Config, Options.Targets).Select(s => (JsonNode?)s).ToArray()),
            ["bias"] = "none",
            ["fan_in_fan_out"] = !UsesLlamaNames(Model.Config),
            ["inference_mode"] = true,
            ["base_model_name_or_path"] = baseModelPath,
            ["nexttoken"] = new JsonObject
            {
                ["base_fingerprint"] = fingerprint,
                ["targets"] = LoraOptions.FormatTargets(Options.Targets),
                ["layers"] = Model.Config.Layers,
                ["embedding_size"] = Model.Config.EmbeddingSize,
            },
        };
        NextToken.Training.Checkpoint.WriteAtomically(Path.Combine(directory, ConfigFileName),
            s => s.Write(Encoding.UTF8.GetBytes(cfg.ToJsonString(new JsonSerializerOptions { WriteIndented = true }))));
    }

    /// <summary>
    /// Reads an adapter directory written by <see cref="Save"/> (or by PEFT for a base of the same shapes) and attaches it
    /// to <paramref name="model"/>. An adapter made for another base is a one-line error (fingerprint or shape mismatch).
    /// </summary>
    public static LoraSet Load(string directory, GptModel model)
    {
        string cfgPath = Path.Combine(directory, ConfigFileName), wPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(cfgPath)) throw new FileNotFoundException($"{cfgPath}: not found; an adapter is a directory holding {ConfigFileName} and {WeightsFileName}");
        if (!File.Exists(wPath)) throw new FileNotFoundException($"{wPath}: not found; an adapter is a directory holding {ConfigFileName} and {WeightsFileName}");
        JsonNode root;
        try { root = JsonNode.Parse(File.ReadAllText(cfgPath)) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{cfgPath}: not valid JSON ({e.Message.Split('\n')[0]})"); }
        if ((string?)root["peft_type"] is { } pt && pt != "LORA") throw new InvalidDataException($"{cfgPath}: peft_type is '{pt}', expected LORA");
        int r = (int?)root["r"] ?? throw new InvalidDataException($"{cfgPath}: field 'r' is missing (the LoRA rank)");
        float alpha = (float?)root["lora_alpha"] ?? throw new InvalidDataException($"{cfgPath}: field 'lora_alpha' is missing");
        float dropout = (float?)root["lora_dropout"] ?? 0f;
        var modules = root["target_modules"] is JsonArray arr ? arr.Select(n => (string)n!).ToHashSet() : throw new InvalidDataException($"{cfgPath}: field 'target_modules' is missing (a list of module names)");
        LoraTargets targets;
        if ((string?)root["nexttoken"]?["targets"] is { } ours) targets = LoraOptions.ParseTargets(ours);
        else
        {
            targets = LoraTargets.None;
            if (modules.Contains("c_attn") || modules.Contains("q_proj")) targets |= LoraTargets.Qkv;
            if (modules.Contains("o_proj")) targets |= LoraTargets.Proj;
            if (modules.Contains("c_fc") || modules.Contains("gate_proj")) targets |= LoraTargets.Fc;
            if (modules.Contains("down_proj")) targets |= LoraTargets.FcProj;
            if (modules.Contains("c_proj")) targets |= LoraTargets.Proj | LoraTargets.FcProj;
        }
        if ((string?)root["nexttoken"]?["base_fingerprint"] is { } fp)
        {
            string have = Fingerprint(model);
            if (fp != have)
                throw new InvalidDataException($"{cfgPath}: adapter was made for another base (fingerprint {fp}; this base has {have}, {model.Config.Layers} layers × {model.Config.EmbeddingSize})");
        }
        var set = Build(model, new LoraOptions { Rank = r, Alpha = alpha, Dropout = dropout, Targets = targets });
        try
        {
            using var file = SafeTensorsFile.Open(wPath);
            foreach (var a in set._adapters)
                foreach (var seg in a.Segments)
                    foreach (var slot in new[] { seg.A, seg.B })
                    {
                        string name = Prefix + slot.Name;
                        if (!file.Tensors.TryGetValue(name, out var info))
                            throw new InvalidDataException($"{wPath}: tensor '{name}' is missing; the adapter does not fit this base ({model.Config.Layers} layers)");
                        if (!info.Shape.Select(d => (int)d).SequenceEqual(slot.Shape))
                            throw new InvalidDataException($"{wPath}: tensor '{name}' has shape ({string.Join(", ", info.Shape)}), this base needs ({string.Join(", ", slot.Shape)}); the adapter was made for another base");
                        var dst = set.Parameters.AsSpan((int)slot.Offset, (int)slot.Length);
                        if (slot == seg.B && set.NeedsRopePermute(seg))
                        {
                            var tmp = new float[slot.Length];
                            file.Read(name, tmp);
                            set.RopeRows(tmp, dst, slot.Shape[0], slot.Shape[1], toHf: false);
                        }
                        else file.Read(name, dst);
                    }
        }
        catch { set.Detach(); throw; }
        return set;
    }
}
