// ScalingPlots: the scaling figures (loss against compute with its frontier, IsoFLOP curves with their parabolas, a fitted
// law against the measured runs and its residuals, emergence), drawn with ScottPlot in the CLI so the library ships no
// plotting package. Axes are log10 of N, D or C (ScottPlot has no log axis); PNG or SVG by the file's extension.
using NextToken.Scaling;

namespace NextToken.Cli;

/// <summary>Scaling-law figures.</summary>
internal static class ScalingPlots
{
    /// <summary>Measured loss against log10 compute, each run a point, and the frontier (the lowest loss reached at or below each compute).</summary>
    public static void DrawCompute(IReadOnlyList<ScalingRun> runs, string path)
    {
        var plot = new ScottPlot.Plot();
        foreach (var size in runs.GroupBy(r => r.Parameters).OrderBy(g => g.Key))
        {
            var pts = size.OrderBy(r => r.Flops).ToArray();
            var s = plot.Add.ScatterLine(pts.Select(r => Math.Log10(r.Flops)).ToArray(), pts.Select(r => r.Loss).ToArray());
            s.LegendText = $"N = {size.Key:G3}";
        }
        var sorted = runs.OrderBy(r => r.Flops).ToArray();
        var fx = new List<double>(); var fy = new List<double>();
        double best = double.PositiveInfinity;
        foreach (var r in sorted)
            if (r.Loss < best) { best = r.Loss; fx.Add(Math.Log10(r.Flops)); fy.Add(best); }
        if (fx.Count > 0)
        {
            var f = plot.Add.ScatterLine(fx.ToArray(), fy.ToArray());
            f.LegendText = "frontier";
            f.LineWidth = 3;
            f.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        Save(plot, "Loss against compute", "log10 training FLOPs (6ND)", "validation loss (nats/token)", path);
    }

    /// <summary>The fitted law against the measured runs (loss against log10 N; predictions as open markers) and, in a second file
    /// <c>NAME.residuals.EXT</c>, the log-loss residuals; for IsoFLOP, each budget's curve with its parabola.</summary>
    public static void DrawFit(FitReport fit, IReadOnlyList<ScalingRun> runs, string path)
    {
        var plot = new ScottPlot.Plot();
        if (fit.Law == "isoflop")
        {
            foreach (var g in runs.GroupBy(r => r.Budget ?? r.Flops).OrderBy(g => g.Key))
            {
                var pts = g.OrderBy(r => r.Parameters).ToArray();
                var x = pts.Select(r => Math.Log(r.Parameters)).ToArray();
                var s = plot.Add.Scatter(x.Select(v => v / Math.Log(10)).ToArray(), pts.Select(r => r.Loss).ToArray());
                s.LegendText = $"C = {g.Key:G3}";
                s.LineWidth = 0;
                if (pts.Select(p => p.Parameters).Distinct().Count() < 3) continue;
                double mean = x.Average();
                var (c0, c1, c2) = ScalingFits.Parabola(x.Select(v => v - mean).ToArray(), pts.Select(r => r.Loss).ToArray());
                var xs = Enumerable.Range(0, 50).Select(i => x[0] + (x[^1] - x[0]) * i / 49.0).ToArray();
                var line = plot.Add.ScatterLine(xs.Select(v => v / Math.Log(10)).ToArray(), xs.Select(v => c0 + c1 * (v - mean) + c2 * (v - mean) * (v - mean)).ToArray());
                line.Color = s.Color;
            }
            var m = plot.Add.Scatter(fit.Minima!.Select(p => Math.Log10(p.Parameters)).ToArray(), fit.Minima!.Select(p => p.Loss).ToArray());
            m.LegendText = "minima";
            m.LineWidth = 0;
            m.MarkerSize = 12;
            m.MarkerShape = ScottPlot.MarkerShape.FilledDiamond;
            Save(plot, $"IsoFLOP profiles: N_opt ∝ C^{fit.ParametersExponent:F3}", "log10 parameters", "validation loss (nats/token)", path);
            return;
        }
        var measured = plot.Add.Scatter(runs.Select(r => Math.Log10(r.Parameters)).ToArray(), runs.Select(r => r.Loss).ToArray());
        measured.LegendText = "measured";
        measured.LineWidth = 0;
        var predicted = plot.Add.Scatter(runs.Select(r => Math.Log10(r.Parameters)).ToArray(), runs.Select(r => fit.Predict(r.Parameters, r.NonEmbeddingParameters, r.Tokens)!.Value).ToArray());
        predicted.LegendText = $"{fit.Law} fit";
        predicted.LineWidth = 0;
        predicted.MarkerShape = ScottPlot.MarkerShape.OpenCircle;
        predicted.MarkerSize = 10;
        Save(plot, $"{fit.Law} fit against {runs.Count} runs", "log10 parameters", "validation loss (nats/token)", path);

        var res = new ScottPlot.Plot();
        var r = res.Add.Scatter(runs.Select(x => Math.Log10(x.Parameters)).ToArray(),
                                runs.Select(x => Math.Log(x.Loss) - Math.Log(fit.Predict(x.Parameters, x.NonEmbeddingParameters, x.Tokens)!.Value)).ToArray());
        r.LineWidth = 0;
        res.Add.HorizontalLine(0);
        Save(res, $"{fit.Law} residuals (rms {fit.RmsLogResidual:G3})", "log10 parameters", "log measured − log fitted", ResidualsPath(path));
    }

    /// <summary>Where <see cref="DrawFit"/> puts the residuals of a figure at <paramref name="path"/>.</summary>
    public static string ResidualsPath(string path) =>
        Path.Combine(Path.GetDirectoryName(path) ?? "", Path.GetFileNameWithoutExtension(path) + ".residuals" + Path.GetExtension(path));

    /// <summary>
    /// Emergence: a discontinuous metric (exact match) and a continuous one (mean answer-token log-likelihood) against log10
    /// compute, one line per model size, as one figure with the two panels side by side (Schaeffer et al. 2023's point:
    /// the same models, two metrics), written to <paramref name="path"/>; PNG or SVG by its extension.
    /// </summary>
    public static void DrawEmergence(IReadOnlyList<EmergencePoint> points, string path)
    {
        var exact = new ScottPlot.Plot();
        var ll = new ScottPlot.Plot();
        foreach (var size in points.GroupBy(p => p.Parameters).OrderBy(g => g.Key))
        {
            var pts = size.OrderBy(p => p.Flops).ToArray();
            var x = pts.Select(p => Math.Log10(p.Flops)).ToArray();
            // Lines with markers: a size trained for one budget only is a single point.
            exact.Add.Scatter(x, pts.Select(p => p.ExactMatch).ToArray()).LegendText = $"N = {size.Key:N0}";
            ll.Add.Scatter(x, pts.Select(p => p.TokenLogLikelihood).ToArray()).LegendText = $"N = {size.Key:N0}";
        }
        Label(exact, "Exact match (discontinuous)", "log10 training FLOPs", "exact match");
        Label(ll, "Per-token log-likelihood (continuous)", "log10 training FLOPs", "mean log p(answer token)");
        ScottPlot.IMultiplot figure = new ScottPlot.Multiplot();
        ScottPlot.IMultiplotExtensions.Reset(figure, exact);
        ScottPlot.IMultiplotExtensions.AddPlot(figure, ll);
        figure.Layout = new ScottPlot.MultiplotLayouts.Columns();
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        const int width = 1400, height = 520;
        if (path.EndsWith(".svg", StringComparison.OrdinalIgnoreCase))
        {
            // Multiplot saves PNG only; SVG through Skia's SVG canvas, rendering the same layout.
            using var stream = File.Create(path);
            using var canvas = SkiaSharp.SKSvgCanvas.Create(new SkiaSharp.SKRect(0, 0, width, height), stream);
            figure.Render(canvas, new ScottPlot.PixelRect(0, width, height, 0));
        }
        else ScottPlot.IMultiplotExtensions.SavePng(figure, path, width, height);
    }

    /// <summary>NAME.SUFFIX.EXT beside <paramref name="path"/>.</summary>
    public static string Suffixed(string path, string suffix) =>
        Path.Combine(Path.GetDirectoryName(path) ?? "", Path.GetFileNameWithoutExtension(path) + "." + suffix + Path.GetExtension(path));

    private static void Label(ScottPlot.Plot plot, string title, string x, string y)
    {
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel(y);
        if (plot.GetPlottables().Any(p => p is ScottPlot.Plottables.Scatter { LegendText.Length: > 0 })) plot.ShowLegend();
    }

    private static void Save(ScottPlot.Plot plot, string title, string x, string y, string path)
    {
        Label(plot, title, x, y);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        if (path.EndsWith(".svg", StringComparison.OrdinalIgnoreCase)) plot.SaveSvg(path, 800, 500);
        else plot.SavePng(path, 800, 500);
    }
}
