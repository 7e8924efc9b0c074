// AlignmentPlots: the figures of a PPO / GRPO run drawn from its log.jsonl — rewards and KL per iteration, and true and
// proxy reward against KL (the over-optimisation picture of Gao et al. 2022).
using System.Text.Json;

namespace NextToken.Cli;

internal static class AlignmentPlots
{
    /// <summary>Rewards and KL against iteration.</summary>
    public const string ProgressFile = "rewards.png";
    /// <summary>True and proxy reward against KL.</summary>
    public const string KlFile = "reward_vs_kl.png";

    private static Dictionary<string, List<(double X, double Y)>> Read(string log, params string[] keys)
    {
        var series = keys.ToDictionary(k => k, _ => new List<(double, double)>());
        foreach (string line in File.ReadLines(log))
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); } catch (JsonException) { continue; }
            using (doc)
            {
                var r = doc.RootElement;
                if (!r.TryGetProperty("step", out var s) || s.ValueKind != JsonValueKind.Number) continue;
                foreach (var key in keys)
                    if (r.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number) series[key].Add((s.GetDouble(), v.GetDouble()));
            }
        }
        return series;
    }

    /// <summary>Draws both figures into <paramref name="dir"/>; failures are warnings.</summary>
    public static void TryDraw(string dir, TextWriter warnings)
    {
        string log = Path.Combine(dir, "log.jsonl");
        if (!File.Exists(log)) return;
        try
        {
            DrawProgress(log, Path.Combine(dir, ProgressFile));
            DrawRewardVsKl(log, Path.Combine(dir, KlFile));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or TypeInitializationException or DllNotFoundException)
        {
            warnings.WriteLine($"warning: could not draw the reward figures ({e.Message})");
        }
    }

    public static void DrawProgress(string log, string path)
    {
        var s = Read(log, "true_reward", "model_reward", "kl");
        if (s.Values.All(v => v.Count == 0)) return;
        var plot = new ScottPlot.Plot();
        foreach (var (key, label) in new[] { ("true_reward", "true reward"), ("model_reward", "reward model / rule score"), ("kl", "KL to reference (per response)") })
            if (s[key].Count > 0) plot.Add.ScatterLine(s[key].Select(p => p.X).ToArray(), s[key].Select(p => p.Y).ToArray()).LegendText = label;
        plot.Title("Policy optimisation");
        plot.XLabel("iteration");
        plot.YLabel("mean over the iteration's rollouts");
        plot.ShowLegend();
        Save(plot, path);
    }

    /// <summary>True and proxy reward against the sampled KL per response, one point per iteration (smoothed over 5).</summary>
    public static void DrawRewardVsKl(string log, string path)
    {
        var s = Read(log, "true_reward", "model_reward", "kl");
        if (s["kl"].Count == 0) return;
        var kl = s["kl"].Select(p => p.Y).ToArray();
        var plot = new ScottPlot.Plot();
        foreach (var (key, label) in new[] { ("true_reward", "true reward"), ("model_reward", "proxy (reward model) score") })
        {
            if (s[key].Count != kl.Length) continue;
            var y = Smooth(s[key].Select(p => p.Y).ToArray(), 5);
            plot.Add.Scatter(Smooth(kl, 5), y).LegendText = label;
        }
        plot.Title("Reward against KL to the reference");
        plot.XLabel("KL(π ‖ π_ref) per response (nats, sampled)");
        plot.YLabel("mean reward");
        plot.ShowLegend();
        Save(plot, path);
    }

    private static double[] Smooth(double[] x, int w)
    {
        var r = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            int a = Math.Max(0, i - w / 2), b = Math.Min(x.Length, i + w / 2 + 1);
            double sum = 0;
            for (int j = a; j < b; j++) sum += x[j];
            r[i] = sum / (b - a);
        }
        return r;
    }

    private static void Save(ScottPlot.Plot plot, string path)
    {
        plot.SavePng(path, 900, 520);
        plot.SaveSvg(Path.ChangeExtension(path, ".svg"), 900, 520);
    }
}
