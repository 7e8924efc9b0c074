// LossPlot: draws loss.png from a run's log.jsonl with ScottPlot. It lives in the CLI so the library ships no plotting
// package (ScottPlot brings SkiaSharp and HarfBuzz native binaries for ten platforms).
using System.Text.Json;
using NextToken.Training;

namespace NextToken.Cli;

/// <summary>The training-loss figure the CLI draws after a run (finished or interrupted).</summary>
internal static class LossPlot
{
    /// <summary>The figure's file name inside the run directory.</summary>
    public const string FileName = "loss.png";

    /// <summary>Draws training and validation loss against step into a PNG (or SVG, by extension).</summary>
    public static void Draw(string logPath, string imagePath)
    {
        var trainX = new List<double>(); var trainY = new List<double>();
        var valX = new List<double>(); var valY = new List<double>();
        foreach (string line in File.ReadLines(logPath))
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); } catch (JsonException) { continue; }
            using (doc)
            {
                var r = doc.RootElement;
                if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("step", out var s) || s.ValueKind != JsonValueKind.Number) continue;
                double step = s.GetDouble();
                if (r.TryGetProperty("loss", out var l) && l.ValueKind == JsonValueKind.Number) { trainX.Add(step); trainY.Add(l.GetDouble()); }
                if (r.TryGetProperty("val_loss", out var v) && v.ValueKind == JsonValueKind.Number) { valX.Add(step); valY.Add(v.GetDouble()); }
            }
        }
        if (trainX.Count == 0 && valX.Count == 0) return;
        var plot = new ScottPlot.Plot();
        if (trainX.Count > 0) { var s = plot.Add.ScatterLine(trainX.ToArray(), trainY.ToArray()); s.LegendText = "train"; }
        if (valX.Count > 0) { var s = plot.Add.Scatter(valX.ToArray(), valY.ToArray()); s.LegendText = "validation"; }
        plot.Title("Loss");
        plot.XLabel("step");
        plot.YLabel("cross-entropy (nats/token)");
        plot.ShowLegend();
        if (imagePath.EndsWith(".svg", StringComparison.OrdinalIgnoreCase)) plot.SaveSvg(imagePath, 800, 500);
        else plot.SavePng(imagePath, 800, 500);
    }

    /// <summary>
    /// Draws <c>loss.png</c> from <c>log.jsonl</c> in <paramref name="runDirectory"/>; a missing log or a failing native
    /// renderer is a warning on <paramref name="warnings"/>, never an error (the checkpoint is what matters).
    /// </summary>
    public static void TryDraw(string runDirectory, TextWriter warnings)
    {
        string log = Path.Combine(runDirectory, TrainingLog.FileName);
        if (!File.Exists(log)) return;
        try { Draw(log, Path.Combine(runDirectory, FileName)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or TypeInitializationException or DllNotFoundException)
        {
            warnings.WriteLine($"warning: could not draw {FileName} ({e.Message})");
        }
    }
}
