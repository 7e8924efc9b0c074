// EvalCommand: `nexttoken eval` — a checkpoint's loss over a whole split of prepared data (every token once).
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NextToken.Data;
using NextToken.Evaluation;
using NextToken.Evaluation.Tasks;
using NextToken.Interop;
using NextToken.Training;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken eval --checkpoint DIR [--data DIR] [--split val|train] [--seq T] [--stride S] [--batch B] [--max-tokens N] [--json]</c>.</summary>
internal sealed class EvalCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint: a NextToken checkpoint directory, a Hugging Face model directory (config.json + safetensors), or an llm.c .bin model", Required = true };
        var data = new Option<string?>("--data") { Description = "Prepared data directory (default: the one the checkpoint was trained on), or image-text JSONL ({\"image\",\"prompt\",\"answer\"}) for a multimodal checkpoint" };
        var split = new Option<string>("--split") { Description = "val or train", DefaultValueFactory = _ => "val" };
        var seq = new Option<int?>("--seq") { Description = "Tokens per window (default: the model's context)" };
        var stride = new Option<int?>("--stride") { Description = "Tokens between window starts (default: --seq, non-overlapping windows); smaller gives each target more context" };
        var batch = new Option<int>("--batch") { Description = "Windows per forward pass", DefaultValueFactory = _ => 8 };
        var maxTokens = new Option<long>("--max-tokens") { Description = "Stop after this many targets (0: the whole split)", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Last stdout line: one JSON object (loss, perplexity, bits_per_token, bits_per_char, tokens, windows, seconds)" };
        var threads = ThreadsOption.Create();
        var adapter = FineTuningCli.AdapterOption();
        // Task evaluation (docs/evaluation.md): lm-eval's request types on a JSONL task or a built-in one.
        var task = new Option<string?>("--task") { Description = "Zero/few-shot task: a JSONL file (docs/evaluation.md; HellaSwag's and LAMBADA's published files too) or builtin:icl|grammar|addition" };
        var taskTrain = new Option<string?>("--train") { Description = "With --task FILE: a separate JSONL file whose documents are the few-shot pool" };
        var taskFormat = new Option<TaskFileFormat>("--format") { Description = "With --task FILE: auto, nexttoken, hellaswag or lambada", DefaultValueFactory = _ => TaskFileFormat.Auto };
        var shots = new Option<int>("--num-fewshot") { Description = "Few-shot examples per prompt, drawn from the train split", DefaultValueFactory = _ => 0 };
        var fewshotSeed = new Option<ulong>("--fewshot-seed") { Description = "Seed of the few-shot sampler", DefaultValueFactory = _ => FewShotSampler.DefaultSeed };
        var limit = new Option<int>("--limit") { Description = "With --task: score only the first N documents (0: all)", DefaultValueFactory = _ => 0 };
        var mutualInfo = new Option<bool>("--mutual-info") { Description = "With --task: also acc_mutual_info (one more request per choice)" };
        var noShare = new Option<bool>("--no-prefix-reuse") { Description = "With --task: score every choice from scratch (the throughput baseline)" };
        var cmd = new Command("eval", "Mean next-token loss of a checkpoint over a whole split: every token after the first is predicted exactly once\n" +
                                      "(the trainer's val loss is an estimate from --eval-iters random batches).\n" +
                                      "Example: nexttoken eval --checkpoint runs/shakespeare --data data/shakespeare_char --seq 64\n" +
                                      "Tasks:   nexttoken eval --checkpoint gpt2 --task hellaswag_val.jsonl --train hellaswag_train.jsonl --num-fewshot 0 --json\n" +
                                      "A checkpoint (or --adapter) holding a task head (finetune --task) reports accuracy (F1, Pearson/Spearman) on --data FILE.jsonl|builtin:NAME;\n" +
                                      "a multimodal checkpoint reports exact match on image-text --data FILE.jsonl.");
        foreach (var o in new Option[] { checkpoint, data, split, seq, stride, batch, maxTokens, json, threads, adapter }) cmd.Options.Add(o);
        foreach (var o in new Option[] { task, taskTrain, taskFormat, shots, fewshotSeed, limit, mutualInfo, noShare }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            if (pr.GetValue(task) is string taskSpec)
            {
                if (pr.GetValue(shots) < 0) throw new ArgumentException($"--num-fewshot must be at least 0 (got {pr.GetValue(shots)})");
                if (pr.GetValue(limit) < 0) throw new ArgumentException($"--limit must be at least 0 (got {pr.GetValue(limit)})");
                return EvalTaskMode.Run(pr.GetValue(checkpoint)!, taskSpec, pr.GetValue(taskTrain), pr.GetValue(taskFormat), new TaskEvalOptions
                {
                    Shots = pr.GetValue(shots), Seed = pr.GetValue(fewshotSeed), Limit = pr.GetValue(limit),
                    MutualInfo = pr.GetValue(mutualInfo), ShareContext = !pr.GetValue(noShare),
                }, pr.GetValue(json));
            }
            string which = pr.GetValue(split)!.ToLowerInvariant();
            if (which is not ("val" or "train")) throw new ArgumentException($"--split must be val or train (got '{pr.GetValue(split)}')");
            if (pr.GetValue(batch) < 1) throw new ArgumentException($"--batch must be at least 1 (got {pr.GetValue(batch)})");
            if (pr.GetValue(maxTokens) < 0) throw new ArgumentException($"--max-tokens must be at least 0 (got {pr.GetValue(maxTokens)})");
            string dir = pr.GetValue(checkpoint)!;
            if (FineTuningCli.IsTaskModel(dir, pr.GetValue(adapter))) return FineTuningCli.EvalTask(dir, pr.GetValue(adapter), pr.GetValue(data), pr.GetValue(batch), pr.GetValue(json));
            var loaded = ModelFiles.Load(dir);
            var model = loaded.Model;
            FineTuningCli.ApplyAdapter(model, pr.GetValue(adapter));
            if (pr.GetValue(data) is { } jsonl && TrainShapes.IsImageJsonl(jsonl))
            {
                TrainShapes.Evaluate(loaded, dir, jsonl, pr.GetValue(json));
                return 0;
            }
            string dataDir = pr.GetValue(data) ?? loaded.State?.DataDirectory
                ?? throw new ArgumentException($"the checkpoint '{dir}' does not record its data directory (built-in corpus or library run): pass --data DIR");
            var prepared = TrainCommand.LoadData(dataDir);
            if (prepared.VocabSize > model.VocabSize)
                throw new ArgumentException($"the data in '{dataDir}' has a vocabulary of {prepared.VocabSize}, larger than the model's {model.VocabSize}: it was prepared for another model");
            int T = pr.GetValue(seq) ?? model.ContextLength;
            if (T < 1 || T > model.ContextLength) throw new ArgumentException($"--seq must be between 1 and the model's context {model.ContextLength} (got {T})");
            int S = pr.GetValue(stride) ?? T;
            if (S < 1 || S > T) throw new ArgumentException($"--stride must be between 1 and --seq {T} (got {S})");
            bool quiet = pr.GetValue(json);
            using var file = which == "val" ? prepared.OpenVal() : prepared.OpenTrain();
            var clock = Stopwatch.StartNew();
            long lastReport = 0;
            var result = SplitEvaluation.Run(model, file, T, S, pr.GetValue(batch), pr.GetValue(maxTokens), (done, total) =>
            {
                if (quiet || clock.ElapsedMilliseconds - lastReport < 2000) return;
                lastReport = clock.ElapsedMilliseconds;
                Console.Error.WriteLine($"  {done:N0}/{total:N0} tokens");
            });
            double seconds = clock.Elapsed.TotalSeconds;
            // Bits per character need the split's character count, which meta.json records for the validation split.
            double? bpc = which == "val" && result.Tokens == prepared.ValTokens - 1 ? prepared.BitsPerCharacter(result.Loss) : null;
            if (!quiet)
            {
                string perChar = bpc is double b ? string.Create(CultureInfo.InvariantCulture, $", {b:F4} bits/char") : "";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{which} split of {prepared.Directory}: loss {result.Loss:F4} nats/token, perplexity {result.Perplexity:F3}, {result.BitsPerToken:F4} bits/token{perChar}"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{result.Tokens:N0} targets in {result.Windows:N0} windows of {result.SequenceLength} (stride {result.Stride}), {seconds:F1} s"));
            }
            else
            {
                var doc = new Dictionary<string, object?>
                {
                    ["loss"] = result.Loss, ["perplexity"] = result.Perplexity, ["bits_per_token"] = result.BitsPerToken, ["bits_per_char"] = bpc,
                    ["tokens"] = result.Tokens, ["windows"] = result.Windows, ["seq"] = result.SequenceLength, ["stride"] = result.Stride,
                    ["split"] = which, ["data"] = prepared.Directory, ["seconds"] = Math.Round(seconds, 3),
                };
                Console.WriteLine(JsonSerializer.Serialize(doc));
            }
            return 0;
        });
        return cmd;
    }
}
