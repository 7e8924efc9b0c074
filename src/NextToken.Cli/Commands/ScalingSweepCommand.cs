// ScalingSweepCommand: `nexttoken scaling sweep` — trains a grid (--sizes × --tokens) or IsoFLOP profiles (--sizes per
// --flops budget) on one dataset, one results.jsonl line per run, with one progress bar and ETA for the whole sweep.
using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using NextToken.Data;
using NextToken.Scaling;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken scaling sweep</c>.</summary>
internal sealed class ScalingSweepCommand : IScalingSubcommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var d = new SweepOptions();
        var data = new Option<string>("--data") { Description = "Prepared data directory (nexttoken prepare), or builtin:grammar / builtin:addition / builtin:facts", DefaultValueFactory = _ => "builtin:grammar" };
        var sizes = new Option<string>("--sizes") { Description = "Model shapes LAYERSxWIDTH[xHEADS], comma-separated (heads default to width/16)", Required = true };
        var tokens = new Option<string?>("--tokens") { Description = "Grid: training tokens per run, comma-separated (each rounded up to whole steps)" };
        var flops = new Option<string?>("--flops") { Description = "IsoFLOP profiles: compute budgets C, comma-separated; each size trains on C/(6N) tokens" };
        var output = new Option<string>("--out") { Description = "Directory for results.jsonl, sweep.json and the figures (a rerun skips finished runs)", DefaultValueFactory = _ => Path.Combine("runs", "sweep") };
        var batch = new Option<int>("--batch") { Description = "Sequences per step", DefaultValueFactory = _ => d.BatchSize };
        var seq = new Option<int>("--seq") { Description = "Tokens per sequence (the models' context)", DefaultValueFactory = _ => d.SequenceLength };
        var lr = new Option<float>("--lr") { Description = "Peak learning rate (cosine to a tenth; warm-up a tenth of the steps, at most 100)", DefaultValueFactory = _ => d.LearningRate };
        var evalIters = new Option<int>("--eval-iters") { Description = "Validation batches for each run's final loss", DefaultValueFactory = _ => d.EvalIterations };
        var minSteps = new Option<int>("--min-steps") { Description = "IsoFLOP runs shorter than this many steps are left out", DefaultValueFactory = _ => d.MinSteps };
        var seed = new Option<ulong>("--seed") { Description = "Seed of every run", DefaultValueFactory = _ => d.Seed };
        var json = new Option<bool>("--json") { Description = "Last stdout line: one JSON object (runs, trained, already_done, results)" };
        var threads = ThreadsOption.Create();
        var cmd = new Command("sweep", "Train a grid of model sizes x token counts, or IsoFLOP profiles, with the trainer; one results.jsonl line per run\n" +
                                       "(params, non_embedding_params, tokens, flops, loss, config). Rerunning the same command continues where it stopped.\n" +
                                       "Example: nexttoken scaling sweep --sizes 1x32,2x64,3x96 --tokens 1e5,3e5 --out runs/grid\n" +
                                       "         nexttoken scaling sweep --sizes 1x32,1x64,2x64,2x96,3x128 --flops 1e12,3e12 --out runs/iso");
        foreach (var o in new Option[] { data, sizes, tokens, flops, output, batch, seq, lr, evalIters, minSteps, seed, json, threads }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            var options = new SweepOptions
            {
                BatchSize = pr.GetValue(batch), SequenceLength = pr.GetValue(seq), LearningRate = pr.GetValue(lr), EvalIterations = pr.GetValue(evalIters),
                MinSteps = pr.GetValue(minSteps), Seed = pr.GetValue(seed),
            }.Validate();
            var models = pr.GetValue(sizes)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(SweepModel.Parse).ToList();
            string? tokenSpec = pr.GetValue(tokens), flopSpec = pr.GetValue(flops);
            if ((tokenSpec is null) == (flopSpec is null)) throw new ArgumentException("give either --tokens (a grid) or --flops (IsoFLOP profiles)");
            string outDir = pr.GetValue(output)!;
            var prepared = Data(pr.GetValue(data)!, outDir);
            int leftOut = 0;
            var runs = tokenSpec is not null
                ? ScalingSweep.PlanGrid(models, Numbers(tokenSpec, "--tokens").Select(v => (long)Math.Ceiling(v)), prepared.VocabSize, options)
                : ScalingSweep.PlanIsoFlop(models, Numbers(flopSpec!, "--flops"), prepared.VocabSize, options, out leftOut);
            if (runs.Count == 0) throw new ArgumentException($"no run is left to train: every IsoFLOP run is shorter than {options.MinSteps} steps (--flops, --min-steps)");
            if (leftOut > 0) Console.Error.WriteLine($"left out {leftOut} IsoFLOP run{(leftOut == 1 ? "" : "s")} shorter than {options.MinSteps} steps (raise the budget or lower --min-steps)");
            var sweep = new ScalingSweep(prepared, runs, options, outDir);
            int already = sweep.CompletedRuns().Count(n => runs.Any(r => r.Name == n));
            Console.WriteLine($"sweep: {runs.Count} runs ({already} already done) on {prepared.Source}, {options.BatchSize} x {options.SequenceLength} tokens per step; results in {sweep.ResultsPath}");
            bool interactive = !Console.IsErrorRedirected;
            DateTime lastDraw = DateTime.MinValue;
            sweep.Progress += p =>
            {
                if (!interactive || (DateTime.UtcNow - lastDraw).TotalMilliseconds < 200 && p.Step < p.Steps) return;
                lastDraw = DateTime.UtcNow;
                Console.Error.Write("\r" + Bar(p) + "   ");
            };
            sweep.RunFinished += (run, _, row) =>
            {
                if (interactive) Console.Error.Write("\r" + new string(' ', 110) + "\r");
                var inv = CultureInfo.InvariantCulture;
                Console.WriteLine($"  {run.Name}: {run.Parameters.ToString("N0", inv)} params, {run.Tokens.ToString("N0", inv)} tokens, {run.Flops.ToString("0.00e+00", inv)} FLOPs, " +
                                  $"val loss {(row["loss"]?.GetValue<double>())?.ToString("F4", inv) ?? "n/a"}");
            };
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { if (cts.IsCancellationRequested) return; e.Cancel = true; cts.Cancel(); Console.Error.WriteLine("\nstopping: the current run is dropped; rerun the command to continue"); };
            Console.CancelKeyPress += onCancel;
            IReadOnlyList<JsonObject> rows;
            try { rows = sweep.Run(cts.Token); }
            finally { Console.CancelKeyPress -= onCancel; }
            if (interactive) Console.Error.WriteLine();
            var (all, _) = ResultsFile.Read(sweep.ResultsPath);
            if (all.Count > 0)
            {
                try { ScalingPlots.DrawCompute(all, Path.Combine(outDir, "loss_vs_compute.png")); }
                catch (Exception e) when (e is IOException or InvalidOperationException or TypeInitializationException or DllNotFoundException)
                {
                    Console.Error.WriteLine($"warning: could not draw loss_vs_compute.png ({e.Message})");
                }
            }
            Console.WriteLine($"done: {rows.Count} run{(rows.Count == 1 ? "" : "s")} trained, {already} already done; fit with: nexttoken scaling fit --results {sweep.ResultsPath} --law chinchilla");
            if (pr.GetValue(json))
                Console.WriteLine(new JsonObject { ["runs"] = runs.Count, ["trained"] = rows.Count, ["already_done"] = already, ["results"] = sweep.ResultsPath }.ToJsonString());
            return cts.IsCancellationRequested ? 130 : 0;
        });
        return cmd;
    }

    /// <summary>A built-in dataset (prepared once into DIR/data) or a prepared directory.</summary>
    internal static PreparedData Data(string spec, string outDir)
    {
        if (BuiltinDatasets.TryParse(spec, out var name))
        {
            string dir = Path.Combine(outDir, "data");
            return File.Exists(Path.Combine(dir, PreparedData.MetaFileName)) ? PreparedData.Load(dir) : BuiltinDatasets.PrepareBuiltin(name, dir, 1337);
        }
        if (File.Exists(spec))
            throw new ArgumentException($"--data '{spec}' is a text file, not a prepared data directory: run 'nexttoken prepare --input {spec} --out DIR' first");
        return PreparedData.Load(spec);
    }

    internal static List<double> Numbers(string spec, string flag)
    {
        var list = new List<double>();
        foreach (string part in spec.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v <= 0)
                throw new ArgumentException($"{flag} takes positive finite numbers, comma-separated (got '{part}')");
            list.Add(v);
        }
        if (list.Count == 0) throw new ArgumentException($"{flag} lists no value");
        return list;
    }

    internal static string Bar(SweepProgress p)
    {
        const int width = 30;
        int filled = (int)Math.Round(Math.Clamp(p.Fraction, 0, 1) * width);
        return string.Create(CultureInfo.InvariantCulture,
            $"[{new string('#', filled)}{new string('-', width - filled)}] {p.Fraction * 100,5:F1}%  run {p.RunIndex + 1}/{p.RunCount} {p.RunName} step {p.Step}/{p.Steps}  " +
            $"elapsed {Time(p.ElapsedSeconds)}  ETA {Time(p.EtaSeconds)}");
    }

    private static string Time(double s) => s >= 3600 ? $"{(int)(s / 3600)}h{(int)(s % 3600 / 60):D2}m" : s >= 60 ? $"{(int)(s / 60)}m{(int)(s % 60):D2}s" : $"{s:F0}s";
}
