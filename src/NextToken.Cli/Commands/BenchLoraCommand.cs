// BenchLoraCommand: `nexttoken bench lora` — LoRA against full fine-tuning on the same model and batch, each in its own
// process (peak RSS is a per-process high-water mark): ms/step and peak RSS side by side, and their ratios.
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NextToken.FineTuning;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Training;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken bench lora [--preset gpt2] [--batch 4] [--seq 256] [--rank 8] [--steps 3] [--mode both|full|lora] [--json]</c>.</summary>
internal sealed class BenchLoraCommand : IBenchSubcommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var preset = new Option<string>("--preset") { Description = $"Model preset ({string.Join(", ", GptPresets.All.Keys)}), random weights", DefaultValueFactory = _ => "gpt2" };
        var batch = new Option<int>("--batch") { Description = "Sequences per step", DefaultValueFactory = _ => 4 };
        var seq = new Option<int>("--seq") { Description = "Tokens per sequence", DefaultValueFactory = _ => 256 };
        var rank = new Option<int>("--rank") { Description = "LoRA rank (all four targets: qkv, proj, fc, fc_proj)", DefaultValueFactory = _ => 8 };
        var steps = new Option<int>("--steps") { Description = "Measured steps (median reported)", DefaultValueFactory = _ => 3 };
        var warmup = new Option<int>("--warmup-steps") { Description = "Unmeasured steps first", DefaultValueFactory = _ => 1 };
        var mode = new Option<string>("--mode") { Description = "both (two child processes, side by side), full or lora (this process)", DefaultValueFactory = _ => "both" };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON (full_ms_per_step, lora_ms_per_step, step_ratio, full_peak_rss_mb, lora_peak_rss_mb, rss_ratio, trainable_parameters, total_parameters)" };
        var threads = ThreadsOption.Create();
        var cmd = new Command("lora", "LoRA fine-tuning steps against full fine-tuning steps (forward, backward, AdamW) on random tokens, each in its own\n" +
                                      "process so peak RSS is each run's own. Full: every tensor trainable, AdamW over all. LoRA: base frozen (no\n" +
                                      "gradient, optimizer state or weight-gradient product), AdamW over the adapters.\n" +
                                      "Example: nexttoken bench lora --preset gpt2 --batch 4 --seq 256 --json");
        foreach (var o in new Option[] { preset, batch, seq, rank, steps, warmup, mode, json, threads }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            string m = pr.GetValue(mode)!;
            int B = pr.GetValue(batch), T = pr.GetValue(seq), r = pr.GetValue(rank), n = pr.GetValue(steps), w = pr.GetValue(warmup);
            if (B < 1 || T < 1 || n < 1 || w < 0 || r < 1) throw new ArgumentException("--batch, --seq, --steps and --rank must be at least 1, --warmup-steps at least 0");
            var cfg = GptPresets.Get(pr.GetValue(preset)!);
            if (T > cfg.ContextLength) throw new ArgumentException($"--seq {T} exceeds the preset's context {cfg.ContextLength}");
            if (m is "full" or "lora")
            {
                var res = Run(cfg, B, T, r, n, w, m == "lora", pr.GetValue(json) ? Console.Error : Console.Out);
                Console.WriteLine(JsonSerializer.Serialize(res));
                return 0;
            }
            if (m != "both") throw new ArgumentException($"--mode must be both, full or lora (got '{m}')");
            var common = new List<string> { "bench", "lora", "--preset", pr.GetValue(preset)!, "--batch", $"{B}", "--seq", $"{T}", "--rank", $"{r}", "--steps", $"{n}", "--warmup-steps", $"{w}" };
            if (pr.GetResult(threads) is { Implicit: false }) common.AddRange(["--threads", $"{pr.GetValue(threads)}"]);
            var full = Child([.. common, "--mode", "full"]);
            var lora = Child([.. common, "--mode", "lora"]);
            double fMs = full.GetProperty("ms_per_step").GetDouble(), lMs = lora.GetProperty("ms_per_step").GetDouble();
            double fRss = full.GetProperty("peak_rss_mb").GetDouble(), lRss = lora.GetProperty("peak_rss_mb").GetDouble();
            var doc = new Dictionary<string, object>
            {
                ["preset"] = pr.GetValue(preset)!, ["batch"] = B, ["seq"] = T, ["rank"] = r,
                ["full_ms_per_step"] = fMs, ["lora_ms_per_step"] = lMs, ["step_ratio"] = Math.Round(lMs / fMs, 4),
                ["full_peak_rss_mb"] = fRss, ["lora_peak_rss_mb"] = lRss, ["rss_ratio"] = Math.Round(lRss / fRss, 4),
                ["trainable_parameters"] = lora.GetProperty("trainable_parameters").GetInt64(), ["total_parameters"] = lora.GetProperty("total_parameters").GetInt64(),
            };
            if (!pr.GetValue(json))
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"full: {fMs:F0} ms/step, peak RSS {fRss:F0} MiB; LoRA r={r}: {lMs:F0} ms/step ({lMs / fMs:P1}), peak RSS {lRss:F0} MiB ({lRss / fRss:P1})"));
            Console.WriteLine(JsonSerializer.Serialize(doc));
            return 0;
        });
        return cmd;
    }

    private static JsonElement Child(IReadOnlyList<string> args)
    {
        string exe = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") psi.ArgumentList.Add(typeof(BenchLoraCommand).Assembly.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"bench lora child ({string.Join(' ', args.Skip(2))}) exited with {p.ExitCode}");
        string last = output.TrimEnd().Split('\n')[^1];
        return JsonDocument.Parse(last).RootElement.Clone();
    }

    private static Dictionary<string, object> Run(GptConfig cfg, int B, int T, int rank, int steps, int warmup, bool lora, TextWriter log)
    {
        var model = new GptModel(cfg, seed: 1);
        LoraSet? set = lora ? LoraSet.Attach(model, new LoraOptions { Rank = rank, Alpha = 2f * rank, Targets = LoraTargets.All }) : null;
        model.EnableGradients();
        var opt = set is null ? new AdamW(model.Layout, model.GradientLayout, new AdamWOptions()) : new AdamW(set.Layout, new AdamWOptions());
        var rng = new Rng(7);
        var inputs = new int[B * T];
        var targets = new int[B * T];
        for (int i = 0; i < inputs.Length; i++) { inputs[i] = rng.NextInt(cfg.VocabSize); targets[i] = rng.NextInt(cfg.VocabSize); }
        var times = new List<double>();
        log.WriteLine($"{(lora ? $"LoRA r={rank}" : "full")}: {cfg.Layers} layers x {cfg.EmbeddingSize}, batch {B} x {T}");
        for (int s = 0; s < warmup + steps; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            float loss = model.Forward(inputs, targets, B, T, computeGradients: true);
            model.Backward();
            if (set is null) opt.Update(model.Parameters, model.Gradients!, 1e-5f, clearGradients: true);
            else opt.Update(set.Parameters, set.Gradients, 1e-5f, clearGradients: true);
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (s >= warmup) times.Add(ms);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  step {s + 1}: {ms:F0} ms, loss {loss:F4}{(s < warmup ? " (warm-up)" : "")}"));
        }
        times.Sort();
        long trainable = set?.TrainableParameters ?? model.GradientLayout.Size;
        return new Dictionary<string, object>
        {
            ["mode"] = lora ? "lora" : "full", ["ms_per_step"] = Math.Round(times[times.Count / 2], 1), ["peak_rss_mb"] = Math.Round(ProcessMemory.PeakRssMb(), 1),
            ["trainable_parameters"] = trainable, ["total_parameters"] = model.ParameterCount + (set?.TrainableParameters ?? 0),
        };
    }
}
