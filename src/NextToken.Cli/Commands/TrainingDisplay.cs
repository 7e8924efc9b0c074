// TrainingDisplay: live progress for a training run — a Spectre.Console bar on a terminal, plain lines otherwise.
using System.Globalization;
using NextToken.Training;
using Spectre.Console;

namespace NextToken.Cli.Commands;

/// <summary>Shows step, loss, learning rate, tokens/s and ETA while a trainer runs.</summary>
internal static class TrainingDisplay
{
    /// <summary>
    /// Runs <paramref name="trainer"/> with the live display (a bar on an interactive terminal unless <paramref name="quiet"/>):
    /// Ctrl-C finishes the step and writes a checkpoint (a second Ctrl-C ends the process), and loss.png is drawn from the
    /// log afterwards whether the run finished, was interrupted or failed. <paramref name="cancelled"/> says whether Ctrl-C came.
    /// </summary>
    public static TrainResult RunWithCtrlC(Trainer trainer, TrainOptions options, TextWriter log, bool quiet, string outDir, out bool cancelled)
    {
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cts.IsCancellationRequested) return; // a second Ctrl-C ends the process
            e.Cancel = true;
            cts.Cancel();
            Console.Error.WriteLine("stopping: finishing the step and writing a checkpoint (Ctrl-C again to abort)");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return Run(trainer, options, log, interactive: !quiet && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive, cts.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            cancelled = cts.IsCancellationRequested;
            // The trainer draws nothing: the figure comes from its log.
            LossPlot.TryDraw(outDir, Console.Error);
        }
    }

    public static TrainResult Run(Trainer trainer, TrainOptions options, TextWriter log, bool interactive, CancellationToken ct)
    {
        if (!interactive)
        {
            int every = Math.Max(1, options.Iterations / 50);
            trainer.Progress += p =>
            {
                if (p.ValLoss is { } v) log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {p.Step,6}: val loss {v:F4}"));
                else if (p.Step % every == 0 || p.Step == 1)
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"step {p.Step,6}/{p.TotalSteps}: loss {p.Loss:F4}, lr {p.LearningRate:E2}, {p.TokensPerSecond:F0} tok/s, ETA {Eta(p.EtaSeconds)}"));
            };
            return trainer.Run(ct);
        }
        TrainResult? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: Math.Max(1, options.Iterations));
                task.Value = trainer.Step;
                string val = "";
                trainer.Progress += p =>
                {
                    if (p.ValLoss is { } v) { val = string.Create(CultureInfo.InvariantCulture, $" val {v:F3}"); return; }
                    task.Value = p.Step;
                    task.Description = string.Create(CultureInfo.InvariantCulture, $"step {p.Step} loss {p.Loss:F3}{val} lr {p.LearningRate:E1} {p.TokensPerSecond:F0} tok/s");
                };
                result = trainer.Run(ct);
            });
        return result!;
    }

    private static string Eta(double s) => s < 90 ? $"{s:F0}s" : s < 5400 ? $"{s / 60:F1}m" : $"{s / 3600:F1}h";
}
