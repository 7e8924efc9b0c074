// ScalingStudyCommand: `nexttoken scaling study` — the built-in study: a sweep on the facts corpus, a Chinchilla fit, a held-out larger
// run predicted before it trains, and emergence on n-digit addition; figures and a summary in --out.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using NextToken.Scaling;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken scaling study</c>.</summary>
internal sealed class ScalingStudyCommand : IScalingSubcommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var output = new Option<string>("--out") { Description = "Study directory (facts/ or grammar/, heldout/, addition/, prediction.json, figures); a rerun continues", DefaultValueFactory = _ => Path.Combine("runs", "study") };
        var quick = new Option<bool>("--quick") { Description = "A seconds-long version with tiny models (for tests; its figures mean little)" };
        var json = new Option<bool>("--json") { Description = "Last stdout line: one JSON object (fit, predicted_loss, measured_loss, relative_error, emergence)" };
        var threads = ThreadsOption.Create();
        var d = new StudyOptions();
        var sizes = new Option<string?>("--sizes") { Description = $"Sweep shapes LAYERSxWIDTH[xHEADS], comma-separated (default: {string.Join(",", d.Sizes)})" };
        var tokens = new Option<string?>("--tokens") { Description = $"Sweep token budgets, comma-separated (default: {string.Join(",", d.Tokens)})" };
        var heldOut = new Option<string?>("--heldout") { Description = $"The larger shape whose loss is predicted before it trains (default: {d.HeldOutSize})" };
        var heldOutTokens = new Option<double?>("--heldout-tokens") { Description = $"Its training tokens (default: {d.HeldOutTokens})" };
        var corpus = new Option<string>("--corpus") { Description = "The sweep's corpus: facts (Zipf-distributed entity profiles; the loss keeps falling) or grammar (reaches its floor within the sweep)", DefaultValueFactory = _ => d.Corpus };
        corpus.AcceptOnlyFromAmong(NextToken.Data.BuiltinDatasets.Facts, NextToken.Data.BuiltinDatasets.Grammar);
        var cmd = new Command("study", $"The built-in scaling study: {d.Sizes.Count} sizes ({string.Join(", ", d.Sizes)}) x {d.Tokens.Count} token budgets on the facts corpus (builtin:facts),\n" +
                                       $"a Chinchilla fit, a prediction of {d.HeldOutSize} on {d.HeldOutTokens:N0} tokens written before that run trains, the run,\n" +
                                       "and emergence on 2-digit addition (exact match against per-token log-likelihood).\n" +
                                       "Example: nexttoken scaling study --out runs/study");
        foreach (var o in new Option[] { output, quick, corpus, sizes, tokens, heldOut, heldOutTokens, json, threads }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            string outDir = pr.GetValue(output)!;
            var options = (pr.GetValue(quick) ? StudyOptions.Quick : new StudyOptions()) with { Corpus = pr.GetValue(corpus)! };
            if (pr.GetValue(sizes) is { } sz) options = options with { Sizes = sz.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(SweepModel.Parse).ToArray() };
            if (pr.GetValue(tokens) is { } tk) options = options with { Tokens = ScalingSweepCommand.Numbers(tk, "--tokens").Select(v => (long)Math.Ceiling(v)).ToArray() };
            if (pr.GetValue(heldOut) is { } ho) options = options with { HeldOutSize = SweepModel.Parse(ho) };
            if (pr.GetValue(heldOutTokens) is double ht)
            {
                if (!(ht > 0) || !double.IsFinite(ht)) throw new ArgumentException($"--heldout-tokens must be a positive number (got {ht})");
                options = options with { HeldOutTokens = (long)Math.Ceiling(ht) };
            }
            var study = new ScalingStudy(options, outDir);
            bool interactive = !Console.IsErrorRedirected;
            DateTime last = DateTime.MinValue;
            var inv = CultureInfo.InvariantCulture;
            study.Progress += (stage, p) =>
            {
                if (!interactive || (DateTime.UtcNow - last).TotalMilliseconds < 200) return;
                last = DateTime.UtcNow;
                Console.Error.Write($"\r{stage,-8} {ScalingSweepCommand.Bar(p)}   ");
            };
            study.RunFinished += (stage, run, row) =>
            {
                if (interactive) Console.Error.Write("\r" + new string(' ', 120) + "\r");
                string extra = row["exact_match"] is { } em ? $", exact match {em.GetValue<double>():P1}, answer log-likelihood {row["token_log_likelihood"]!.GetValue<double>():F3}" : "";
                Console.WriteLine($"  {stage} {run.Name}: {run.Parameters.ToString("N0", inv)} params, {run.Flops.ToString("0.00e+00", inv)} FLOPs, " +
                                  $"val loss {(row["loss"]?.GetValue<double>())?.ToString("F4", inv) ?? "n/a"}{extra}");
            };
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { if (cts.IsCancellationRequested) return; e.Cancel = true; cts.Cancel(); Console.Error.WriteLine("\nstopping: rerun the command to continue"); };
            Console.CancelKeyPress += onCancel;
            StudyReport report;
            try { report = study.Run(cts.Token); }
            catch (OperationCanceledException) { return 130; }
            finally { Console.CancelKeyPress -= onCancel; }
            if (interactive) Console.Error.WriteLine();
            var f = report.Fit;
            Console.WriteLine($"fit (chinchilla, {f.Runs} runs): E {f.E:G4}, A {f.A:G4}, B {f.B:G4}, alpha {f.Alpha:G4}, beta {f.Beta:G4}; a {f.ParametersExponent:G3}, b {f.TokensExponent:G3}");
            Console.WriteLine($"held-out run ({report.HeldOutParameters.ToString("N0", inv)} params, {report.HeldOutTokens.ToString("N0", inv)} tokens): predicted {report.PredictedLoss:F4}, " +
                              $"measured {report.MeasuredLoss?.ToString("F4", inv) ?? "n/a"}, error {report.RelativeError?.ToString("+0.00%;-0.00%", inv) ?? "n/a"} (target within 3%)");
            Console.WriteLine("emergence on addition (compute → exact match | mean answer-token log-likelihood):");
            foreach (var p in report.Emergence.OrderBy(p => p.Flops))
                Console.WriteLine($"  {p.Run,-18} {p.Flops.ToString("0.00e+00", inv)} FLOPs  {p.ExactMatch,7:P1} | {p.TokenLogLikelihood:F3}");
            try
            {
                var (runs, _) = ResultsFile.Read(Path.Combine(outDir, options.Corpus, ResultsFile.FileName));
                ScalingPlots.DrawCompute(runs, Path.Combine(outDir, "loss_vs_compute.png"));
                ScalingPlots.DrawFit(f, runs, Path.Combine(outDir, "fit.png"));
                if (report.Emergence.Count > 0)
                    {
                    ScalingPlots.DrawEmergence(report.Emergence, Path.Combine(outDir, "emergence.png"));
                    ScalingPlots.DrawEmergence(report.Emergence, Path.Combine(outDir, "emergence.svg"));
                }
                Console.WriteLine($"figures: {outDir}/loss_vs_compute.png, fit.png, fit.residuals.png, emergence.png (+ .svg)");
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or TypeInitializationException or DllNotFoundException)
            {
                Console.Error.WriteLine($"warning: could not draw the figures ({e.Message})");
            }
            string summary = JsonSerializer.Serialize(report);
            File.WriteAllText(Path.Combine(outDir, "study.json"), summary + "\n");
            if (pr.GetValue(json)) Console.WriteLine(summary);
            return 0;
        });
        return cmd;
    }
}
