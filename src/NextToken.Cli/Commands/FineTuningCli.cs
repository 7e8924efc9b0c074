// FineTuningCli: what the fine-tuning commands share — --adapter on model-loading commands, the LoRA flags, and the
// GPT-1 task-head run and evaluation that `finetune --task` and `eval` map onto the library.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using NextToken.FineTuning;
using NextToken.Interop;
using NextToken.Model;

namespace NextToken.Cli.Commands;

/// <summary>Options and runners for LoRA adapters and task heads.</summary>
internal static class FineTuningCli
{
    private static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);

    /// <summary><c>--adapter DIR</c>: a LoRA adapter directory (adapter_model.safetensors + adapter_config.json) applied to --checkpoint.</summary>
    public static Option<string?> AdapterOption() => new("--adapter")
    {
        Description = "LoRA adapter directory (adapter_model.safetensors + adapter_config.json, PEFT layout) applied on top of --checkpoint",
    };

    /// <summary>Attaches the adapter in <paramref name="dir"/> (if any) to <paramref name="model"/>.</summary>
    public static LoraSet? ApplyAdapter(GptModel model, string? dir) => dir is null ? null : LoraSet.Load(dir, model);

    /// <summary>The LoRA flags of finetune.</summary>
    public sealed class LoraFlags
    {
        public readonly Option<int?> Rank = new("--lora-rank") { Description = "LoRA rank r: train low-rank adapters instead of every weight (base frozen; 0 or absent: full fine-tuning)" };
        public readonly Option<float> Alpha = new("--lora-alpha") { Description = "LoRA alpha: updates are scaled by alpha/r", DefaultValueFactory = _ => 16f };
        public readonly Option<float> Dropout = new("--lora-dropout") { Description = "Dropout on each adapter's input while training", DefaultValueFactory = _ => 0.05f };
        public readonly Option<string> Targets = new("--lora-targets") { Description = "Adapted layers, a comma list of qkv, proj, fc, fc_proj (fc = gate/up on SwiGLU models)", DefaultValueFactory = _ => "qkv,proj,fc,fc_proj" };
        public readonly Option<bool> TrainEmbeddings = new("--lora-train-embeddings") { Description = "Also train the token embedding (and an untied output head) beside the adapters, as PEFT's modules_to_save: needed when chat markers were added to the vocabulary; they are saved in --out's checkpoint, not in the adapter" };
        public readonly Option<bool> NewTokens = new("--lora-new-tokens") { Description = "Train the embedding rows of tokens added to the vocabulary (chat markers) beside the adapters, every other row frozen (PEFT's trainable_token_indices); without it a LoRA model cannot learn to end a turn", DefaultValueFactory = _ => true };
        public IEnumerable<Option> All => [Rank, Alpha, Dropout, Targets, TrainEmbeddings, NewTokens];

        /// <summary>Unfreezes the embeddings when asked; returns the model's trainable parameters over the real vocabulary.</summary>
        public long ApplyEmbeddings(ParseResult pr, GptModel model)
        {
            if (pr.GetValue(TrainEmbeddings)) TrainEmbeddingsOf(model);
            return model.GradientLayout.Slots.Sum(s => GptParameters.RealLength(model.Config, model.Layout[s.Name]));
        }

        /// <summary>Makes the token embedding (and an untied output head) trainable beside the adapters.</summary>
        public static void TrainEmbeddingsOf(GptModel model) => model.SetTrainable(s => s.Name is "wte.weight" or "lm_head.weight", true);

        /// <summary>The options, or null for full fine-tuning.</summary>
        public LoraOptions? Get(ParseResult pr) => pr.GetValue(Rank) is int r and > 0
            ? new LoraOptions { Rank = r, Alpha = pr.GetValue(Alpha), Dropout = pr.GetValue(Dropout), Targets = LoraOptions.ParseTargets(pr.GetValue(Targets)!) }.Validate()
            : null;
    }

    /// <summary>The task-head flags of finetune.</summary>
    public sealed class TaskFlags
    {
        public readonly Option<string?> Task = new("--task") { Description = "GPT-1 task head: classification | entailment | similarity | multiple-choice (data {\"text\",\"label\"}, {\"premise\",\"hypothesis\",\"label\"}, {\"text_a\",\"text_b\",\"label\"|\"score\"}, {\"context\",\"choices\",\"label\"})" };
        public readonly Option<float> AuxLmCoef = new("--aux-lm-coef") { Description = "Weight of the auxiliary language-model loss beside the task loss (GPT-1: 0.5)", DefaultValueFactory = _ => 0.5f };
        public readonly Option<int?> Classes = new("--classes") { Description = "Classes of a classifier (default: from the training labels) or choices per multiple-choice example (default: the first example's)" };
        public readonly Option<string?> EvalData = new("--eval-data") { Description = "Held-out task data (default: the built-in set's held-out split, or none for a file)" };
        public IEnumerable<Option> All => [Task, AuxLmCoef, Classes, EvalData];
    }

    /// <summary>
    /// Runs a task-head fine-tuning: loads the base, trains, saves (full: a checkpoint with the head; LoRA: the adapter and
    /// the head), prints progress and, with <paramref name="json"/>, one JSON line.
    /// </summary>
    public static int RunTask(string checkpoint, string data, string outDir, TaskKind kind, TaskTrainOptions options, string? evalData, bool json)
    {
        var loaded = ModelFiles.Load(checkpoint);
        var tokenizer = loaded.Tokenizer ?? throw new ArgumentException($"--checkpoint {checkpoint}: the model has no tokenizer; task heads need one");
        var train = TaskData.Read(data, kind);
        var heldOut = evalData is not null ? TaskData.Read(evalData, kind, heldOut: true)
            : data.StartsWith("builtin:", StringComparison.Ordinal) ? TaskData.Read(data, kind, heldOut: true) : [];
        TextWriter log = json ? Console.Error : Console.Out;
        log.WriteLine($"task {TaskData.Name(kind)}: {train.Count} training and {heldOut.Count} held-out examples; " +
                      (options.Lora is { } l ? $"LoRA r={l.Rank} alpha={l.Alpha} on {LoraOptions.FormatTargets(l.Targets)}" : "full fine-tuning"));
        var result = TaskTrainer.Train(loaded.Model, tokenizer, train, heldOut, options with { Kind = kind }, outDir, s => log.WriteLine(s));
        var tm = result.Model;
        if (tm.Lora is { } set) set.Save(outDir, checkpoint);
        else NextToken.Training.Checkpoint.Save(outDir, tm.Model, tokenizer: tm.Tokenizer);
        tm.SaveHead(outDir);
        var m = result.Metrics;
        log.WriteLine(Inv($"held-out: accuracy {m.Accuracy:P2}") + (m.F1 is double f ? Inv($", F1 {f:F4}") : "") + (m.Pearson is double p ? Inv($", Pearson {p:F4}, Spearman {m.Spearman:F4}") : "") +
            (result.BaseMetrics is { } b ? Inv($" (untrained head: {b.Accuracy:P2})") : "") +
            Inv($"; {result.Steps} steps in {result.WallSeconds:F1} s; trainable {result.TrainableParameters:N0} of {result.TotalParameters:N0} parameters ({100.0 * result.TrainableParameters / result.TotalParameters:F2}%)"));
        log.WriteLine(tm.Lora is null ? $"saved checkpoint and task head to {outDir}" : $"saved LoRA adapter and task head to {outDir} (use --checkpoint {checkpoint} --adapter {outDir})");
        if (json)
        {
            var doc = new Dictionary<string, object?>
            {
                ["task"] = TaskData.Name(kind), ["accuracy"] = m.Accuracy, ["f1"] = m.F1, ["pearson"] = m.Pearson, ["spearman"] = m.Spearman,
                ["base_accuracy"] = result.BaseMetrics?.Accuracy, ["examples"] = m.Examples, ["train_examples"] = result.TrainExamples,
                ["truncated"] = result.Truncated, ["steps"] = result.Steps, ["final_loss"] = result.FinalLoss,
                ["trainable_parameters"] = result.TrainableParameters, ["total_parameters"] = result.TotalParameters,
                ["peak_rss_mb"] = Math.Round(ProcessMemory.PeakRssMb(), 1), ["wall_seconds"] = Math.Round(result.WallSeconds, 2), ["out"] = outDir,
            };
            Console.WriteLine(JsonSerializer.Serialize(doc));
        }
        return 0;
    }

    /// <summary><c>finetune --task …</c>: maps finetune's options onto a task-head run.</summary>
    public static int RunTaskFromFinetune(ParseResult pr, TaskFlags task, LoraFlags lora, string checkpoint, string? data, string outDir,
                                          int? iters, double epochs, int batch, float? lr, ulong seed, bool json)
    {
        if (data is null) throw new ArgumentException("--data is required: task data (.jsonl) or builtin:grammaticality / builtin:continuations");
        var kind = pr.GetValue(task.Task) is string t ? TaskData.ParseKind(t)
            : TaskData.BuiltinKind(data) ?? throw new ArgumentException("--task is required for a data file: classification, entailment, similarity or multiple-choice");
        if (batch < 1) throw new ArgumentException($"--batch must be at least 1 (got {batch})");
        var options = new TaskTrainOptions
        {
            Kind = kind, Epochs = Math.Max(1, (int)Math.Round(epochs)), Iters = iters ?? 0, Batch = batch, LearningRate = lr,
            AuxLmCoef = pr.GetValue(task.AuxLmCoef), Classes = pr.GetValue(task.Classes), Lora = lora.Get(pr), Seed = seed,
        };
        return RunTask(checkpoint, data, outDir, kind, options, pr.GetValue(task.EvalData), json);
    }

    /// <summary>True when the checkpoint (or adapter) directory holds a task head: eval then reports task metrics.</summary>
    public static bool IsTaskModel(string checkpoint, string? adapter) => TaskHeadModel.HasHead(adapter ?? checkpoint);

    /// <summary><c>eval</c> of a task head on <paramref name="data"/> (a task JSONL file or a built-in set's held-out split).</summary>
    public static int EvalTask(string checkpoint, string? adapter, string? data, int batch, bool json)
    {
        var tm = TaskHeadModel.Load(checkpoint, adapter);
        if (data is null) throw new ArgumentException($"--data is required to evaluate the {tm.Spec.Task} head in {adapter ?? checkpoint} (a .jsonl file or a builtin: set)");
        var records = TaskData.Read(data, tm.Spec.Kind, heldOut: true);
        var examples = tm.Prepare(records, out int truncated);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var m = tm.Evaluate(examples, batch);
        if (!json)
        {
            Console.WriteLine(Inv($"{tm.Spec.Task} on {data}: accuracy {m.Accuracy:P2} of {m.Examples}") + (m.F1 is double f ? Inv($", F1 {f:F4}") : "") +
                (m.Pearson is double p ? Inv($", Pearson {p:F4}, Spearman {m.Spearman:F4}") : "") + (truncated > 0 ? $"; {truncated} sequences truncated from the left" : ""));
        }
        else
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["task"] = tm.Spec.Task, ["accuracy"] = m.Accuracy, ["f1"] = m.F1, ["pearson"] = m.Pearson, ["spearman"] = m.Spearman,
                ["examples"] = m.Examples, ["truncated"] = truncated, ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 3),
            }));
        return 0;
    }
}

/// <summary>
/// <c>nexttoken finetune-task</c>: GPT-1 task-head fine-tuning on its own (the same run as <c>finetune --task</c>), kept
/// so task heads work without the instruction fine-tuning command.
/// </summary>
internal sealed class TaskFinetuneCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Base model: a NextToken checkpoint, a Hugging Face directory or an llm.c .bin model", Required = true };
        var data = new Option<string>("--data") { Description = "Task data (.jsonl) or builtin:grammaticality / builtin:continuations", Required = true };
        var outDir = new Option<string>("--out") { Description = "Output directory (checkpoint + task head, or adapter + task head with LoRA)", Required = true };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training data", DefaultValueFactory = _ => 3 };
        var iters = new Option<int>("--iters") { Description = "Optimizer steps (overrides --epochs when positive)", DefaultValueFactory = _ => 0 };
        var batch = new Option<int>("--batch") { Description = "Examples per step", DefaultValueFactory = _ => 32 };
        var lr = new Option<float?>("--lr") { Description = "Peak learning rate (default 1e-3, or 3e-3 with LoRA); linear warm-up and decay" };
        var warmup = new Option<int>("--warmup") { Description = "Warm-up steps", DefaultValueFactory = _ => 10 };
        var seed = new Option<ulong>("--seed") { Description = "Seed (head and adapter init, example order)", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON (accuracy, f1, pearson, spearman, trainable_parameters, total_parameters, peak_rss_mb, wall_seconds)" };
        var threads = ThreadsOption.Create();
        var task = new FineTuningCli.TaskFlags();
        var lora = new FineTuningCli.LoraFlags();
        var cmd = new Command("finetune-task", "GPT-1 task-head fine-tuning (Radford et al. 2018): start/delimiter/extract tokens, a linear head on the extract\n" +
                                               "token's last hidden state, task loss + aux-lm-coef x language-model loss. Same as finetune --task.\n" +
                                               "Example: nexttoken finetune-task --task classification --checkpoint runs/default --data builtin:grammaticality --out runs/gram");
        foreach (var o in new Option[] { checkpoint, data, outDir, epochs, iters, batch, lr, warmup, seed, json, threads }.Concat(task.All).Concat(lora.All)) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            string d = pr.GetValue(data)!;
            var kind = pr.GetValue(task.Task) is string t ? TaskData.ParseKind(t)
                : TaskData.BuiltinKind(d) ?? throw new ArgumentException("--task is required for a data file: classification, entailment, similarity or multiple-choice");
            if (pr.GetValue(batch) < 1) throw new ArgumentException($"--batch must be at least 1 (got {pr.GetValue(batch)})");
            var options = new TaskTrainOptions
            {
                Kind = kind, Epochs = pr.GetValue(epochs), Iters = pr.GetValue(iters), Batch = pr.GetValue(batch), LearningRate = pr.GetValue(lr),
                Warmup = pr.GetValue(warmup), AuxLmCoef = pr.GetValue(task.AuxLmCoef), Classes = pr.GetValue(task.Classes), Lora = lora.Get(pr), Seed = pr.GetValue(seed),
            };
            return FineTuningCli.RunTask(pr.GetValue(checkpoint)!, d, pr.GetValue(outDir)!, kind, options, pr.GetValue(task.EvalData), pr.GetValue(json));
        });
        return cmd;
    }
}
