// ExtraParameters: tensors trained beside a model's own (LoRA adapters), stepped by the Trainer with the same schedule;
// ExtraOptimizerState: their AdamW moments saved beside a checkpoint, so a run with them resumes exactly.
using System.Globalization;
using NextToken.Interop;
using NextToken.Tensors;

namespace NextToken.Training;

/// <summary>
/// Parameters that live outside the model's arena but receive gradients from its backward (LoRA adapters through the
/// Linear adapter hook). The <see cref="Trainer"/> zeroes them with the model's, clips by the global norm over both,
/// updates them with their own AdamW at the same learning rate, and at every checkpoint calls <see cref="Save"/> and
/// writes their optimizer's moments (<see cref="ExtraOptimizerState"/>).
/// </summary>
public sealed record ExtraParameters(TensorLayout Layout, float[] Parameters, float[] Gradients)
{
    /// <summary>Writes them beside the checkpoint (the argument is the output directory).</summary>
    public Action<string>? Save { get; init; }
    /// <summary>More state saved with their moments (e.g. a dropout generator's), as string pairs.</summary>
    public Func<IReadOnlyDictionary<string, string>>? State { get; init; }
    /// <summary>Moments and step to continue from (a resumed run); null starts their optimizer fresh.</summary>
    public ExtraOptimizerState? Resume { get; init; }
}

/// <summary>
/// The AdamW state of <see cref="ExtraParameters"/> at a checkpoint: <c>extra_optimizer.safetensors</c>, one F32
/// tensor <c>NAME.exp_avg</c> and <c>NAME.exp_avg_sq</c> per tensor of their layout (PyTorch's names for Adam's
/// moments), metadata <c>step</c> (the optimizer's update count), <c>trainer_step</c> (the checkpoint's step, checked on
/// resume against checkpoint.bin's) and any <see cref="ExtraParameters.State"/> pairs.
/// </summary>
public sealed record ExtraOptimizerState(long Step, long TrainerStep, float[] M, float[] V, IReadOnlyDictionary<string, string> State)
{
    /// <summary>The file's name in a checkpoint directory.</summary>
    public const string FileName = "extra_optimizer.safetensors";
    private const string StepKey = "step", TrainerStepKey = "trainer_step";

    /// <summary>Writes the state of <paramref name="optimizer"/> over <paramref name="layout"/> into <paramref name="directory"/> (atomically).</summary>
    public static void Save(string directory, TensorLayout layout, AdamW optimizer, long trainerStep, IReadOnlyDictionary<string, string>? state = null)
    {
        var entries = new List<SafeTensorsEntry>();
        foreach (var slot in layout.Slots)
        {
            var s = slot;
            entries.Add(new SafeTensorsEntry(s.Name + ".exp_avg", s.Shape, () => optimizer.M.AsSpan((int)s.Offset, (int)s.Length).ToArray()));
            entries.Add(new SafeTensorsEntry(s.Name + ".exp_avg_sq", s.Shape, () => optimizer.V.AsSpan((int)s.Offset, (int)s.Length).ToArray()));
        }
        var meta = new Dictionary<string, string>
        {
            ["format"] = "pt",
            [StepKey] = optimizer.Step.ToString(CultureInfo.InvariantCulture),
            [TrainerStepKey] = trainerStep.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (k, v) in state ?? new Dictionary<string, string>())
        {
            if (meta.ContainsKey(k)) throw new ArgumentException($"state key '{k}' is reserved", nameof(state));
            meta[k] = v;
        }
        SafeTensorsWriter.Write(Path.Combine(directory, FileName), entries, "F32", meta);
    }

    /// <summary>
    /// Reads the file in <paramref name="directory"/> for tensors of <paramref name="layout"/>; a missing file, tensor or
    /// field, or a shape that differs, is a one-line error naming it.
    /// </summary>
    public static ExtraOptimizerState Load(string directory, TensorLayout layout)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: not found; the optimizer state of the adapters is saved there with each checkpoint", path);
        using var file = SafeTensorsFile.Open(path);
        long Field(string key) =>
            file.Metadata.TryGetValue(key, out var s) && long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) && v >= 0
                ? v : throw new InvalidDataException($"{path}: metadata field '{key}' is missing or not a count");
        var m = new float[layout.Size];
        var v = new float[layout.Size];
        foreach (var slot in layout.Slots)
            foreach (var (suffix, dst) in new[] { (".exp_avg", m), (".exp_avg_sq", v) })
            {
                string name = slot.Name + suffix;
                if (!file.Tensors.TryGetValue(name, out var info)) throw new InvalidDataException($"{path}: tensor '{name}' is missing");
                if (!info.Shape.Select(d => (int)d).SequenceEqual(slot.Shape))
                    throw new InvalidDataException($"{path}: tensor '{name}' has shape ({string.Join(", ", info.Shape)}), expected ({string.Join(", ", slot.Shape)})");
                file.Read(name, dst.AsSpan((int)slot.Offset, (int)slot.Length));
            }
        var state = file.Metadata.Where(p => p.Key is not ("format" or StepKey or TrainerStepKey)).ToDictionary(p => p.Key, p => p.Value);
        return new ExtraOptimizerState(Field(StepKey), Field(TrainerStepKey), m, v, state);
    }
}
