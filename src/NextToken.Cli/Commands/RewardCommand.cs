// RewardCommand: `nexttoken reward train` (a reward model from preferences) and `nexttoken reward score`.
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using NextToken.Alignment;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken reward train|score</c> (docs/alignment.md).</summary>
internal sealed class RewardCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var cmd = new Command("reward", "Reward models: train one from preferences (Bradley-Terry), score a response.");
        cmd.Subcommands.Add(BuildTrain());
        cmd.Subcommands.Add(BuildScore());
        return cmd;
    }

    private static Command BuildTrain()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "The SFT policy the reward model starts from (default runs/default, trained first when missing and the data is built in)", DefaultValueFactory = _ => Path.Combine("runs", "default") };
        var data = new Option<string>("--data") { Description = $"JSONL of {{\"prompt\",\"chosen\",\"rejected\"}} or {{\"prompt\",\"responses\":[best, …]}}, or {PreferenceTask.Name} (pairs sampled from --checkpoint and labeled)", Required = true };
        var valData = new Option<string?>("--val-data") { Description = "Held-out preference JSONL (default: the last 10% of --data; built in: pairs from held-out prompts)" };
        var output = new Option<string>("--out") { Description = "Output directory of the reward model", DefaultValueFactory = _ => Path.Combine("runs", "rm") };
        var epochs = new Option<double>("--epochs") { Description = "Passes over the training prompts", DefaultValueFactory = _ => 5 };
        var batch = new Option<int>("--batch") { Description = "Prompts per step (every pair of each in one batch element)", DefaultValueFactory = _ => 16 };
        var lr = new Option<float>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => 1e-3f };
        var center = new Option<float>("--center-coef") { Description = "Reward centering: coefficient of the auxiliary loss (r+ + r-)^2 (0: off)", DefaultValueFactory = _ => 0f };
        var seed = new Option<ulong>("--seed") { Description = "Seed of data sampling and order", DefaultValueFactory = _ => 1337UL };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON (pairwise_accuracy, train_accuracy, held_out_pairs, noise_ceiling, …)" };
        var threads = ThreadsOption.Create();
        var cmd = new Command("train", "Train a reward model: a scalar head on the last token, loss -log sigmoid(r(x,y+) - r(x,y-)) over every ranked pair.\n" +
                                       "Example: nexttoken reward train --data builtin:preferences --json\n" +
                                       "         nexttoken reward train --checkpoint runs/sft --data prefs.jsonl --out runs/rm");
        foreach (var o in new Option[] { checkpoint, data, valData, output, epochs, batch, lr, center, seed, json, threads }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            var wall = Stopwatch.StartNew();
            bool quiet = pr.GetValue(json);
            var log = quiet ? Console.Error : Console.Out;
            string spec = pr.GetValue(data)!, outDir = pr.GetValue(output)!;
            bool builtin = spec == PreferenceTask.Name;
            if (!builtin && spec.StartsWith(Data.BuiltinDatasets.Prefix, StringComparison.Ordinal)) throw new ArgumentException($"unknown preference data '{spec}': the built-in one is {PreferenceTask.Name}");
            var (policy, tokenizer) = AlignmentCli.LoadPolicy(pr.GetValue(checkpoint)!, builtin && pr.GetResult(checkpoint) is null or { Implicit: true }, quiet, log);
            IReadOnlyList<PreferenceExample> train, held;
            List<LabeledPair>? labeledHeld = null;
            int skipped = 0;
            if (builtin)
            {
                var (t, h, _) = AlignmentCli.CollectBuiltin(policy, tokenizer, outDir, pr.GetValue(seed), log);
                train = AlignmentCli.ToExamples(t); held = AlignmentCli.ToExamples(h); labeledHeld = h;
            }
            else
            {
                var set = PreferenceData.Read(spec);
                skipped = set.SkippedIdentical;
                if (pr.GetValue(valData) is { } vd) { train = set.Examples; held = PreferenceData.Read(vd).Examples; }
                else
                {
                    int k = set.Examples.Count >= 10 ? Math.Max(1, set.Examples.Count / 10) : 0;
                    train = set.Examples.Take(set.Examples.Count - k).ToList(); held = set.Examples.Skip(set.Examples.Count - k).ToList();
                }
                if (skipped > 0) log.WriteLine($"note: {skipped} pairs with identical responses skipped");
            }
            var rm = ScalarModel.FromPolicy(policy, tokenizer);
            var options = new RewardTrainOptions
            {
                Epochs = pr.GetValue(epochs), Batch = pr.GetValue(batch), LearningRate = pr.GetValue(lr), CenterCoefficient = pr.GetValue(center), Seed = pr.GetValue(seed),
            };
            log.WriteLine($"reward model: {train.Count} training prompts ({train.Sum(e => e.Responses.Count * (e.Responses.Count - 1) / 2)} pairs), {held.Count} held out");
            Directory.CreateDirectory(outDir);
            string logPath = Path.Combine(outDir, "log.jsonl");
            File.WriteAllText(logPath, "");
            var result = RewardTraining.Train(rm, train, held.Count > 0 ? held : null, options, s =>
            {
                AlignmentCli.AppendLog(logPath, new { step = s.Step, loss = s.Loss, accuracy = s.Accuracy, lr = s.LearningRate });
                if (s.Step % 50 == 0 || s.Step == s.Steps) log.WriteLine($"step {s.Step,5}/{s.Steps}: loss {s.Loss:0.0000}, batch accuracy {s.Accuracy:P1}, lr {s.LearningRate:0.00E+000}");
            });
            rm.Save(outDir);
            LossPlot.TryDraw(outDir, Console.Error);
            var summary = new JsonObject
            {
                ["pairwise_accuracy"] = AlignmentCli.N(result.HeldOutAccuracy), ["train_accuracy"] = AlignmentCli.N(result.TrainAccuracy),
                ["held_out_pairs"] = result.HeldOutPairs, ["final_loss"] = AlignmentCli.N(result.FinalLoss), ["steps"] = result.Steps,
                ["mean_score"] = AlignmentCli.N(result.MeanScore), ["skipped_identical"] = skipped,
            };
            if (labeledHeld is not null)
            {
                // Against the truth: the share of held-out pairs the RM orders as the true reward does, and the labels' ceiling.
                var scores = rm.Score(labeledHeld.SelectMany(p => new[] { (int[])[.. tokenizer.Encode(p.Prompt), .. tokenizer.Encode(p.Chosen)], [.. tokenizer.Encode(p.Prompt), .. tokenizer.Encode(p.Rejected)] }).ToList());
                int agree = 0;
                for (int i = 0; i < labeledHeld.Count; i++)
                    if ((scores[2 * i] > scores[2 * i + 1]) == labeledHeld[i].AgreesWithTruth) agree++;
                summary["true_pairwise_accuracy"] = AlignmentCli.N((double)agree / labeledHeld.Count);
                summary["noise_ceiling"] = AlignmentCli.N(PreferenceTask.NoiseCeiling(labeledHeld));
                summary["label_noise"] = AlignmentCli.N(1 - labeledHeld.Average(p => p.AgreesWithTruth ? 1.0 : 0.0));
            }
            summary["wall_seconds"] = Math.Round(wall.Elapsed.TotalSeconds, 1);
            summary["checkpoint"] = Path.GetFullPath(outDir);
            log.WriteLine($"held-out pairwise accuracy {result.HeldOutAccuracy:P1} on {result.HeldOutPairs} pairs" +
                          (summary["noise_ceiling"] is { } c ? $" (the labels' noise ceiling: {c.GetValue<double>():P1}; against the true reward {summary["true_pairwise_accuracy"]!.GetValue<double>():P1})" : "") +
                          $"; saved to {outDir}");
            if (quiet) Console.WriteLine(summary.ToJsonString());
            return 0;
        });
        return cmd;
    }

    private static Command BuildScore()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Reward model directory", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The prompt", Required = true };
        var response = new Option<string[]>("--response") { Description = "Response(s) to score (repeat the option for several)", Required = true, AllowMultipleArgumentsPerToken = true };
        var json = new Option<bool>("--json") { Description = "Print {\"scores\":[…]}" };
        var cmd = new Command("score", "Score responses with a reward model: r(prompt, response).\n" +
                                       "Example: nexttoken reward score --checkpoint runs/rm --prompt \"the cat\" --response \" sees the dog.\\n\"");
        foreach (var o in new Option[] { checkpoint, prompt, response, json }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            var rm = ScalarModel.Load(pr.GetValue(checkpoint)!);
            string p = pr.GetValue(prompt)!;
            var rs = pr.GetValue(response)!.Select(r => r.Replace("\\n", "\n", StringComparison.Ordinal)).ToArray();
            var scores = rm.Score(rs.Select(r => (int[])[.. rm.Tokenizer.Encode(p), .. rm.Tokenizer.Encode(r)]).ToList());
            if (pr.GetValue(json)) Console.WriteLine(new JsonObject { ["scores"] = new JsonArray(scores.Select(s => (JsonNode)JsonValue.Create(Math.Round(s, 6))!).ToArray()) }.ToJsonString());
            else for (int i = 0; i < rs.Length; i++) Console.WriteLine($"{scores[i]:0.0000}\t{rs[i].Replace("\n", "\\n", StringComparison.Ordinal)}");
            return 0;
        });
        return cmd;
    }
}
