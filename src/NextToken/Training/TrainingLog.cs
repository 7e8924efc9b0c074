// TrainingLog: log.jsonl records (one JSON object per step or evaluation) and the loss-curve plot drawn from them.
using System.Globalization;
using System.Text.Json;

namespace NextToken.Training;

/// <summary>Formats, parses and plots the machine-readable training log.</summary>
public static class TrainingLog
{
    /// <summary>One JSON line: step, loss, lr, grad_norm, tokens_per_second, elapsed_s, and val_loss on evaluations.</summary>
    public static string Format(TrainProgress p)
    {
        var inv = CultureInfo.InvariantCulture;
        return p.ValLoss is { } v
            ? string.Create(inv, $"{{\"step\":{p.Step},\"val_loss\":{Num(v)},\"elapsed_s\":{p.ElapsedSeconds:F3}}}")
            : string.Create(inv, $"{{\"step\":{p.Step},\"loss\":{Num(p.Loss)},\"lr\":{p.LearningRate:G6},\"grad_norm\":{Num(p.GradNorm)},\"tokens_per_second\":{p.TokensPerSecond:F1},\"elapsed_s\":{p.ElapsedSeconds:F3}}}");
    }

    private static string Num(double v) => double.IsFinite(v) ? v.ToString("G7", CultureInfo.InvariantCulture) : "null";

    /// <summary>The step of a log line, or null when the line is not a record.</summary>
    public static long? StepOf(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.TryGetProperty("step", out var s) ? s.GetInt64() : null;
        }
        catch (JsonException) { return null; }
    }

    /// <summary>Draws training and validation loss against step into a PNG (or SVG, by extension) with ScottPlot.</summary>
    public static void Plot(string logPath, string imagePath)
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
                double step = r.GetProperty("step").GetDouble();
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
}
