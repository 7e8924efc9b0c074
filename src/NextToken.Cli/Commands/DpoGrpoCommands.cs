// DpoCommand and GrpoCommand: `nexttoken dpo` (preferences straight into the policy) and `nexttoken grpo` (group-relative
// policy optimisation against a rule or a reward model), measured like ppo on held-out prompts.
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using NextToken.Alignment;
using NextToken.Data;
using NextToken.Training;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken dpo --policy SFT --data prefs.jsonl --beta 0.1 --loss sigmoid|ipo|hinge --out DIR</c>.</summary>
internal sealed class DpoCommand : ICliCommand
{
    /// <summary>The built-in task's recipe: β = 0.1 over-fits its 4,000 pairs (the policy drifts to ungrammatical text); 0.5 for 4 epochs does not (docs/alignment.md).</summary>
    internal const float BuiltinBeta = 0.5f;
    internal const double BuiltinEpochs = 4;

    /// <inheritdoc/>
    public Command Build()
    {
        var d = new DpoOptions();
        var policy = new Option<string>("--policy") { Description = "The SFT policy (default runs/default, trained first when missing and the data is built in)", DefaultValueFactory = _ => Path.Combine("runs", "default") };
        var data = new Option<string>("--data") { Description = $"Preference JSONL ({{\"prompt\",\"chosen\",\"rejected\"}} or ranked {{\"prompt\",\"responses\"}}) or {PreferenceTask.Name} (pairs sampled from the policy and labeled)", DefaultValueFactory = _ => PreferenceTask.Name };
        var output = new Option<string>("--out") { Description = "Output directory (policy checkpoint, log.jsonl)", DefaultValueFactory = _ => Path.Combine("runs", "dpo") };
        var beta = new Option<float>("--beta") { Description = $"β: strength of the implicit KL constraint ({PreferenceTask.Name} without --beta: {BuiltinBeta})", DefaultValueFactory = _ => d.Beta };
        var loss = new Option<DpoLoss>("--loss") { Description = "sigmoid (DPO), ipo or hinge", DefaultValueFactory = _ => DpoLoss.Sigmoid };
        var epochs = new Option<double>("--epochs") { Description = $"Passes over the pairs ({PreferenceTask.Name} without --epochs: {BuiltinEpochs})", DefaultValueFactory = _ => 2 };
        var batch = new Option<int>("--batch") { Description = "Pairs per step", DefaultValueFactory = _ => d.Batch };
        var lr = new Option<float>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => 3e-4f };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Longest response when the policy is evaluated", DefaultValueFactory = _ => AlignmentCli.BuiltinMaxNewTokens };
        var endText = new Option<string?>("--end-text") { Description = "The end of a response (one token; default: the tokenizer's end-of-text; built-in data: a newline)" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of data sampling, pair order and evaluation", DefaultValueFactory = _ => d.Seed };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON (true_reward_before, true_reward_after, kl_to_reference, grammatical_rate, wall_seconds, …)" };
        var threads = ThreadsOption.Create();
        var cmd = new Command("dpo", "Direct preference optimisation: the policy learns from preference pairs with a cached, frozen reference.\n" +
                                     "Example: nexttoken dpo --data builtin:preferences --json\n" +
                                     "         nexttoken dpo --policy runs/sft --data prefs.jsonl --beta 0.1 --loss ipo --out runs/dpo");
        foreach (var o in new Option[] { policy, data, output, beta, loss, epochs, batch, lr, maxNew, endText, seed, json, threads }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            var wall = Stopwatch.StartNew();
            bool quiet = pr.GetValue(json);
            var log = quiet ? Console.Error : Console.Out;
            string spec = pr.GetValue(data)!, outDir = pr.GetValue(output)!;
            bool builtin = spec == PreferenceTask.Name;
            if (!builtin && spec.StartsWith(BuiltinDatasets.Prefix, StringComparison.Ordinal)) throw new ArgumentException($"unknown preference data '{spec}': the built-in one is {PreferenceTask.Name}");
            var (model, tokenizer) = AlignmentCli.LoadPolicy(pr.GetValue(policy)!, builtin && pr.GetResult(policy) is null or { Implicit: true }, quiet, log);
            int end = PolicyTraining.EndToken(tokenizer, pr.GetValue(endText) ?? (builtin ? PreferenceTask.End : null));
            IReadOnlyList<PreferenceExample> examples;
            IReadOnlyList<string> evalPrompts;
            if (builtin)
            {
                examples = AlignmentCli.ToExamples(AlignmentCli.CollectBuiltin(model, tokenizer, outDir, pr.GetValue(seed), log).Train);
                evalPrompts = AlignmentCli.EvalPrompts();
            }
            else
            {
                var set = PreferenceData.Read(spec);
                if (set.SkippedIdentical > 0) log.WriteLine($"note: {set.SkippedIdentical} pairs with identical responses skipped");
                examples = set.Examples;
                evalPrompts = set.Examples.Select(e => e.Prompt).Distinct().Take(256).ToList();
            }
            var reference = PolicyTraining.FrozenCopy(model);
            Func<string, string, double>? trueReward = builtin ? PreferenceTask.TrueReward : null;
            Func<string, string, bool>? grammatical = builtin ? PreferenceTask.IsGrammatical : null;
            var options = new DpoOptions { Beta = builtin && pr.GetResult(beta) is null or { Implicit: true } ? BuiltinBeta : pr.GetValue(beta), Loss = pr.GetValue(loss),
                                          Epochs = builtin && pr.GetResult(epochs) is null or { Implicit: true } ? BuiltinEpochs : pr.GetValue(epochs), Batch = pr.GetValue(batch), LearningRate = pr.GetValue(lr), Seed = pr.GetValue(seed) };
            int maxNewTokens = pr.GetValue(maxNew);
            var before = PolicyTraining.Evaluate(reference, reference, tokenizer, evalPrompts, end, maxNewTokens, options.Seed + 7, trueReward, grammatical);
            AlignmentCli.PrintEvaluation(log, "before DPO (held-out prompts)", before);
            var trainer = new DpoTrainer(model, reference, tokenizer, examples, options);
            log.WriteLine($"DPO ({options.Loss}, β = {options.Beta}): {trainer.Pairs} pairs, {options.Epochs} epochs; reference log-probabilities cached");
            Directory.CreateDirectory(outDir);
            string logPath = Path.Combine(outDir, "log.jsonl");
            File.WriteAllText(logPath, "");
            var last = trainer.Train(s =>
            {
                AlignmentCli.AppendLog(logPath, new { step = s.Step, loss = s.Loss, accuracy = s.Accuracy, margin = s.Margin, lr = s.LearningRate });
                if (s.Step % 50 == 0 || s.Step == s.Steps) log.WriteLine($"step {s.Step,5}/{s.Steps}: loss {s.Loss:0.0000}, reward accuracy {s.Accuracy:P1}, margin {s.Margin:0.000}");
            });
            Checkpoint.Save(outDir, model, tokenizer: tokenizer);
            LossPlot.TryDraw(outDir, Console.Error);
            var after = PolicyTraining.Evaluate(model, reference, tokenizer, evalPrompts, end, maxNewTokens, options.Seed + 7, trueReward, grammatical);
            AlignmentCli.PrintEvaluation(log, "after DPO (held-out prompts)", after);
            var summary = new JsonObject
            {
                ["true_reward_before"] = AlignmentCli.N(before.TrueReward), ["true_reward_after"] = AlignmentCli.N(after.TrueReward),
                ["kl_to_reference"] = AlignmentCli.N(after.KlPerToken), ["grammatical_rate"] = AlignmentCli.N(after.GrammaticalRate),
                ["grammatical_rate_before"] = AlignmentCli.N(before.GrammaticalRate), ["kl_per_response"] = AlignmentCli.N(after.KlPerSequence),
                ["response_length_after"] = AlignmentCli.N(after.ResponseLength), ["pairs"] = trainer.Pairs, ["final_loss"] = AlignmentCli.N(last.Loss),
                ["max_true_reward"] = builtin ? PreferenceTask.MaxReward : null,
                ["wall_seconds"] = Math.Round(wall.Elapsed.TotalSeconds, 1), ["checkpoint"] = Path.GetFullPath(outDir),
            };
            if (quiet) Console.WriteLine(summary.ToJsonString());
            return 0;
        });
        return cmd;
    }
}

/// <summary><c>nexttoken grpo --policy SFT --reward builtin:NAME|RM --group-size G</c>.</summary>
internal sealed class GrpoCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var d = new GrpoOptions();
        var policy = new Option<string>("--policy") { Description = "The SFT policy (default runs/default, trained first when missing and the prompts are built in)", DefaultValueFactory = _ => Path.Combine("runs", "default") };
        var reward = new Option<string>("--reward") { Description = $"A rule ({PreferenceTask.Name}: the task's true reward) or a reward model directory", DefaultValueFactory = _ => PreferenceTask.Name };
        var prompts = new Option<string>("--prompts") { Description = $"Prompts: a file (one per line, or JSONL with \"prompt\") or {PreferenceTask.Name}", DefaultValueFactory = _ => PreferenceTask.Name };
        var output = new Option<string>("--out") { Description = "Output directory (policy checkpoint, log.jsonl, figures)", DefaultValueFactory = _ => Path.Combine("runs", "grpo") };
        var group = new Option<int>("--group-size") { Description = "G: responses per prompt; advantages are relative to the group", DefaultValueFactory = _ => d.GroupSize };
        var perIter = new Option<int>("--prompts-per-iter") { Description = "Prompts per iteration", DefaultValueFactory = _ => d.Prompts };
        var iters = new Option<int>("--iters") { Description = "Iterations", DefaultValueFactory = _ => d.Iterations };
        var updates = new Option<int>("--updates") { Description = "Policy updates per iteration (μ)", DefaultValueFactory = _ => d.UpdatesPerIteration };
        var clip = new Option<float>("--clip") { Description = "Clip range of the ratio", DefaultValueFactory = _ => d.Clip };
        var kl = new Option<float>("--kl-coef") { Description = "β of the k3 KL term to the reference (0: off)", DefaultValueFactory = _ => d.KlCoefficient };
        var lr = new Option<float>("--lr") { Description = "Learning rate", DefaultValueFactory = _ => d.LearningRate };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Longest response", DefaultValueFactory = _ => AlignmentCli.BuiltinMaxNewTokens };
        var eosPenalty = new Option<float>("--missing-eos-penalty") { Description = "Subtracted from the reward of a response that does not reach the end token", DefaultValueFactory = _ => d.MissingEndPenalty };
        var endText = new Option<string?>("--end-text") { Description = "The end of a response (one token; default: the tokenizer's end-of-text; built-in prompts: a newline)" };
        var seed = new Option<ulong>("--seed") { Description = "Seed", DefaultValueFactory = _ => d.Seed };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON (true_reward_before, true_reward_after, kl_to_reference, grammatical_rate, wall_seconds, …)" };
        var threads = ThreadsOption.Create();
        var cmd = new Command("grpo", "Group relative policy optimisation: G responses per prompt, advantages relative to the group, clipped objective, optional k3 KL.\n" +
                                      "Example: nexttoken grpo --reward builtin:preferences --group-size 8 --json");
        foreach (var o in new Option[] { policy, reward, prompts, output, group, perIter, iters, updates, clip, kl, lr, maxNew, eosPenalty, endText, seed, json, threads }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            var wall = Stopwatch.StartNew();
            bool quiet = pr.GetValue(json);
            var log = quiet ? Console.Error : Console.Out;
            string promptSpec = pr.GetValue(prompts)!, outDir = pr.GetValue(output)!, rewardSpec = pr.GetValue(reward)!;
            bool builtin = promptSpec == PreferenceTask.Name;
            var (model, tokenizer) = AlignmentCli.LoadPolicy(pr.GetValue(policy)!, builtin && pr.GetResult(policy) is null or { Implicit: true }, quiet, log);
            var promptList = AlignmentCli.ReadPrompts(promptSpec);
            int end = PolicyTraining.EndToken(tokenizer, pr.GetValue(endText) ?? (builtin ? PreferenceTask.End : null));
            IRewardFunction rewardFn;
            if (rewardSpec.StartsWith(BuiltinDatasets.Prefix, StringComparison.Ordinal))
                rewardFn = RuleReward.Builtin(rewardSpec) ?? throw new ArgumentException($"unknown reward '{rewardSpec}': the built-in rule is {PreferenceTask.Name}");
            else
            {
                var rm = ScalarModel.Load(rewardSpec);
                ScalarModel.RequireSameTokenizer(tokenizer, rm.Tokenizer, $"the reward model in {rewardSpec}");
                rewardFn = new ModelReward(rm, rewardSpec);
            }
            var options = new GrpoOptions
            {
                Iterations = pr.GetValue(iters), Prompts = pr.GetValue(perIter), GroupSize = pr.GetValue(group), UpdatesPerIteration = pr.GetValue(updates),
                Clip = pr.GetValue(clip), KlCoefficient = pr.GetValue(kl), LearningRate = pr.GetValue(lr), MaxNewTokens = pr.GetValue(maxNew),
                MissingEndPenalty = pr.GetValue(eosPenalty), Seed = pr.GetValue(seed),
            }.Validate();
            var reference = PolicyTraining.FrozenCopy(model);
            Func<string, string, double>? trueReward = builtin ? PreferenceTask.TrueReward : null;
            Func<string, string, bool>? grammatical = builtin ? PreferenceTask.IsGrammatical : null;
            var evalPrompts = builtin ? AlignmentCli.EvalPrompts() : promptList.Take(256).ToList();
            var before = PolicyTraining.Evaluate(reference, reference, tokenizer, evalPrompts, end, options.MaxNewTokens, options.Seed + 7, trueReward, grammatical, rewardFn);
            AlignmentCli.PrintEvaluation(log, "before GRPO (held-out prompts)", before);
            var trainer = new GrpoTrainer(model, reference, tokenizer, rewardFn, promptList, options, end, trueReward, grammatical);
            Directory.CreateDirectory(outDir);
            string logPath = Path.Combine(outDir, "log.jsonl");
            File.WriteAllText(logPath, "");
            log.WriteLine($"GRPO: {options.Iterations} iterations x {options.Prompts} prompts x {options.GroupSize} responses, reward {rewardFn.Name}, k3 KL coefficient {options.KlCoefficient}");
            for (int i = 0; i < options.Iterations; i++)
            {
                var it = trainer.Step();
                AlignmentCli.AppendLog(logPath, new
                {
                    step = it.Iteration, model_reward = it.Reward, true_reward = AlignmentCli.N(it.TrueReward), kl_k3 = it.KlK3, clip_fraction = it.ClipFraction,
                    response_length = it.ResponseLength, grammatical_rate = AlignmentCli.N(it.GrammaticalRate), seconds = it.Seconds,
                });
                if (it.Iteration % 10 == 0 || it.Iteration == options.Iterations)
                    log.WriteLine($"iter {it.Iteration,4}/{options.Iterations}: reward {it.Reward:0.000}, true reward {AlignmentCli.F(it.TrueReward)}, k3 KL/token {it.KlK3:0.0000}, " +
                                  $"clip {it.ClipFraction:0.000}, length {it.ResponseLength:0.0}, {it.Seconds:0}s");
            }
            Checkpoint.Save(outDir, model, tokenizer: tokenizer);
            AlignmentPlots.TryDraw(outDir, Console.Error);
            var after = trainer.Evaluate(evalPrompts, options.Seed + 7);
            AlignmentCli.PrintEvaluation(log, "after GRPO (held-out prompts)", after);
            var summary = new JsonObject
            {
                ["true_reward_before"] = AlignmentCli.N(before.TrueReward), ["true_reward_after"] = AlignmentCli.N(after.TrueReward),
                ["kl_to_reference"] = AlignmentCli.N(after.KlPerToken), ["grammatical_rate"] = AlignmentCli.N(after.GrammaticalRate),
                ["grammatical_rate_before"] = AlignmentCli.N(before.GrammaticalRate), ["kl_per_response"] = AlignmentCli.N(after.KlPerSequence),
                ["model_reward_before"] = AlignmentCli.N(before.ModelReward), ["model_reward_after"] = AlignmentCli.N(after.ModelReward),
                ["response_length_after"] = AlignmentCli.N(after.ResponseLength), ["iterations"] = options.Iterations,
                ["max_true_reward"] = builtin ? PreferenceTask.MaxReward : null,
                ["wall_seconds"] = Math.Round(wall.Elapsed.TotalSeconds, 1), ["checkpoint"] = Path.GetFullPath(outDir),
            };
            if (quiet) Console.WriteLine(summary.ToJsonString());
            return 0;
        });
        return cmd;
    }
}
