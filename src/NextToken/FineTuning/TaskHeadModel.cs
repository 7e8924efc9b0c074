// TaskHeadModel: a GPT with GPT-1's task head — the special tokens added to its vocabulary, a linear head on the extract
// token's final hidden state, evaluation (accuracy, F1, Pearson/Spearman) and the head's files.
using System.Text;
using System.Text.Json;
using NextToken.Interop;
using NextToken.Model;
using NextToken.Model.Heads;
using NextToken.Tokenization;

namespace NextToken.FineTuning;

/// <summary>What a task head predicts, saved as task_head.json beside task_head.safetensors.</summary>
public sealed record TaskHeadSpec
{
    /// <summary>The task.</summary>
    public string Task { get; init; } = "classification";
    /// <summary>Class names in output order (labels as written in the data); empty for multiple choice and scores.</summary>
    public string[] Classes { get; init; } = [];
    /// <summary>K: classes, or the number of choices for multiple choice, or 1 for a score.</summary>
    public int Outputs { get; init; }
    /// <summary>True when a similarity head predicts a score (mean squared error) rather than a class.</summary>
    public bool Regression { get; init; }
    /// <summary>The head's width (the model's hidden size).</summary>
    public int Width { get; init; }

    /// <summary>The parsed task.</summary>
    public TaskKind Kind => TaskData.ParseKind(Task);
    /// <summary>The head's output count: one score per sequence for multiple choice and regression, else one logit per class.</summary>
    public int HeadOutputs => Kind == TaskKind.MultipleChoice || Regression ? 1 : Outputs;
}

/// <summary>Task metrics: accuracy always (0 for a score head), F1 for two classes, Pearson/Spearman for scores.</summary>
public sealed record TaskMetrics(int Examples, double Accuracy, double? F1 = null, double? Pearson = null, double? Spearman = null);

/// <summary>A model, its tokenizer with GPT-1's special tokens, a linear head and (optionally) LoRA adapters.</summary>
public sealed class TaskHeadModel
{
    /// <summary>Head configuration file.</summary>
    public const string SpecFileName = "task_head.json";
    /// <summary>Head weights file.</summary>
    public const string WeightsFileName = "task_head.safetensors";

    /// <summary>Wraps parts already built.</summary>
    public TaskHeadModel(GptModel model, ITokenizer tokenizer, LinearHead head, TaskHeadSpec spec, LoraSet? lora)
    {
        Model = model; Tokenizer = tokenizer; Head = head; Spec = spec; Lora = lora;
        Start = tokenizer is SpecialTokensTokenizer s ? s.IdOf(TaskTokens.Start) ?? throw Missing() : throw Missing();
        Delimiter = ((SpecialTokensTokenizer)tokenizer).IdOf(TaskTokens.Delimiter) ?? throw Missing();
        Extract = ((SpecialTokensTokenizer)tokenizer).IdOf(TaskTokens.Extract) ?? throw Missing();
        static InvalidOperationException Missing() => new("the tokenizer lacks GPT-1's task tokens; build it with TaskHeadModel.WithTaskTokens");
    }

    /// <summary>The transformer.</summary>
    public GptModel Model { get; }
    /// <summary>Tokenizer with the start, delimiter and extract tokens.</summary>
    public ITokenizer Tokenizer { get; }
    /// <summary>The linear head.</summary>
    public LinearHead Head { get; }
    /// <summary>What it predicts.</summary>
    public TaskHeadSpec Spec { get; }
    /// <summary>LoRA adapters when the base is frozen; null for full fine-tuning.</summary>
    public LoraSet? Lora { get; }
    /// <summary>Token ids.</summary>
    public int Start { get; }
    /// <inheritdoc cref="Start"/>
    public int Delimiter { get; }
    /// <inheritdoc cref="Start"/>
    public int Extract { get; }

    /// <summary>
    /// Adds GPT-1's start, delimiter and extract tokens to <paramref name="tokenizer"/> and, when the vocabulary grows, a
    /// copy of <paramref name="model"/> with rows for them (each new row the mean of the existing embedding rows, also in
    /// an untied output head). Deterministic, so a LoRA adapter's base is rebuilt identically at load time.
    /// </summary>
    public static (GptModel Model, SpecialTokensTokenizer Tokenizer) WithTaskTokens(GptModel model, ITokenizer tokenizer)
    {
        var tok = SpecialTokensTokenizer.Create(tokenizer, TaskTokens.All);
        if (tok.VocabSize <= model.VocabSize) return (model, tok);
        int oldV = model.VocabSize, C = model.Config.EmbeddingSize;
        var grown = GptModel.CreateUninitialised(model.Config with { VocabSize = tok.VocabSize });
        foreach (var slot in grown.Layout.Slots)
        {
            var dst = grown.Parameter(slot.Name);
            var src = model.Parameter(slot.Name);
            if (src.Length == dst.Length && slot.Name is not ("wte.weight" or "lm_head.weight")) { src.CopyTo(dst); continue; }
            // (vocab rows, C): real rows copied, new rows the mean of the real rows.
            src[..(oldV * C)].CopyTo(dst);
            var mean = new double[C];
            for (int v = 0; v < oldV; v++)
                for (int c = 0; c < C; c++) mean[c] += src[v * C + c];
            for (int v = oldV; v < tok.VocabSize; v++)
                for (int c = 0; c < C; c++) dst[v * C + c] = (float)(mean[c] / oldV);
        }
        grown.DropoutRng = model.DropoutRng;
        return (grown, tok);
    }

    /// <summary>Transforms records for this head; counts sequences truncated from the left.</summary>
    public List<TaskExample> Prepare(IEnumerable<TaskRecord> records, out int truncated)
    {
        truncated = 0;
        var list = new List<TaskExample>();
        foreach (var r in records) list.Add(TaskData.Transform(r, Spec.Kind, Tokenizer, Start, Delimiter, Extract, Model.ContextLength, Spec, ref truncated));
        return list;
    }

    /// <summary>Sequences per example: 2 for similarity (both orders), the choice count for multiple choice, else 1.</summary>
    public int SequencesPerExample => Spec.Kind switch { TaskKind.Similarity => 2, TaskKind.MultipleChoice => Spec.Outputs, _ => 1 };

    /// <summary>Representations per example fed to the head: one per choice for multiple choice, else one.</summary>
    public int RepresentationsPerExample => Spec.Kind == TaskKind.MultipleChoice ? Spec.Outputs : 1;

    /// <summary>
    /// Runs the head on a batch already laid out by <see cref="TaskBatch"/>: gathers (and for similarity adds) the extract
    /// rows' hidden states into <paramref name="x"/> (R, C) and writes the head's outputs (R, HeadOutputs).
    /// </summary>
    internal void HeadForward(ReadOnlySpan<float> hidden, TaskBatch batch, Span<float> x, Span<float> outputs)
    {
        int C = Model.HiddenSize, R = batch.Examples * RepresentationsPerExample;
        x = x[..(R * C)];
        x.Clear();
        for (int i = 0; i < batch.ExtractRows.Length; i++)
        {
            int rep = i / batch.SequencesPerRepresentation;
            var dst = x.Slice(rep * C, C);
            System.Numerics.Tensors.TensorPrimitives.Add(dst, hidden.Slice(batch.ExtractRows[i] * C, C), dst);
        }
        Head.Forward(x, default, outputs);
    }

    /// <summary>Evaluates on <paramref name="examples"/> in batches of <paramref name="batch"/> examples.</summary>
    public TaskMetrics Evaluate(IReadOnlyList<TaskExample> examples, int batch = 16)
    {
        bool wasTraining = Model.Training;
        Model.Training = false;
        if (Lora is not null) Lora.Training = false;
        var tb = new TaskBatch(this, batch, MaxLength(examples));
        int correct = 0, tp = 0, fp = 0, fn = 0;
        var preds = new List<double>(); var golds = new List<double>();
        int K = Spec.HeadOutputs, Rper = RepresentationsPerExample, C = Model.HiddenSize;
        var x = new float[batch * Rper * C];
        var outp = new float[batch * Rper * K];
        for (int i0 = 0; i0 < examples.Count; i0 += batch)
        {
            int n = Math.Min(batch, examples.Count - i0);
            tb.Fill(examples, i0, n, lmTargets: false);
            var hidden = Model.ForwardHidden(tb.Inputs, tb.Rows, tb.T);
            HeadForward(hidden, tb, x, outp);
            for (int b = 0; b < n; b++)
            {
                var ex = examples[i0 + b];
                if (Spec.Regression) { preds.Add(outp[b]); golds.Add(ex.Score); continue; }
                int width = Spec.Kind == TaskKind.MultipleChoice ? Rper : K;
                var scores = outp.AsSpan(b * width, width);
                int arg = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(scores);
                if (arg == ex.Label) correct++;
                if (Spec.Outputs == 2 && Spec.Kind != TaskKind.MultipleChoice)
                {
                    if (arg == 1 && ex.Label == 1) tp++;
                    else if (arg == 1) fp++;
                    else if (ex.Label == 1) fn++;
                }
            }
        }
        Model.Training = wasTraining;
        if (Spec.Regression)
            return new TaskMetrics(examples.Count, 0, Pearson: Correlation.Pearson(preds, golds), Spearman: Correlation.Spearman(preds, golds));
        double? f1 = Spec.Outputs == 2 && Spec.Kind != TaskKind.MultipleChoice ? (tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn)) : null;
        return new TaskMetrics(examples.Count, (double)correct / Math.Max(1, examples.Count), f1);
    }

    /// <summary>The head's outputs for one example: class logits, one score per choice, or the predicted score.</summary>
    public float[] Scores(TaskExample example)
    {
        var tb = new TaskBatch(this, 1, example.Sequences.Max(s => s.Length));
        tb.Fill([example], 0, 1, lmTargets: false);
        var hidden = Model.ForwardHidden(tb.Inputs, tb.Rows, tb.T);
        var x = new float[RepresentationsPerExample * Model.HiddenSize];
        var outp = new float[RepresentationsPerExample * Spec.HeadOutputs];
        HeadForward(hidden, tb, x, outp);
        return outp;
    }

    /// <summary>The longest sequence of <paramref name="examples"/>.</summary>
    public static int MaxLength(IEnumerable<TaskExample> examples) => examples.SelectMany(e => e.Sequences).Max(s => s.Length);

    /// <summary>Writes task_head.json and task_head.safetensors into <paramref name="directory"/>.</summary>
    public void SaveHead(string directory)
    {
        Directory.CreateDirectory(directory);
        Head.Save(Path.Combine(directory, WeightsFileName));
        NextToken.Training.Checkpoint.WriteAtomically(Path.Combine(directory, SpecFileName),
            s => s.Write(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(Spec, SpecJson))));
    }

    private static readonly JsonSerializerOptions SpecJson = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>True when <paramref name="directory"/> holds a task head.</summary>
    public static bool HasHead(string? directory) => directory is not null && File.Exists(Path.Combine(directory, SpecFileName));

    /// <summary>
    /// Loads a task model: the model from <paramref name="checkpoint"/> (any format ModelFiles reads), the head from
    /// <paramref name="adapter"/> when given (with its LoRA adapters) or else from the checkpoint directory.
    /// </summary>
    public static TaskHeadModel Load(string checkpoint, string? adapter)
    {
        string headDir = adapter ?? checkpoint;
        string specPath = Path.Combine(headDir, SpecFileName);
        if (!File.Exists(specPath)) throw new FileNotFoundException($"{specPath}: not found; this directory holds no task head (a task-head fine-tuning run writes one)");
        TaskHeadSpec spec;
        try { spec = JsonSerializer.Deserialize<TaskHeadSpec>(File.ReadAllText(specPath), SpecJson) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{specPath}: not a task head description ({e.Message.Split('\n')[0]})"); }
        var loaded = ModelFiles.Load(checkpoint);
        var tokenizer = loaded.Tokenizer ?? throw new InvalidDataException($"{checkpoint}: the model has no tokenizer; task heads need one");
        var (model, tok) = WithTaskTokens(loaded.Model, tokenizer);
        if (spec.Width != model.HiddenSize) throw new InvalidDataException($"{specPath}: head width {spec.Width} does not match the model's hidden size {model.HiddenSize}");
        LoraSet? lora = adapter is not null ? LoraSet.Load(adapter, model) : null;
        var head = new LinearHead(model.HiddenSize, spec.HeadOutputs, name: "score");
        head.Load(Path.Combine(headDir, WeightsFileName));
        return new TaskHeadModel(model, tok, head, spec, lora);
    }
}

/// <summary>Pearson and Spearman correlation.</summary>
public static class Correlation
{
    /// <summary>Pearson's r.</summary>
    public static double Pearson(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        int n = a.Count;
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < n; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) * (a[i] - ma); sbb += (b[i] - mb) * (b[i] - mb); }
        return saa == 0 || sbb == 0 ? 0 : sab / Math.Sqrt(saa * sbb);
    }

    /// <summary>Spearman's ρ: Pearson on ranks (ties share their mean rank).</summary>
    public static double Spearman(IReadOnlyList<double> a, IReadOnlyList<double> b) => Pearson(Ranks(a), Ranks(b));

    private static double[] Ranks(IReadOnlyList<double> v)
    {
        var idx = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
        var r = new double[v.Count];
        for (int i = 0; i < idx.Length;)
        {
            int j = i;
            while (j + 1 < idx.Length && v[idx[j + 1]] == v[idx[i]]) j++;
            for (int k = i; k <= j; k++) r[idx[k]] = (i + j) / 2.0 + 1;
            i = j + 1;
        }
        return r;
    }
}

/// <summary>
/// A batch of task examples laid out for the model: (Rows, T) input ids padded on the right (causal attention keeps the
/// padding from reaching the extract token), LM targets, and the row index of each sequence's extract token.
/// Buffers are allocated once for the largest batch.
/// </summary>
internal sealed class TaskBatch
{
    private readonly TaskHeadModel _m;
    public TaskBatch(TaskHeadModel m, int batch, int maxLength)
    {
        _m = m; MaxExamples = batch; T = maxLength;
        SequencesPerRepresentation = m.SequencesPerExample / m.RepresentationsPerExample;
        Rows = batch * m.SequencesPerExample;
        Inputs = new int[Rows * T]; Targets = new int[Rows * T];
        ExtractRowsBuffer = new int[Rows];
    }
    public int MaxExamples { get; }
    public int T { get; }
    public int Rows { get; }
    public int Examples { get; private set; }
    public int SequencesPerRepresentation { get; }
    public int[] Inputs { get; }
    public int[] Targets { get; }
    public int LmTargets { get; private set; }
    private int[] ExtractRowsBuffer { get; }
    public ReadOnlySpan<int> ExtractRows => ExtractRowsBuffer.AsSpan(0, Examples * _m.SequencesPerExample);

    /// <summary>
    /// Lays out examples [i0, i0+n); unused rows repeat the first sequence (their outputs are ignored). LM targets: the
    /// next token inside the first sequence of each example (the right choice's for multiple choice), so the auxiliary
    /// objective never models a wrong answer.
    /// </summary>
    public void Fill(IReadOnlyList<TaskExample> examples, int i0, int n, bool lmTargets)
    {
        Examples = n;
        int S = _m.SequencesPerExample;
        Array.Fill(Targets, Kernels.CrossEntropy.IgnoreIndex);
        Array.Clear(Inputs);
        LmTargets = 0;
        for (int row = 0; row < Rows; row++)
        {
            int b = row / S, s = row % S;
            var ex = examples[i0 + Math.Min(b, n - 1)];
            var seq = ex.Sequences[s];
            seq.CopyTo(Inputs, row * T);
            if (b < n) ExtractRowsBuffer[row] = row * T + seq.Length - 1;
            bool lmRow = lmTargets && b < n && (_m.Spec.Kind == TaskKind.MultipleChoice ? s == ex.Label : s == 0);
            if (!lmRow) continue;
            for (int t = 0; t + 1 < seq.Length; t++) Targets[row * T + t] = seq[t + 1];
            LmTargets += seq.Length - 1;
        }
    }
}
