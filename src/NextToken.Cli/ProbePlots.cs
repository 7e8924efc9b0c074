// ProbePlots: the probe's figures (per-head heatmaps, accuracy against shots, the ICL training curves) with ScottPlot.
using System.Text.Json;

namespace NextToken.Cli;

/// <summary>PNG figures of <c>nexttoken probe</c> and of a <c>builtin:icl</c> training run.</summary>
internal static class ProbePlots
{
    /// <summary>A (layer × head) heatmap of a per-head score.</summary>
    public static void Heatmap(double[,] scores, string title, string path)
    {
        // ScottPlot draws row 0 at the top: flip so that the y axis reads the layer index (layer 0 at the bottom).
        int L = scores.GetLength(0), H = scores.GetLength(1);
        var flipped = new double[L, H];
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++) flipped[L - 1 - l, h] = scores[l, h];
        var plot = new ScottPlot.Plot();
        var hm = plot.Add.Heatmap(flipped);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        plot.Add.ColorBar(hm);
        plot.Title(title);
        plot.XLabel("head");
        plot.YLabel("layer");
        plot.SavePng(path, 640, 480);
    }

    /// <summary>Accuracy against the number of shots, with the chance level as a dashed line when given.</summary>
    public static void ShotCurve(IReadOnlyDictionary<int, double> curve, double? chance, string path)
    {
        var plot = new ScottPlot.Plot();
        var s = plot.Add.Scatter(curve.Keys.Select(k => (double)k).ToArray(), curve.Values.ToArray());
        s.LegendText = "accuracy";
        if (chance is double c) { var h = plot.Add.HorizontalLine(c); h.LinePattern = ScottPlot.LinePattern.Dashed; h.LegendText = "chance"; }
        plot.Title("Few-shot accuracy");
        plot.XLabel("shots (K)");
        plot.YLabel("accuracy");
        plot.Axes.SetLimitsY(0, 1.05);
        plot.ShowLegend();
        plot.SavePng(path, 640, 480);
    }

    /// <summary>
    /// The phase-change figure of a builtin:icl run from its icl_probe.jsonl: left, train/val loss; right, ICL score and
    /// the best induction score against step.
    /// </summary>
    public static void TrainingCurves(string runDir, string probeLog, string path)
    {
        var steps = new List<double>(); var icl = new List<double>(); var ind = new List<double>(); var val = new List<double>();
        foreach (string line in File.ReadLines(probeLog))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            steps.Add(r.GetProperty("step").GetDouble());
            icl.Add(r.GetProperty("icl_score").GetDouble());
            ind.Add(r.GetProperty("induction_score_max").GetDouble());
            val.Add(r.GetProperty("val_loss").GetDouble());
        }
        if (steps.Count == 0) return;
        // One figure, two axes: the loss on the left, the ICL and induction scores on the right.
        var plot = new ScottPlot.Plot();
        var v = plot.Add.ScatterLine(steps.ToArray(), val.ToArray()); v.LegendText = "val loss, held-out tasks (left)";
        var a = plot.Add.ScatterLine(steps.ToArray(), icl.ToArray()); a.LegendText = "ICL score: late − early loss (right)"; a.Axes.YAxis = plot.Axes.Right;
        var b = plot.Add.ScatterLine(steps.ToArray(), ind.ToArray()); b.LegendText = "best induction score (right)"; b.Axes.YAxis = plot.Axes.Right;
        plot.Title("builtin:icl: loss, in-context learning and induction over training");
        plot.XLabel("step");
        plot.Axes.Left.Label.Text = "nats/token";
        plot.Axes.Right.Label.Text = "score";
        plot.ShowLegend();
        plot.SavePng(path, 1000, 560);
    }
}
