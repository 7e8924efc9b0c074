// TrainingLog: log.jsonl records (one JSON object per step or evaluation); the CLI draws loss.png from them.
using System.Globalization;
using System.Text.Json;

namespace NextToken.Training;

/// <summary>Formats and parses the machine-readable training log (<c>log.jsonl</c>).</summary>
public static class TrainingLog
{
    /// <summary>The name of the log file a <see cref="Trainer"/> writes into its output directory.</summary>
    public const string FileName = "log.jsonl";

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
}
