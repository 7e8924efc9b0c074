// TaskTrainer: GPT-1's supervised fine-tuning (Radford et al. 2018, section 3.2): L3 = L2(task) + λ·L1(language model),
// full or with LoRA adapters, AdamW with linear warm-up and linear decay, log.jsonl, held-out metrics.
using System.Diagnostics;
using System.Text.Json;
using NextToken.Model.Heads;
using NextToken.Tensors;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.FineTuning;

/// <summary>Options of a task fine-tuning run.</summary>
public sealed record TaskTrainOptions
{
    /// <summary>The task.</summary>
    public TaskKind Kind { get; init; }
    /// <summary>Passes over the training set (GPT-1: 3).</summary>
    public int Epochs { get; init; } = 3;
    /// <summary>Optimizer steps; overrides <see cref="Epochs"/> when positive.</summary>
    public int Iters { get; init; }
    /// <summary>Examples per step.</summary>
    public int Batch { get; init; } = 32;
    /// <summary>Peak learning rate (null: 1e-3 full, 3e-3 with LoRA).</summary>
    public float? LearningRate { get; init; }
    /// <summary>Warm-up steps (linear), then linear decay to 0.</summary>
    public int Warmup { get; init; } = 10;
    /// <summary>λ of the auxiliary language-model loss (GPT-1: 0.5).</summary>
    public float AuxLmCoef { get; init; } = 0.5f;
    /// <summary>Weight decay (GPT-1: 0.01).</summary>
    public float WeightDecay { get; init; } = 0.01f;
    /// <summary>Number of classes (null: the distinct labels of the training data; integer labels give 0..max).</summary>
    public int? Classes { get; init; }
    /// <summary>LoRA adapters instead of full fine-tuning.</summary>
    public LoraOptions? Lora { get; init; }
    /// <summary>Seed (head init, LoRA init, example order).</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Steps between progress lines and log records.</summary>
    public int LogInterval { get; init; } = 10;
}

/// <summary>The outcome of <see cref="TaskTrainer.Train"/>.</summary>
public sealed record TaskTrainResult(TaskHeadModel Model, TaskMetrics Metrics, TaskMetrics? BaseMetrics, int Steps, long TrainableParameters, long TotalParameters,
                                     double WallSeconds, int Truncated, int TrainExamples, float FinalLoss);

/// <summary>Trains a GPT-1 task head (and the model or LoRA adapters under it).</summary>
public static class TaskTrainer
{
    /// <summary>
    /// Builds the head for <paramref name="options"/>.Kind from the training records (classes, choice count, regression),
    /// adds the task tokens, and trains; writes log.jsonl into <paramref name="outDir"/> when given. Progress goes to
    /// <paramref name="progress"/>.
    /// </summary>
    public static TaskTrainResult Train(Model.GptModel baseModel, ITokenizer tokenizer, List<TaskRecord> train, List<TaskRecord> heldOut,
                                        TaskTrainOptions options, string? outDir = null, Action<string>? progress = null)
    {
        var sw = Stopwatch.StartNew();
        if (train.Count == 0) throw new InvalidDataException("the training data has no examples");
        var spec = SpecFor(options, train, baseModel.HiddenSize);
        var (model, tok) = TaskHeadModel.WithTaskTokens(baseModel, tokenizer);
        LoraSet? lora = options.Lora is { } lo ? LoraSet.Attach(model, lo, options.Seed) : null;
        var head = new LinearHead(model.HiddenSize, spec.HeadOutputs, options.Seed + 100, name: "score");
        var tm = new TaskHeadModel(model, tok, head, spec, lora);
        var trainEx = tm.Prepare(train, out int truncTrain);
        var evalEx = tm.Prepare(heldOut, out int truncEval);
        if (truncTrain + truncEval > 0) progress?.Invoke($"truncated from the left of the first text: {truncTrain} training and {truncEval} held-out sequences longer than the context ({model.ContextLength})");

        int B = Math.Min(options.Batch, trainEx.Count);
        int stepsPerEpoch = (trainEx.Count + B - 1) / B;
        int steps = options.Iters > 0 ? options.Iters : options.Epochs * stepsPerEpoch;
        float lrMax = options.LearningRate ?? (lora is null ? 1e-3f : 3e-3f);
        int T = TaskHeadModel.MaxLength(trainEx.Concat(evalEx));
        var batch = new TaskBatch(tm, B, T);
        int C = model.HiddenSize, S = tm.SequencesPerExample, Rper = tm.RepresentationsPerExample, K = spec.HeadOutputs;
        int R = B * Rper;
        var x = new float[R * C];
        var dx = new float[R * C];
        var outp = new float[R * K];
        var dout = new float[R * K];
        var logProbs = new float[batch.Rows * T];
        var dLogProbs = new float[batch.Rows * T];
        var dHidden = new float[batch.Rows * T * C];

        var adam = new AdamWOptions { WeightDecay = options.WeightDecay, Beta2 = 0.999f };
        model.EnableGradients();
        AdamW? baseOpt = lora is null ? new AdamW(model.Layout, model.GradientLayout, adam) : null;
        var loraOpt = lora is null ? null : new AdamW(lora.Layout, adam);
        var headOpt = new AdamW(head.Layout, adam);
        long trainable = (lora?.TrainableParameters ?? model.ParameterCount) + head.Layout.Size; // full: every parameter over the real vocabulary
        long total = model.ParameterCount + (lora?.TrainableParameters ?? 0) + head.Layout.Size;

        var baseMetrics = evalEx.Count > 0 ? tm.Evaluate(evalEx, B) : null; // the untrained head: chance level
        using var log = outDir is null ? null : new StreamWriter(Path.Combine(Directory.CreateDirectory(outDir).FullName, "log.jsonl"), append: false);
        var order = Enumerable.Range(0, trainEx.Count).ToArray();
        var rng = new Rng(options.Seed, 31);
        var shuffled = new List<TaskExample>(trainEx);
        int cursor = trainEx.Count;
        float lastLoss = float.NaN;
        double sinceLoss = 0; int sinceCount = 0;
        model.Training = true;
        if (lora is not null) lora.Training = true;
        for (int step = 0; step < steps; step++)
        {
            if (cursor + B > trainEx.Count)
            {
                rng.Shuffle<int>(order);
                for (int i = 0; i < order.Length; i++) shuffled[i] = trainEx[order[i]];
                cursor = 0;
            }
            batch.Fill(shuffled, cursor, B, lmTargets: options.AuxLmCoef > 0);
            cursor += B;
            ReadOnlySpan<float> hidden;
            double lmLoss = 0;
            if (options.AuxLmCoef > 0)
            {
                model.ForwardLogProbs(batch.Inputs, batch.Targets, batch.Rows, T, logProbs);
                hidden = model.LastHidden;
                float g = -options.AuxLmCoef / Math.Max(1, batch.LmTargets);
                for (int i = 0; i < dLogProbs.Length; i++)
                {
                    bool valid = batch.Targets[i] != Kernels.CrossEntropy.IgnoreIndex;
                    dLogProbs[i] = valid ? g : 0f;
                    if (valid) lmLoss -= logProbs[i];
                }
                lmLoss /= Math.Max(1, batch.LmTargets);
            }
            else hidden = model.ForwardHidden(batch.Inputs, batch.Rows, T);

            tm.HeadForward(hidden, batch, x, outp);
            double taskLoss = TaskLoss(spec, shuffled, cursor - B, B, Rper, outp, dout);
            Array.Clear(dx);
            head.Backward(dout, default, dx);
            Array.Clear(dHidden);
            var extract = batch.ExtractRows;
            for (int i = 0; i < extract.Length; i++)
            {
                int rep = i / batch.SequencesPerRepresentation;
                var d = dHidden.AsSpan(extract[i] * C, C);
                System.Numerics.Tensors.TensorPrimitives.Add(d, dx.AsSpan(rep * C, C), d);
            }
            model.Backward(options.AuxLmCoef > 0 ? dLogProbs : default, dHidden);

            float lr = step < options.Warmup ? lrMax * (step + 1) / options.Warmup : lrMax * Math.Max(0f, (float)(steps - step) / Math.Max(1, steps - options.Warmup));
            if (baseOpt is not null) baseOpt.Update(model.Parameters, model.Gradients!, lr, clearGradients: true);
            if (loraOpt is not null) { loraOpt.Update(lora!.Parameters, lora.Gradients, lr, clearGradients: true); }
            headOpt.Update(head.Parameters, head.Gradients, lr, clearGradients: true);

            float loss = (float)(taskLoss + options.AuxLmCoef * lmLoss);
            if (!float.IsFinite(loss)) throw new InvalidOperationException($"loss became {loss} at step {step + 1}; lower the learning rate");
            sinceLoss += loss; sinceCount++;
            lastLoss = loss;
            if ((step + 1) % options.LogInterval == 0 || step + 1 == steps)
            {
                progress?.Invoke($"step {step + 1}/{steps}  loss {sinceLoss / sinceCount:F4}  task {taskLoss:F4}  lm {lmLoss:F4}  lr {lr:G3}  {sw.Elapsed.TotalSeconds:F0}s");
                log?.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["step"] = step + 1, ["loss"] = sinceLoss / sinceCount, ["task_loss"] = taskLoss, ["lm_loss"] = lmLoss, ["lr"] = lr, ["seconds"] = sw.Elapsed.TotalSeconds }));
                log?.Flush();
                sinceLoss = 0; sinceCount = 0;
            }
        }
        model.Training = false;
        if (lora is not null) lora.Training = false;
        var metrics = evalEx.Count > 0 ? tm.Evaluate(evalEx, B) : new TaskMetrics(0, double.NaN);
        log?.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["step"] = steps, ["accuracy"] = metrics.Accuracy, ["f1"] = metrics.F1, ["pearson"] = metrics.Pearson, ["spearman"] = metrics.Spearman, ["examples"] = metrics.Examples }));
        return new TaskTrainResult(tm, metrics, baseMetrics, steps, trainable, total, sw.Elapsed.TotalSeconds, truncTrain + truncEval, trainEx.Count, lastLoss);
    }

    /// <summary>The head's shape from the training data: classes (or the choice count), regression for scored similarity.</summary>
    public static TaskHeadSpec SpecFor(TaskTrainOptions options, List<TaskRecord> train, int width)
    {
        var kind = options.Kind;
        if (kind == TaskKind.MultipleChoice)
        {
            int n = options.Classes ?? train[0].Choices!.Length;
            return new TaskHeadSpec { Task = TaskData.Name(kind), Outputs = n, Width = width };
        }
        if (kind == TaskKind.Similarity && train[0].Label is null)
            return new TaskHeadSpec { Task = TaskData.Name(kind), Outputs = 1, Regression = true, Width = width };
        string[] classes;
        var labels = train.Select(r => r.Label ?? throw new InvalidDataException($"{r.Source}: field 'label' is missing")).Distinct().ToList();
        if (labels.All(l => int.TryParse(l, out int v) && v >= 0))
        {
            int k = options.Classes ?? Math.Max(2, labels.Max(l => int.Parse(l, System.Globalization.CultureInfo.InvariantCulture)) + 1);
            classes = Enumerable.Range(0, k).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        }
        else
        {
            classes = labels.Order(StringComparer.Ordinal).ToArray();
            if (options.Classes is int k && k != classes.Length)
                throw new InvalidDataException($"{k} classes asked for, but the training data has {classes.Length} distinct labels ({string.Join(", ", classes)})");
        }
        if (classes.Length < 2) throw new InvalidDataException($"the training data has a single class ({classes[0]}); a classifier needs at least two");
        return new TaskHeadSpec { Task = TaskData.Name(kind), Classes = classes, Outputs = classes.Length, Width = width };
    }

    // Mean task loss over the batch's real examples and its gradient with respect to the head outputs (R, K).
    private static double TaskLoss(TaskHeadSpec spec, List<TaskExample> examples, int i0, int n, int Rper, float[] outp, float[] dout)
    {
        Array.Clear(dout);
        double loss = 0;
        int K = spec.HeadOutputs;
        for (int b = 0; b < n; b++)
        {
            var ex = examples[i0 + b];
            if (spec.Regression)
            {
                float diff = outp[b] - ex.Score;
                loss += diff * diff;
                dout[b] = 2 * diff / n;
                continue;
            }
            int width = spec.Kind == TaskKind.MultipleChoice ? Rper : K;
            var z = outp.AsSpan(b * width, width);
            float max = System.Numerics.Tensors.TensorPrimitives.Max(z);
            double sum = 0;
            for (int k = 0; k < width; k++) sum += Math.Exp(z[k] - max);
            loss += -(z[ex.Label] - max - Math.Log(sum));
            for (int k = 0; k < width; k++)
                dout[b * width + k] = (float)((Math.Exp(z[k] - max) / sum - (k == ex.Label ? 1 : 0)) / n);
        }
        return loss / n;
    }
}
