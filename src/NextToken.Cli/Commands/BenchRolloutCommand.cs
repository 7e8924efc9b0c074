// BenchRolloutCommand: `nexttoken bench rollout` — PPO's batched rollout sampler against the same sampler one sequence at a
// time, on the same model and prompts, interleaved in one process: tokens/s of each and their ratio.
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using NextToken.Alignment;
using NextToken.Tensors;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken bench rollout [--checkpoint runs/default] [--batch 64] [--rounds 3] [--json]</c>.</summary>
internal sealed class BenchRolloutCommand : IBenchSubcommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Policy to sample from (default runs/default, trained first when missing)", DefaultValueFactory = _ => Path.Combine("runs", "default") };
        var preset = new Option<string?>("--preset") { Description = "Instead of --checkpoint: a model preset with random weights (prompts of 4 random tokens; responses run to --max-new-tokens)" };
        var batch = new Option<int>("--batch") { Description = "Rollouts per batch (PPO's --batch)", DefaultValueFactory = _ => 64 };
        var rounds = new Option<int>("--rounds") { Description = "Measured rounds of each mode, interleaved (median reported)", DefaultValueFactory = _ => 3 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Longest response", DefaultValueFactory = _ => AlignmentCli.BuiltinMaxNewTokens };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON (batched_tokens_per_second, batch1_tokens_per_second, ratio)" };
        var threads = ThreadsOption.Create();
        var cmd = new Command("rollout", "Rollout generation (temperature 1, builtin:preferences prompts, a newline ends a response): the batched sampler PPO uses\n" +
                                         "(one decode step for every unfinished sequence) against batch-1 generation with the same sampler and seed.\n" +
                                         "Example: nexttoken bench rollout --batch 64 --json");
        foreach (var o in new Option[] { checkpoint, preset, batch, rounds, maxNew, json, threads }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            bool quiet = pr.GetValue(json);
            var log = quiet ? Console.Error : Console.Out;
            int B = pr.GetValue(batch), R = pr.GetValue(rounds), maxNewTokens = pr.GetValue(maxNew);
            if (B < 1 || R < 1) throw new ArgumentException("--batch and --rounds must be at least 1");
            NextToken.Model.GptModel model;
            List<int[]> prompts;
            int end;
            if (pr.GetValue(preset) is { } name)
            {
                model = new NextToken.Model.GptModel(NextToken.Model.GptPresets.Get(name));
                var prng = new Rng(7);
                prompts = Enumerable.Range(0, B).Select(_ => Enumerable.Range(0, 4).Select(_ => prng.NextInt(model.VocabSize)).ToArray()).ToList();
                end = -1; // never sampled: every response has --max-new-tokens tokens
            }
            else
            {
                var (m, tokenizer) = AlignmentCli.LoadPolicy(pr.GetValue(checkpoint)!, pr.GetResult(checkpoint) is null or { Implicit: true }, quiet, log);
                model = m;
                end = PolicyTraining.EndToken(tokenizer, PreferenceTask.End);
                prompts = Enumerable.Range(0, B).Select(i => tokenizer.Encode(PreferenceTask.TrainPrompts[i % PreferenceTask.TrainPrompts.Count])).ToList();
            }
            var sampler = new RolloutSampler(model);
            // Each measurement repeats its mode for at least half a second (one batch of 64 short responses takes tens of
            // milliseconds, too short to time on a shared machine), after a second of each mode to finish JIT tiering.
            double Run(bool batched, ulong seed, double seconds = 0.5)
            {
                var rng = new Rng(seed);
                var sw = Stopwatch.StartNew();
                long tokens = 0;
                do
                {
                    if (batched) tokens += sampler.Sample(prompts, maxNewTokens, end, 1f, ref rng).Sum(r => r.Response.Length);
                    else foreach (var p in prompts) tokens += sampler.Sample([p], maxNewTokens, end, 1f, ref rng)[0].Response.Length;
                } while (sw.Elapsed.TotalSeconds < seconds);
                return tokens / sw.Elapsed.TotalSeconds;
            }
            Run(true, 1, 1.0); Run(false, 1, 1.0); // warm-up
            var batchedTps = new List<double>(); var singleTps = new List<double>();
            for (int r = 0; r < R; r++) { batchedTps.Add(Run(true, (ulong)r + 2)); singleTps.Add(Run(false, (ulong)r + 2)); }
            double Median(List<double> x) { var s = x.Order().ToArray(); return s[s.Length / 2]; }
            double bt = Median(batchedTps), st = Median(singleTps);
            log.WriteLine($"rollouts of {B} prompts, up to {maxNewTokens} tokens: batched {bt:N0} tokens/s, batch 1 {st:N0} tokens/s, ratio {bt / st:0.00}x (median of {R})");
            if (quiet)
                Console.WriteLine(new JsonObject
                {
                    ["batched_tokens_per_second"] = Math.Round(bt, 1), ["batch1_tokens_per_second"] = Math.Round(st, 1), ["ratio"] = Math.Round(bt / st, 3),
                    ["batch"] = B, ["parameters"] = model.ParameterCount,
                }.ToJsonString());
            return 0;
        });
        return cmd;
    }
}
