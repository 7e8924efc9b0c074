// ProbeCommand: `nexttoken probe` — ICL score, repeated random tokens, induction/prefix-matching heatmaps, accuracy vs shots.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using NextToken.Data;
using NextToken.Evaluation.Probes;
using NextToken.Evaluation.Tasks;
using NextToken.Interop;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken probe --checkpoint C [--data DIR] [--task FILE|builtin:NAME] [--out DIR] [--windows N] [--json]</c>.</summary>
internal sealed class ProbeCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint (NextToken directory, Hugging Face directory or llm.c .bin)", Required = true };
        var data = new Option<string?>("--data") { Description = "Prepared data whose val split is the held-out text of the ICL score (default: the checkpoint's)" };
        var task = new Option<string?>("--task") { Description = "Task for the accuracy-against-shots curve (default: builtin:icl for a model trained on it)" };
        var output = new Option<string?>("--out") { Description = "Folder for the PNG figures and probe.json (default: the checkpoint directory)" };
        var windows = new Option<int>("--windows") { Description = "Held-out windows averaged by the ICL score", DefaultValueFactory = _ => 32 };
        var limit = new Option<int>("--limit") { Description = "Documents per task for the shots curve (0: all)", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Last stdout line: icl_score, induction_score_max, prefix_matching_score_max, accuracy_by_shots, ..." };
        var threads = ThreadsOption.Create();
        var cmd = new Command("probe", "In-context-learning probes (Olsson et al. 2022): ICL score (loss at token 500 minus token 50, scaled to shorter\n" +
                                       "contexts), loss on repeated random tokens, per-head induction and prefix-matching heatmaps, few-shot accuracy vs shots.\n" +
                                       "Example: nexttoken probe --checkpoint runs/icl");
        foreach (var o in new Option[] { checkpoint, data, task, output, windows, limit, json, threads }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            if (pr.GetValue(windows) < 1) throw new ArgumentException($"--windows must be at least 1 (got {pr.GetValue(windows)})");
            string dir = pr.GetValue(checkpoint)!;
            var loaded = ModelFiles.Load(dir);
            var model = loaded.Model;
            var tokenizer = loaded.Tokenizer;
            string outDir = pr.GetValue(output) ?? (Directory.Exists(dir) ? dir : Path.GetDirectoryName(Path.GetFullPath(dir))!);
            Directory.CreateDirectory(outDir);
            bool quiet = pr.GetValue(json);

            // Held-out text: the val split of the data the model was trained on (or --data); random tokens otherwise.
            string? dataDir = pr.GetValue(data) ?? loaded.State?.DataDirectory;
            PreparedData? prepared = dataDir is not null && Directory.Exists(dataDir) ? TrainCommand.LoadData(dataDir) : null;
            var heldOut = HeldOutWindows(model, prepared, pr.GetValue(windows));
            // A model trained on builtin:icl knows only the episode format: its repeated sequences are random episodes.
            bool iclModel = prepared is not null && BuiltinDatasets.NameOf(prepared) == BuiltinDatasets.Icl;
            var report = iclModel
                ? IclProbes.Run(model, heldOut, firstCopies: IclEpisodes.RandomEpisodes(prepared!.Tokenizer, model.ContextLength), inductionSpan: IclEpisodes.ExampleTokens(prepared.Tokenizer))
                : IclProbes.Run(model, heldOut);
            var heads = report.Heads;
            string inductionPng = Path.Combine(outDir, "induction_heads.png"), prefixPng = Path.Combine(outDir, "prefix_matching_heads.png");
            ProbePlots.Heatmap(heads.Induction, "Induction score per head", inductionPng);
            ProbePlots.Heatmap(heads.PrefixMatching, "Prefix-matching score per head", prefixPng);

            // Accuracy against shots: --task, else builtin:icl for a model trained on it.
            string? taskSpec = pr.GetValue(task) ?? (prepared is not null && BuiltinDatasets.NameOf(prepared) == BuiltinDatasets.Icl ? "builtin:icl" : null);
            SortedDictionary<int, double>? curve = null;
            if (taskSpec is not null)
            {
                if (tokenizer is null) throw new ArgumentException($"the checkpoint '{dir}' has no tokenizer: the shots curve needs one");
                var tasks = EvalTaskMode.LoadTasks(taskSpec, null, TaskFileFormat.Auto);
                curve = ShotCurve.Measure(model, tokenizer, tasks, limit: pr.GetValue(limit));
                double? chance = taskSpec == "builtin:icl" ? 1.0 / IclEpisodes.Labels.Count : null;
                ProbePlots.ShotCurve(curve, chance, Path.Combine(outDir, "accuracy_by_shots.png"));
                File.WriteAllText(Path.Combine(outDir, "accuracy_by_shots.json"), JsonSerializer.Serialize(curve.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => kv.Value)));
            }

            var doc = new Dictionary<string, object?>
            {
                ["icl_score"] = report.IclScore, ["icl_early_position"] = report.EarlyPosition, ["icl_late_position"] = report.LatePosition,
                ["induction_score_max"] = heads.InductionMax, ["prefix_matching_score_max"] = heads.PrefixMatchingMax,
                ["repeat_length"] = report.RepeatLength, ["first_copy_loss"] = report.FirstCopyLoss, ["second_copy_loss"] = report.SecondCopyLoss,
                ["accuracy_by_shots"] = curve?.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => kv.Value),
                ["held_out"] = prepared is not null ? prepared.Directory + " (val)" : "random tokens",
                ["repeated_sequences"] = iclModel ? "random builtin:icl episodes" : "random tokens",
                ["induction_scores"] = Rows(heads.Induction), ["prefix_matching_scores"] = Rows(heads.PrefixMatching),
                ["induction_png"] = inductionPng, ["prefix_matching_png"] = prefixPng,
            };
            File.WriteAllText(Path.Combine(outDir, "probe.json"), JsonSerializer.Serialize(doc));
            if (quiet) Console.WriteLine(JsonSerializer.Serialize(doc));
            else
            {
                var inv = CultureInfo.InvariantCulture;
                Console.WriteLine(string.Create(inv, $"ICL score: {report.IclScore:F4} nats (loss at target {report.LatePosition} minus at {report.EarlyPosition}; negative = learns from context)"));
                Console.WriteLine(string.Create(inv, $"repeated random tokens (R = {report.RepeatLength}): first copy {report.FirstCopyLoss:F3}, second copy {report.SecondCopyLoss:F3} nats/token"));
                Console.WriteLine(string.Create(inv, $"best induction score {heads.InductionMax:F3}, best prefix-matching score {heads.PrefixMatchingMax:F3}; heatmaps: {inductionPng}, {prefixPng}"));
                if (curve is not null) Console.WriteLine("accuracy by shots: " + string.Join(", ", curve.Select(kv => string.Create(inv, $"K={kv.Key}: {kv.Value:P1}"))));
            }
            return 0;
        });
        return cmd;
    }

    // [layer][head] as nested arrays for JSON.
    private static double[][] Rows(double[,] a) =>
        Enumerable.Range(0, a.GetLength(0)).Select(l => Enumerable.Range(0, a.GetLength(1)).Select(h => a[l, h]).ToArray()).ToArray();

    /// <summary>Up to <paramref name="count"/> windows of T + 1 tokens from the val split, evenly spaced; random tokens without data.</summary>
    internal static List<int[]> HeldOutWindows(GptModel model, PreparedData? prepared, int count)
    {
        int T = model.ContextLength;
        var list = new List<int[]>();
        if (prepared is not null)
        {
            using var val = prepared.OpenVal();
            if (val.Count > T + 1)
            {
                long room = val.Count - (T + 1);
                for (int i = 0; i < count; i++)
                {
                    var w = new int[T + 1];
                    val.Read(room * i / Math.Max(1, count), w);
                    list.Add(w);
                }
                return list;
            }
        }
        var rng = new NextToken.Tensors.Rng(7, 29);
        for (int i = 0; i < count; i++) list.Add(Enumerable.Range(0, T + 1).Select(_ => rng.NextInt(model.VocabSize)).ToArray());
        return list;
    }
}
