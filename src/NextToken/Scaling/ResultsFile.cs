// ResultsFile: reads a sweep's results.jsonl (one JSON object per run), keeping the usable rows and counting the rest.
using System.Globalization;
using System.Text.Json;

namespace NextToken.Scaling;

/// <summary>
/// Reads results.jsonl. A row needs positive, finite <c>params</c>, <c>tokens</c> and <c>loss</c>
/// (<c>non_embedding_params</c> defaults to params, <c>flops</c> to 6·params·tokens); rows without them (a failed run,
/// a hand-edited NaN, zero tokens) are skipped and counted, never fitted.
/// </summary>
public static class ResultsFile
{
    /// <summary>The file name a sweep writes.</summary>
    public const string FileName = "results.jsonl";

    /// <summary>The usable rows of <paramref name="path"/> and how many were skipped.</summary>
    public static (IReadOnlyList<ScalingRun> Runs, int Skipped) Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Directory.Exists(path)) path = Path.Combine(path, FileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"the results file '{path}' does not exist", path);
        var runs = new List<ScalingRun>();
        int skipped = 0;
        foreach (string raw in File.ReadLines(path))
        {
            string line = raw.Trim();
            if (line.Length == 0) continue;
            var run = Parse(line);
            if (run is null) skipped++;
            else runs.Add(run);
        }
        return (runs, skipped);
    }

    /// <summary>The run in one line, or null when it lacks a usable value.</summary>
    public static ScalingRun? Parse(string line)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(line); }
        catch (JsonException) { return null; }
        using (doc)
        {
            var r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object) return null;
            double n = Number(r, "params"), d = Number(r, "tokens"), loss = Number(r, "loss");
            if (!Usable(n) || !Usable(d) || !Usable(loss)) return null;
            double ne = r.TryGetProperty("non_embedding_params", out _) ? Number(r, "non_embedding_params") : n;
            double c = r.TryGetProperty("flops", out _) ? Number(r, "flops") : 6 * n * d;
            if (!Usable(ne) || !Usable(c)) return null;
            double? budget = r.TryGetProperty("budget", out var b) && b.ValueKind == JsonValueKind.Number && Usable(b.GetDouble()) ? b.GetDouble() : null;
            string? name = r.TryGetProperty("run", out var nm) && nm.ValueKind == JsonValueKind.String ? nm.GetString() : null;
            return new ScalingRun(n, ne, d, c, loss, budget, name);
        }
    }

    private static bool Usable(double v) => double.IsFinite(v) && v > 0;

    // A number, or a string holding one ("NaN", "Infinity" and the like parse to themselves); anything else is NaN.
    private static double Number(JsonElement r, string key)
    {
        if (!r.TryGetProperty(key, out var v)) return double.NaN;
        return v.ValueKind switch
        {
            JsonValueKind.Number => v.GetDouble(),
            JsonValueKind.String when double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double x) => x,
            _ => double.NaN,
        };
    }
}
