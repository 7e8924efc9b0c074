// PpoCommand: `nexttoken ppo` — PPO against a reward model or a rule; on builtin:preferences with nothing else the whole
// pipeline: the default model, preference data sampled from it and labeled, the reward model, then PPO.
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using NextToken.Alignment;
using NextToken.Data;
using NextToken.Model;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken ppo --policy SFT --reward RM|builtin:NAME --prompts FILE|builtin:NAME --out DIR</c> (docs/alignment.md).</summary>
internal sealed class PpoCommand : ICliCommand
{
    private const string RunFile = "ppo.json";
    /// <summary>Iterations of the built-in task when --iters is not given (64 rollouts each).</summary>
    internal const int BuiltinIterations = 100;
    /// <summary>KL coefficient of the built-in task when --kl-coef is not given: against its small reward model InstructGPT's 0.02 over-optimises (docs/alignment.md).</summary>
    internal const float BuiltinKlCoefficient = 0.1f;

    /// <inheritdoc/>
    public Command Build()
    {
        var d = new PpoOptions();
        var policy = new Option<string>("--policy") { Description = "The SFT policy (default runs/default, trained first when missing and the prompts are built in)", DefaultValueFactory = _ => Path.Combine("runs", "default") };
        var reward = new Option<string?>("--reward") { Description = $"A reward model directory (nexttoken reward train) or a rule: {PreferenceTask.Name} (the task's true reward). Default with built-in prompts: a reward model trained on preferences sampled from the policy (OUT/rm)" };
        var prompts = new Option<string>("--prompts") { Description = $"Prompts: a file (one per line, or JSONL with \"prompt\") or {PreferenceTask.Name}", DefaultValueFactory = _ => PreferenceTask.Name };
        var output = new Option<string>("--out") { Description = "Output directory (policy checkpoint, value/, reference/, log.jsonl, figures)", DefaultValueFactory = _ => Path.Combine("runs", "ppo") };
        var resume = new Option<string?>("--resume") { Description = "Continue the PPO run in DIR exactly (its models, data and options; --iters may change)" };
        var iters = new Option<int?>("--iters") { Description = $"PPO iterations (default {BuiltinIterations} on built-in prompts, else {d.Iterations})" };
        var batch = new Option<int>("--batch") { Description = "Rollouts per iteration", DefaultValueFactory = _ => d.Batch };
        var minibatches = new Option<int>("--minibatches") { Description = "Minibatches per PPO epoch", DefaultValueFactory = _ => d.MiniBatches };
        var epochs = new Option<int>("--ppo-epochs") { Description = "Optimisation passes over each iteration's rollouts", DefaultValueFactory = _ => d.PpoEpochs };
        var clip = new Option<float>("--clip") { Description = "Clip range of the policy ratio", DefaultValueFactory = _ => d.Clip };
        var vclip = new Option<float>("--value-clip") { Description = "Clip range of the value loss", DefaultValueFactory = _ => d.ValueClip };
        var kl = new Option<float>("--kl-coef") { Description = $"Per-token KL penalty to the reference (InstructGPT: 0.02; {PreferenceTask.Name} without --kl-coef: {BuiltinKlCoefficient}, docs/alignment.md)", DefaultValueFactory = _ => d.KlCoefficient };
        var targetKl = new Option<float?>("--target-kl") { Description = "Adaptive KL controller toward this KL per response (Ziegler et al. 2019); off by default" };
        var gamma = new Option<float>("--gamma") { Description = "GAE discount", DefaultValueFactory = _ => d.Gamma };
        var lam = new Option<float>("--lam") { Description = "GAE lambda", DefaultValueFactory = _ => d.Lambda };
        var entropy = new Option<float>("--entropy-coef") { Description = "Entropy bonus (0: off)", DefaultValueFactory = _ => 0f };
        var ptx = new Option<float>("--ptx-coef") { Description = "PPO-ptx: pre-training loss mixed into each policy step (0: off)", DefaultValueFactory = _ => 0f };
        var ptxData = new Option<string?>("--ptx-data") { Description = "Pre-training text for --ptx-coef, one sequence per line (default with built-in prompts: sentences of the built-in grammar)" };
        var lr = new Option<float>("--lr") { Description = "Policy learning rate", DefaultValueFactory = _ => 1e-4f };
        var vlr = new Option<float>("--value-lr") { Description = "Value model learning rate", DefaultValueFactory = _ => 1e-3f };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Longest response", DefaultValueFactory = _ => AlignmentCli.BuiltinMaxNewTokens };
        var temperature = new Option<float>("--temperature") { Description = "Rollout temperature", DefaultValueFactory = _ => 1f };
        var eosPenalty = new Option<float>("--missing-eos-penalty") { Description = "Subtracted from the reward of a response that does not reach the end token", DefaultValueFactory = _ => d.MissingEndPenalty };
        var endText = new Option<string?>("--end-text") { Description = "The end of a response (one token; default: the tokenizer's end-of-text; built-in prompts: a newline)" };
        var noWhiten = new Option<bool>("--no-whiten") { Description = "Do not whiten advantages" };
        var ckpt = new Option<int>("--checkpoint-interval") { Description = "Checkpoint every N iterations (and at the end, and on Ctrl-C)", DefaultValueFactory = _ => 25 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of prompts, sampling and minibatches", DefaultValueFactory = _ => d.Seed };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON (true_reward_before, true_reward_after, kl_to_reference, grammatical_rate, wall_seconds, …)" };
        var threads = ThreadsOption.Create();
        var cmd = new Command("ppo", "PPO with a per-token KL penalty to the frozen SFT policy, a value model, GAE, clipped policy and value losses.\n" +
                                     "Example: nexttoken ppo --prompts builtin:preferences   (default model, preference data, reward model, PPO)\n" +
                                     "         nexttoken ppo --policy runs/sft --reward runs/rm --prompts prompts.txt --out runs/ppo --kl-coef 0.05");
        foreach (var o in new Option[] { policy, reward, prompts, output, resume, iters, batch, minibatches, epochs, clip, vclip, kl, targetKl, gamma, lam, entropy, ptx, ptxData,
                                         lr, vlr, maxNew, temperature, eosPenalty, endText, noWhiten, ckpt, seed, json, threads })
            cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            var wall = Stopwatch.StartNew();
            bool quiet = pr.GetValue(json);
            var log = quiet ? Console.Error : Console.Out;
            JsonObject run;
            string outDir;
            if (pr.GetValue(resume) is { } resumeDir)
            {
                string runPath = Path.Combine(resumeDir, RunFile);
                if (!File.Exists(runPath) || !PpoTrainer.HasState(resumeDir)) throw new FileNotFoundException($"'{resumeDir}' is not a PPO run with a checkpoint (no {RunFile} or ppo_state.json): --resume takes the --out of an earlier ppo", runPath);
                run = JsonNode.Parse(File.ReadAllText(runPath))!.AsObject();
                outDir = resumeDir;
                if (pr.GetValue(iters) is int more) run["options"]!["Iterations"] = more;
            }
            else
            {
                outDir = pr.GetValue(output)!;
                string promptSpec = pr.GetValue(prompts)!;
                bool builtin = promptSpec == PreferenceTask.Name;
                var options = new PpoOptions
                {
                    Iterations = pr.GetValue(iters) ?? (builtin ? BuiltinIterations : d.Iterations), Batch = pr.GetValue(batch), MiniBatches = pr.GetValue(minibatches),
                    PpoEpochs = pr.GetValue(epochs), Clip = pr.GetValue(clip), ValueClip = pr.GetValue(vclip), KlCoefficient = builtin && pr.GetResult(kl) is null or { Implicit: true } ? BuiltinKlCoefficient : pr.GetValue(kl), TargetKl = pr.GetValue(targetKl),
                    Gamma = pr.GetValue(gamma), Lambda = pr.GetValue(lam), EntropyCoefficient = pr.GetValue(entropy), PtxCoefficient = pr.GetValue(ptx),
                    LearningRate = pr.GetValue(lr), ValueLearningRate = pr.GetValue(vlr), MaxNewTokens = pr.GetValue(maxNew), Temperature = pr.GetValue(temperature),
                    MissingEndPenalty = pr.GetValue(eosPenalty), WhitenAdvantages = !pr.GetValue(noWhiten), Seed = pr.GetValue(seed),
                }.Validate();
                string policyPath = pr.GetValue(policy)!;
                if (builtin && pr.GetResult(policy) is null or { Implicit: true }) AlignmentCli.LoadPolicy(policyPath, trainDefaultIfMissing: true, quiet, log);
                run = new JsonObject
                {
                    ["policy"] = Path.GetFullPath(policyPath), ["prompts"] = builtin ? promptSpec : Path.GetFullPath(promptSpec),
                    ["reward"] = pr.GetValue(reward) is { } rw ? (rw.StartsWith(BuiltinDatasets.Prefix, StringComparison.Ordinal) ? rw : Path.GetFullPath(rw)) : null,
                    ["end_text"] = pr.GetValue(endText) ?? (builtin ? PreferenceTask.End : null),
                    ["ptx_data"] = pr.GetValue(ptxData) is { } pd ? Path.GetFullPath(pd) : null,
                    ["checkpoint_interval"] = pr.GetValue(ckpt),
                    ["options"] = JsonSerializer.SerializeToNode(options, AlignmentCli.Json),
                };
            }
            var summary = Run(run, outDir, resumed: pr.GetValue(resume) is not null, quiet, log);
            summary["wall_seconds"] = Math.Round(wall.Elapsed.TotalSeconds, 1);
            if (quiet) Console.WriteLine(summary.ToJsonString());
            return 0;
        });
        return cmd;
    }

    private static JsonObject Run(JsonObject run, string outDir, bool resumed, bool quiet, TextWriter log)
    {
        var options = run["options"].Deserialize<PpoOptions>(AlignmentCli.Json)!.Validate();
        string promptSpec = run["prompts"]!.GetValue<string>();
        bool builtin = promptSpec == PreferenceTask.Name;
        var (initial, tokenizer) = AlignmentCli.LoadPolicy(run["policy"]!.GetValue<string>(), false, quiet, log);
        var promptList = AlignmentCli.ReadPrompts(promptSpec);
        string? endText = run["end_text"]?.GetValue<string>();
        int end = PolicyTraining.EndToken(tokenizer, endText);
        Directory.CreateDirectory(outDir);
        var summary = new JsonObject();

        // The reward: a rule, a reward model, or (built-in prompts, none given) the pipeline's reward model in OUT/rm.
        string? rewardSpec = run["reward"]?.GetValue<string>();
        IRewardFunction rewardFn;
        if (rewardSpec is not null && rewardSpec.StartsWith(BuiltinDatasets.Prefix, StringComparison.Ordinal))
            rewardFn = RuleReward.Builtin(rewardSpec) ?? throw new ArgumentException($"unknown reward '{rewardSpec}': the built-in rule is {PreferenceTask.Name}");
        else
        {
            string rmDir = rewardSpec ?? (builtin ? Path.Combine(outDir, "rm") : throw new ArgumentException("--reward is required with your own prompts: a reward model directory or builtin:preferences"));
            if (rewardSpec is null && !ScalarModel.IsScalarModel(rmDir))
            {
                log.WriteLine($"no reward model in {rmDir}: sampling preference data from the policy and training one");
                var (train, held, _) = AlignmentCli.CollectBuiltin(initial, tokenizer, rmDir, options.Seed, log);
                var rmNew = ScalarModel.FromPolicy(initial, tokenizer);
                var r = RewardTraining.Train(rmNew, AlignmentCli.ToExamples(train), AlignmentCli.ToExamples(held), new RewardTrainOptions { Seed = options.Seed });
                rmNew.Save(rmDir);
                log.WriteLine($"reward model: held-out pairwise accuracy {r.HeldOutAccuracy:P1} (noise ceiling {PreferenceTask.NoiseCeiling(held):P1})");
                summary["pairwise_accuracy"] = AlignmentCli.N(r.HeldOutAccuracy);
                summary["noise_ceiling"] = AlignmentCli.N(PreferenceTask.NoiseCeiling(held));
                run["reward"] = Path.GetFullPath(rmDir);
            }
            var rm = ScalarModel.Load(rmDir);
            ScalarModel.RequireSameTokenizer(tokenizer, rm.Tokenizer, $"the reward model in {rmDir}");
            rewardFn = new ModelReward(rm, rmDir);
        }
        if (!resumed) Checkpoint.WriteAtomically(Path.Combine(outDir, RunFile), s => s.Write(JsonSerializer.SerializeToUtf8Bytes(run, new JsonSerializerOptions { WriteIndented = true })));

        // Models: fresh (policy trained in place, reference a frozen copy, value from the RM or the policy) or resumed.
        GptModel policyModel, reference;
        ScalarModel value;
        if (resumed)
        {
            policyModel = Checkpoint.Load(outDir).Model;
            reference = Checkpoint.Load(Path.Combine(outDir, "reference")).Model;
            value = ScalarModel.Load(Path.Combine(outDir, "value"));
        }
        else
        {
            policyModel = initial;
            reference = PolicyTraining.FrozenCopy(initial);
            value = rewardFn is ModelReward mr ? mr.Model.Clone() : ScalarModel.FromPolicy(initial, tokenizer);
        }
        Func<string, string, double>? trueReward = builtin ? PreferenceTask.TrueReward : null;
        Func<string, string, bool>? grammatical = builtin ? PreferenceTask.IsGrammatical : null;
        IReadOnlyList<int[]>? ptxSeqs = null;
        if (options.PtxCoefficient > 0)
        {
            var lines = run["ptx_data"]?.GetValue<string>() is { } pd ? File.ReadLines(pd).Where(l => l.Length > 0)
                : builtin ? GrammarCorpus.Generate(options.Seed, 4000).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l + "\n")
                : throw new ArgumentException("--ptx-coef needs --ptx-data (pre-training text, one sequence per line)");
            ptxSeqs = lines.Select(tokenizer.Encode).Where(s => s.Length >= 2).ToList();
        }
        var trainer = new PpoTrainer(policyModel, reference, value, tokenizer, rewardFn, promptList, options, end, trueReward, grammatical, ptxSeqs);
        string logPath = Path.Combine(outDir, "log.jsonl");
        if (resumed)
        {
            trainer.Restore(outDir);
            TrimLog(logPath, trainer.Iteration);
        }
        else File.WriteAllText(logPath, "");
        var evalPrompts = builtin ? AlignmentCli.EvalPrompts() : promptList.Take(256).ToList();
        var before = PolicyTraining.Evaluate(reference, reference, tokenizer, evalPrompts, end, options.MaxNewTokens, options.Seed + 7, trueReward, grammatical, rewardFn);
        AlignmentCli.PrintEvaluation(log, "before PPO (held-out prompts)", before);
        log.WriteLine($"PPO: {options.Iterations} iterations x {options.Batch} rollouts, reward {rewardFn.Name}, KL coefficient {options.KlCoefficient}");

        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cts.IsCancellationRequested) return;
            e.Cancel = true; cts.Cancel();
            Console.Error.WriteLine("stopping: finishing the iteration and writing a checkpoint (Ctrl-C again to abort)");
        };
        Console.CancelKeyPress += onCancel;
        int interval = run["checkpoint_interval"]?.GetValue<int>() ?? 25;
        var clock = Stopwatch.StartNew();
        int startIter = trainer.Iteration;
        double rolloutTps = 0; int tpsCount = 0;
        try
        {
            while (trainer.Iteration < options.Iterations && !cts.IsCancellationRequested)
            {
                var it = trainer.Step();
                rolloutTps += it.RolloutTokensPerSecond; tpsCount++;
                AlignmentCli.AppendLog(logPath, new
                {
                    step = it.Iteration, true_reward = AlignmentCli.N(it.TrueReward), model_reward = AlignmentCli.N(it.ModelReward), kl = it.Kl, kl_per_token = it.KlPerToken,
                    kl_coef = it.KlCoefficient, clip_fraction = it.ClipFraction, approx_kl = it.ApproxKl, entropy = it.Entropy, value_loss = it.ValueLoss,
                    policy_loss = it.PolicyLoss, explained_variance = AlignmentCli.N(it.ExplainedVariance), response_length = it.ResponseLength,
                    finished_rate = it.FinishedRate, grammatical_rate = AlignmentCli.N(it.GrammaticalRate), rollout_tokens_per_second = it.RolloutTokensPerSecond, seconds = it.Seconds,
                });
                if (it.Iteration % 5 == 0 || it.Iteration == options.Iterations)
                {
                    double eta = clock.Elapsed.TotalSeconds / (it.Iteration - startIter) * (options.Iterations - it.Iteration);
                    log.WriteLine($"iter {it.Iteration,4}/{options.Iterations}: true reward {AlignmentCli.F(it.TrueReward)}, model reward {it.ModelReward:0.000}, KL {it.Kl:0.000} " +
                                  $"({it.KlPerToken:0.0000}/token), clip {it.ClipFraction:0.000}, entropy {it.Entropy:0.000}, value loss {it.ValueLoss:0.0000}, " +
                                  $"expl. var {AlignmentCli.F(it.ExplainedVariance)}, length {it.ResponseLength:0.0}, {it.RolloutTokensPerSecond:0} rollout tok/s, ETA {eta:0}s");
                }
                if (interval > 0 && it.Iteration % interval == 0 && it.Iteration < options.Iterations) trainer.Save(outDir);
            }
            trainer.Save(outDir);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            AlignmentPlots.TryDraw(outDir, Console.Error);
        }
        var after = trainer.Evaluate(evalPrompts, options.Seed + 7);
        AlignmentCli.PrintEvaluation(log, $"after {trainer.Iteration} iterations (held-out prompts)", after);
        summary["true_reward_before"] = AlignmentCli.N(before.TrueReward);
        summary["true_reward_after"] = AlignmentCli.N(after.TrueReward);
        summary["kl_to_reference"] = AlignmentCli.N(after.KlPerToken);
        summary["grammatical_rate"] = AlignmentCli.N(after.GrammaticalRate);
        summary["grammatical_rate_before"] = AlignmentCli.N(before.GrammaticalRate);
        AlignmentCli.AddEvaluation(summary, "_after", after);
        AlignmentCli.AddEvaluation(summary, "_before", before);
        summary["max_true_reward"] = builtin ? PreferenceTask.MaxReward : null;
        summary["iterations"] = trainer.Iteration;
        summary["interrupted"] = cts.IsCancellationRequested;
        summary["rollout_tokens_per_second"] = tpsCount == 0 ? null : Math.Round(rolloutTps / tpsCount, 1);
        summary["checkpoint"] = Path.GetFullPath(outDir);
        return summary;
    }

    // Drops log lines past the checkpoint's iteration (written after it by the interrupted run).
    private static void TrimLog(string path, int iteration)
    {
        if (!File.Exists(path)) return;
        var keep = File.ReadLines(path).Where(l =>
        {
            try { return JsonNode.Parse(l)?["step"]?.GetValue<int>() <= iteration; } catch (JsonException) { return false; }
        }).ToList();
        File.WriteAllLines(path, keep);
    }
}
