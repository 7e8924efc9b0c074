// IclTraining: what `nexttoken train --data builtin:icl` adds — probes during training and the shots curve at the end.
using System.Globalization;
using System.Text.Json;
using NextToken.Data;
using NextToken.Evaluation.Probes;
using NextToken.Evaluation.Tasks;
using NextToken.Model;
using NextToken.Training;

namespace NextToken.Cli.Commands;

/// <summary>Tracks the in-context-learning score and the best induction score over a builtin:icl run.</summary>
internal static class IclTraining
{
    /// <summary>Steps between probes.</summary>
    public const int ProbeInterval = 100;
    /// <summary>The probe log's file name in the run directory.</summary>
    public const string LogName = "icl_probe.jsonl";
    /// <summary>The figure drawn from it.</summary>
    public const string FigureName = "icl_training.png";

    /// <summary>Subscribes the probes to <paramref name="trainer"/>'s progress.</summary>
    public static void Track(Trainer trainer, GptModel model, PreparedData prepared, string outDir)
    {
        var windows = ProbeCommand.HeldOutWindows(model, prepared, 16);
        // Induction is probed on repeated random episodes: the model knows only the episode format (docs/evaluation.md).
        var episodes = IclEpisodes.RandomEpisodes(prepared.Tokenizer, model.ContextLength);
        string path = Path.Combine(outDir, LogName);
        trainer.Progress += p =>
        {
            if (p.ValLoss is not null || p.Step % ProbeInterval != 0 && p.Step != p.TotalSteps) return;
            bool training = model.Training;
            model.Training = false;
            var report = IclProbes.Run(model, windows, batch: 8, firstCopies: episodes, inductionSpan: IclEpisodes.ExampleTokens(prepared.Tokenizer));
            model.Training = training;
            var line = new Dictionary<string, object>
            {
                ["step"] = p.Step, ["icl_score"] = report.IclScore, ["induction_score_max"] = report.Heads.InductionMax,
                ["prefix_matching_score_max"] = report.Heads.PrefixMatchingMax, ["val_loss"] = report.LossByPosition.Average(),
                ["second_copy_loss"] = report.SecondCopyLoss,
            };
            File.AppendAllText(path, JsonSerializer.Serialize(line) + "\n");
        };
    }

    /// <summary>Draws the training figure and measures accuracy against shots on the held-out tasks.</summary>
    public static SortedDictionary<int, double> Finish(GptModel model, PreparedData prepared, string outDir, TextWriter log)
    {
        string probeLog = Path.Combine(outDir, LogName);
        if (File.Exists(probeLog))
        {
            try { ProbePlots.TrainingCurves(outDir, probeLog, Path.Combine(outDir, FigureName)); }
            catch (Exception e) when (e is IOException or InvalidOperationException or TypeInitializationException or DllNotFoundException)
            { log.WriteLine($"warning: could not draw {FigureName} ({e.Message})"); }
        }
        var curve = ShotCurve.Measure(model, prepared.Tokenizer, IclEpisodes.HeldOutTasks());
        log.WriteLine("held-out icl tasks, accuracy by shots: " + string.Join(", ", curve.Select(kv => string.Create(CultureInfo.InvariantCulture, $"K={kv.Key}: {kv.Value:P1}"))) +
                      " (chance 4%; a perfect in-context learner ≈ 4%, 28%, 47%, 74%, 96%)");
        try { ProbePlots.ShotCurve(curve, 1.0 / IclEpisodes.Labels.Count, Path.Combine(outDir, "accuracy_by_shots.png")); }
        catch (Exception e) when (e is IOException or InvalidOperationException or TypeInitializationException or DllNotFoundException)
        { log.WriteLine($"warning: could not draw accuracy_by_shots.png ({e.Message})"); }
        return curve;
    }
}
