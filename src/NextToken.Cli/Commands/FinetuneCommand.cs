// FinetuneCommand: `nexttoken finetune` — supervised fine-tuning of any model NextToken loads on JSONL or built-in data,
// with loss masking, chat templates, packing, the trainer's options, exact resume, and exact match on builtin:instructions.
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NextToken.Data;
using NextToken.FineTuning;
using NextToken.Interop;
using NextToken.Training;
using Spectre.Console;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken finetune --checkpoint BASE --data FILE.jsonl|builtin:instructions --out DIR [...]</c> (docs/finetuning.md).</summary>
internal sealed class FinetuneCommand : ICliCommand
{
    internal const string Instructions = "builtin:instructions";
    private const string RunFile = "finetune.json";
    /// <summary>The instruction tasks' recipe: the 385k-parameter default model needs a higher peak rate than 1e-3 to learn them in 3 epochs (docs/finetuning.md).</summary>
    internal const float InstructionsLearningRate = 3e-3f;

    /// <inheritdoc/>
    public Command Build()
    {
        var d = new TrainOptions();
        var checkpoint = new Option<string>("--checkpoint") { Description = "Base model: a NextToken checkpoint, a Hugging Face directory or an llm.c .bin (default runs/default, trained first when missing and the data is built in)", DefaultValueFactory = _ => Path.Combine("runs", "default") };
        var data = new Option<string?>("--data") { Description = "JSONL of {\"text\"}, {\"prompt\",\"completion\"} or {\"messages\"}, or builtin:instructions" };
        var valData = new Option<string?>("--val-data") { Description = "Validation JSONL (default: the last 5% of --data)" };
        var output = new Option<string>("--out") { Description = "Output directory (checkpoint, log.jsonl, loss.png)", DefaultValueFactory = _ => Path.Combine("runs", "finetune") };
        var resume = new Option<string?>("--resume") { Description = "Continue the fine-tuning run in DIR exactly (its data and options; --iters may change)" };
        var iters = new Option<int?>("--iters") { Description = "Optimizer steps (default: --epochs over the rows)" };
        var epochs = new Option<double>("--epochs") { Description = "Passes over the training rows when --iters is not given", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = "Rows per micro-batch", DefaultValueFactory = _ => 16 };
        var accum = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step (masked targets counted exactly across them)", DefaultValueFactory = _ => 1 };
        var lr = new Option<float>("--lr") { Description = $"Peak learning rate (builtin:instructions without --lr: {InstructionsLearningRate})", DefaultValueFactory = _ => 1e-3f };
        var minLr = new Option<float>("--min-lr") { Description = "Learning-rate floor of the cosine decay", DefaultValueFactory = _ => 1e-4f };
        var warmup = new Option<int>("--warmup") { Description = "Linear warm-up steps", DefaultValueFactory = _ => 50 };
        var wd = new Option<float>("--weight-decay") { Description = "AdamW decoupled weight decay", DefaultValueFactory = _ => 0f };
        var clip = new Option<float>("--grad-clip") { Description = "Global gradient-norm clip (0: off)", DefaultValueFactory = _ => d.GradientClip };
        var evalInterval = new Option<int>("--eval-interval") { Description = "Validation loss (and checkpoint) every N steps (0: at the end)", DefaultValueFactory = _ => 250 };
        var evalIters = new Option<int>("--eval-iters") { Description = "Validation batches per evaluation (at most one pass over the held-out rows)", DefaultValueFactory = _ => 20 };
        var ckptInterval = new Option<int>("--checkpoint-interval") { Description = "Checkpoint every N steps (0: at evaluations)", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the row order and dropout", DefaultValueFactory = _ => d.Seed };
        var packing = new Option<bool>("--packing") { Description = "Pack examples into rows (best-fit decreasing; attention never crosses examples, positions restart)" };
        var onPrompt = new Option<bool>("--train-on-prompt") { Description = "Count the loss on prompt / system / user tokens too (default: completion and assistant tokens only)" };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON (exact_match, base_exact_match, trainable_parameters, total_parameters, peak_rss_mb, wall_seconds, …)" };
        var threads = ThreadsOption.Create();
        var loraFlags = new FineTuningCli.LoraFlags();
        var taskFlags = new FineTuningCli.TaskFlags();
        var cmd = new Command("finetune", "Supervised fine-tuning: loss on completions / assistant replies, ChatML chat template (or the model's own), optional packing.\n" +
                                          "Example: nexttoken finetune --data builtin:instructions   (starts from runs/default)\n" +
                                          "         nexttoken finetune --checkpoint path/to/SmolLM2-135M --data chats.jsonl --out runs/chat --packing");
        foreach (var o in new Option[] { checkpoint, data, valData, output, resume, iters, epochs, batch, accum, lr, minLr, warmup, wd, clip, evalInterval, evalIters,
                                         ckptInterval, seed, packing, onPrompt, json, threads }.Concat(loraFlags.All).Concat(taskFlags.All))
            cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            // GPT-1 task heads (--task, or a built-in task set): their own run (docs/finetuning.md, "Task heads").
            if (pr.GetValue(taskFlags.Task) is not null || (pr.GetValue(data) is { } taskData && TaskData.BuiltinKind(taskData) is not null))
                return FineTuningCli.RunTaskFromFinetune(pr, taskFlags, loraFlags, pr.GetValue(checkpoint)!, pr.GetValue(data), pr.GetValue(output)!,
                                                         pr.GetValue(iters), pr.GetValue(epochs), pr.GetValue(batch), pr.GetResult(lr) is { Implicit: false } ? pr.GetValue(lr) : null,
                                                         pr.GetValue(seed), pr.GetValue(json));
            var wall = Stopwatch.StartNew();
            bool quiet = pr.GetValue(json);
            var log = quiet ? Console.Error : Console.Out;
            string outDir = pr.GetValue(resume) ?? pr.GetValue(output)!;
            JsonObject run;
            Checkpoint.Loaded? resumed = null;
            GptModelAndTokenizer base_;
            if (pr.GetValue(resume) is { } resumeDir)
            {
                string runPath = Path.Combine(resumeDir, RunFile);
                if (!File.Exists(runPath)) throw new FileNotFoundException($"'{resumeDir}' is not a fine-tuning run (no {RunFile}): --resume takes the --out of an earlier finetune", runPath);
                run = JsonNode.Parse(File.ReadAllText(runPath))!.AsObject();
                resumed = Checkpoint.LoadFull(resumeDir, withOptimizer: true);
                base_ = new(resumed.Model, resumed.Tokenizer ?? throw new InvalidDataException($"the checkpoint in '{resumeDir}' has no tokenizer"));
            }
            else
            {
                string spec = pr.GetValue(data) ?? throw new ArgumentException("--data is required: a JSONL file of {\"text\"}, {\"prompt\",\"completion\"} or {\"messages\"}, or builtin:instructions");
                if (spec.StartsWith(BuiltinDatasets.Prefix, StringComparison.Ordinal) && spec != Instructions)
                    throw new ArgumentException($"unknown fine-tuning data '{spec}': the built-in one is {Instructions}");
                string basePath = pr.GetValue(checkpoint)!;
                if (spec == Instructions && pr.GetResult(checkpoint) is null or { Implicit: true } && ModelFiles.Detect(basePath) is null)
                    TrainCommand.TrainDefaultInto(basePath, "base model", quiet, log);
                var loaded = ModelFiles.Load(basePath);
                base_ = new(loaded.Model, loaded.Tokenizer ?? throw new InvalidDataException($"the base model '{basePath}' has no tokenizer files"));
                run = new JsonObject
                {
                    ["base"] = Path.GetFullPath(basePath), ["data"] = spec == Instructions ? spec : Path.GetFullPath(spec),
                    ["val_data"] = pr.GetValue(valData) is { } v ? Path.GetFullPath(v) : null, ["packing"] = pr.GetValue(packing),
                    ["train_on_prompt"] = pr.GetValue(onPrompt), ["batch"] = pr.GetValue(batch), ["seed"] = pr.GetValue(seed),
                };
            }
            string dataSpec = run["data"]!.GetValue<string>();
            IReadOnlyList<InstructionExample>? heldOut = null;
            IEnumerable<string> lines;
            IEnumerable<string>? valLines = null;
            if (dataSpec == Instructions)
            {
                var (train, held) = InstructionTasks.Build();
                lines = train.Select(e => e.ToJsonLine());
                valLines = held.Select(e => e.ToJsonLine());
                heldOut = held;
            }
            else
            {
                if (!File.Exists(dataSpec)) throw new FileNotFoundException($"fine-tuning data '{dataSpec}' does not exist", dataSpec);
                lines = File.ReadLines(dataSpec);
                if (run["val_data"]?.GetValue<string>() is { } vd)
                {
                    if (!File.Exists(vd)) throw new FileNotFoundException($"validation data '{vd}' does not exist", vd);
                    valLines = File.ReadLines(vd);
                }
            }
            var sftOptions = new SftOptions
            {
                BatchSize = run["batch"]!.GetValue<int>(), Packing = run["packing"]!.GetValue<bool>(), TrainOnPrompt = run["train_on_prompt"]!.GetValue<bool>(),
                Seed = run["seed"]!.GetValue<ulong>(),
            };
            var setup = SupervisedFineTuning.Prepare(base_.Model, base_.Tokenizer, lines, dataSpec, sftOptions, valLines,
                                                     dataSpec == Instructions ? "builtin:instructions (held out)" : run["val_data"]?.GetValue<string>());
            if (setup.TemplateNote is not null) Console.Error.WriteLine($"note: {setup.TemplateNote}");
            var model = setup.Model;
            LoraSet? lora;
            TrainableTokens? newTokens = null;
            ExtraOptimizerState? loraResume = null;
            if (resumed is not null)
            {
                // A LoRA run continues from its adapter, the adapters' moments and dropout generator, and the same
                // trainable embedding rows (the base in the checkpoint is the frozen base with those rows as trained).
                lora = run["lora"] is null ? null : LoraSet.Load(outDir, model);
                if (lora is not null)
                {
                    if (run["lora_train_embeddings"]?.GetValue<bool>() == true) FineTuningCli.LoraFlags.TrainEmbeddingsOf(model);
                    if (run["lora_new_tokens"] is JsonArray ids && ids.Count > 0) newTokens = TrainableTokens.Attach(model, ids.Select(n => n!.GetValue<int>()));
                    loraResume = ExtraOptimizerState.Load(outDir, lora.Layout);
                    lora.RestoreDropoutState(loraResume.State, Path.Combine(outDir, ExtraOptimizerState.FileName));
                }
            }
            else
            {
                lora = loraFlags.Get(pr) is { } loraOptions ? LoraSet.Attach(model, loraOptions, sftOptions.Seed) : null;
                if (lora is not null)
                {
                    loraFlags.ApplyEmbeddings(pr, model);
                    // The chat markers added to the vocabulary start at the mean embedding; with the base frozen they would stay
                    // there and the model could not learn to end a turn. Their rows train beside the adapters (PEFT's
                    // trainable_token_indices), unless the whole embedding already does or --lora-new-tokens false.
                    if (setup.AddedTokens > 0 && !pr.GetValue(loraFlags.TrainEmbeddings) && pr.GetValue(loraFlags.NewTokens))
                        newTokens = TrainableTokens.Attach(model, Enumerable.Range(setup.Tokenizer.VocabSize - setup.AddedTokens, setup.AddedTokens));
                    run["lora"] = $"r={lora.Options.Rank} alpha={lora.Options.Alpha} dropout={lora.Options.Dropout} targets={LoraOptions.FormatTargets(lora.Options.Targets)}";
                    run["lora_train_embeddings"] = pr.GetValue(loraFlags.TrainEmbeddings);
                    run["lora_new_tokens"] = new JsonArray((newTokens?.Ids ?? []).Select(i => (JsonNode?)i).ToArray());
                }
            }
            int T = model.Config.ContextLength;
            TrainOptions options;
            if (resumed?.State?.Options is { } saved)
                options = pr.GetValue(iters) is int more && more != saved.Iterations ? (saved with { Iterations = more }).Validate() : saved;
            else
            {
                int accumulation = pr.GetValue(accum);
                int steps = pr.GetValue(iters) ?? Math.Max(1, (int)Math.Ceiling(pr.GetValue(epochs) * setup.TrainBatches.Rows / (sftOptions.BatchSize * (double)accumulation)));
                options = new TrainOptions
                {
                    BatchSize = sftOptions.BatchSize, SequenceLength = T, GradientAccumulation = accumulation, Iterations = steps,
                    LearningRate = dataSpec == Instructions && pr.GetResult(lr) is null or { Implicit: true } ? InstructionsLearningRate : pr.GetValue(lr), MinLearningRate = pr.GetValue(minLr), WarmupIterations = pr.GetValue(warmup), WeightDecay = pr.GetValue(wd),
                    GradientClip = pr.GetValue(clip), EvalInterval = pr.GetValue(evalInterval), EvalIterations = pr.GetValue(evalIters),
                    CheckpointInterval = pr.GetValue(ckptInterval), Seed = sftOptions.Seed,
                }.Validate();
            }
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fine-tuning {model.ParameterCount:N0} parameters on {setup.Train.Examples.Count:N0} {setup.Train.Format} examples ({setup.TrainBatches.Rows:N0} rows of {T}, " +
                $"packing efficiency {setup.TrainBatches.PackingEfficiency:P1}, {setup.TrainBatches.TrainedTargets:N0} trained targets per epoch" +
                $"{(setup.Train.Truncated > 0 ? $", {setup.Train.Truncated} truncated" : "")}{(setup.Train.Skipped > 0 ? $", {setup.Train.Skipped} skipped (nothing to train)" : "")}; " +
                $"template {setup.Template.Name}{(setup.AddedTokens > 0 ? $", {setup.AddedTokens} tokens added to the vocabulary" : "")}); {options.Iterations} steps"));
            double? baseExact = null;
            if (heldOut is not null && resumed is null)
            {
                baseExact = SupervisedFineTuning.ExactMatch(model, setup.Tokenizer, setup.Template, heldOut).Overall;
                log.WriteLine($"base model before fine-tuning: {baseExact:P1} exact match on {heldOut.Count} held-out prompts");
                run["base_exact_match"] = baseExact;
            }
            Directory.CreateDirectory(outDir);
            Checkpoint.WriteAtomically(Path.Combine(outDir, RunFile), s => s.Write(System.Text.Encoding.UTF8.GetBytes(run.ToJsonString(new JsonSerializerOptions { WriteIndented = true }))));
            var valBatches = setup.ValidationBatches;
            // Hook (issue 11 items 5-6, adapters and task heads): freeze the base / attach ILinearAdapters to `model` here,
            // before the Trainer builds the optimizer; trainable_parameters below counts what is left trainable.
            long trainable = newTokens is not null ? newTokens.TrainableParameters : SupervisedFineTuning.TrainableParameters(model);
            var trainer = new Trainer(model, setup.TrainBatches, null, options, outDir, setup.Tokenizer, null, resumed,
                                      validation: valBatches is null ? null : () => valBatches.Sequential(), validationRows: valBatches?.Rows ?? 0);
            if (lora is not null)
            {
                string basePath = run["base"]!.GetValue<string>();
                trainer.Extra = new ExtraParameters(lora.Layout, lora.Parameters, lora.Gradients)
                {
                    Save = dir => lora.Save(dir, basePath), Resume = loraResume,
                    State = lora.DropoutState,
                };
                if (newTokens is not null)
                {
                    newTokens.Hook(trainer);
                    log.WriteLine($"embedding rows of the {newTokens.Ids.Count} added tokens trained beside the adapters ({newTokens.TrainableParameters:N0} parameters); every other row stays as in the base");
                }
                log.WriteLine($"LoRA r={lora.Options.Rank} alpha={lora.Options.Alpha} on {LoraOptions.FormatTargets(lora.Options.Targets)}: {lora.TrainableParameters:N0} trainable parameters " +
                              $"({100.0 * (lora.TrainableParameters + (newTokens?.TrainableParameters ?? 0)) / (model.ParameterCount + lora.TrainableParameters):F2}% with the added tokens' rows), base frozen; adapter written to {outDir} (use --checkpoint {outDir} --adapter {outDir})");
            }
            var result = TrainingDisplay.RunWithCtrlC(trainer, options, log, quiet, outDir, out bool cancelled);
            log.WriteLine($"done: {result.Iterations} steps, train loss {result.FinalTrainLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "n/a"}, " +
                          $"best val loss {result.BestValLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "n/a"}; checkpoint in {outDir}");
            var summary = JsonSerializer.SerializeToNode(result)!.AsObject();
            if (heldOut is not null && !result.Interrupted)
            {
                var (exact, byTask) = SupervisedFineTuning.ExactMatch(model, setup.Tokenizer, setup.Template, heldOut);
                log.WriteLine($"exact match on {heldOut.Count} held-out prompts: {exact:P1} ({string.Join(", ", byTask.Select(p => $"{p.Key} {p.Value:P0}"))})");
                summary["exact_match"] = exact;
                summary["exact_match_by_task"] = new JsonObject(byTask.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value)));
                summary["base_exact_match"] = baseExact ?? run["base_exact_match"]?.GetValue<double>();
            }
            summary["trainable_parameters"] = trainable + (lora?.TrainableParameters ?? 0);
            summary["total_parameters"] = model.ParameterCount + (lora?.TrainableParameters ?? 0);
            summary["examples"] = setup.Train.Examples.Count;
            summary["packing_efficiency"] = setup.TrainBatches.PackingEfficiency;
            summary["truncated"] = setup.Train.Truncated;
            summary["skipped"] = setup.Train.Skipped;
            summary["peak_rss_mb"] = ProcessMemory.PeakRssMb();
            summary["wall_seconds"] = wall.Elapsed.TotalSeconds;
            if (quiet) Console.Out.WriteLine(summary.ToJsonString());
            return cancelled ? 130 : 0;
        });
        return cmd;
    }

    private sealed record GptModelAndTokenizer(NextToken.Model.GptModel Model, NextToken.Tokenization.ITokenizer Tokenizer);
}
