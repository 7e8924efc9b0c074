// scaling fit / plan through the real CLI: JSON contract keys and the bad-input contract (one line on stderr, exit ≠ 0).
using System.Text.Json;
using NextToken.Scaling;
using NextToken.Tests.Cli;
using NextToken.Tests.Data;

namespace NextToken.Tests.Scaling;

public sealed class ScalingCliTests
{
    private static string WriteResults(string dir, IEnumerable<ScalingRun> runs, params string[] extraLines)
    {
        string path = Path.Combine(dir, ResultsFile.FileName);
        var lines = runs.Select(r => JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["params"] = r.Parameters, ["non_embedding_params"] = r.NonEmbeddingParameters, ["tokens"] = r.Tokens, ["flops"] = r.Flops, ["loss"] = r.Loss, ["budget"] = r.Budget,
        })).Concat(extraLines);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Fit_Chinchilla_JsonHasTheContractKeysAndCountsSkippedRows()
    {
        using var tmp = new TempDir();
        string path = WriteResults(tmp.Path, ScalingFitTests.SyntheticChinchilla(ParametricLaw.Chinchilla, 1),
                                   "{\"params\": 1e9, \"tokens\": 0, \"loss\": 2}", "{\"params\": 1e9, \"tokens\": 1e9, \"loss\": \"NaN\"}", "not json");
        var r = CliProcess.Run("scaling", "fit", "--results", path, "--law", "chinchilla", "--bootstrap", "10", "--json", "--plot", Path.Combine(tmp.Path, "fit.svg"));
        Assert.True(r.Exit == 0, r.Err);
        var j = CliProcess.LastJson(r.Out).RootElement;
        foreach (var key in new[] { "E", "A", "B", "alpha", "beta", "a", "b" }) Assert.Equal(JsonValueKind.Number, j.GetProperty(key).ValueKind);
        Assert.InRange(j.GetProperty("alpha").GetDouble(), 0.31, 0.37);
        Assert.Equal(3, j.GetProperty("skipped").GetInt32());
        Assert.Equal(400, j.GetProperty("runs").GetInt32());
        Assert.Contains("skipped 3 rows", r.Err);
        Assert.True(File.Exists(Path.Combine(tmp.Path, "fit.svg")));
        Assert.True(File.Exists(Path.Combine(tmp.Path, "fit.residuals.svg")));
    }

    [Fact]
    public void Fit_KaplanAndIsoFlop_RunThroughTheCli()
    {
        using var tmp = new TempDir();
        var law = ParametricLaw.Chinchilla;
        var runs = new List<ScalingRun>();
        foreach (double c in new[] { 1e18, 1e19, 1e20 })
            for (int k = -2; k <= 2; k++)
            {
                double n = law.Optimal(c).Parameters * Math.Pow(2, k), d = c / (6 * n);
                runs.Add(new ScalingRun(n, n, d, c, law.Loss(n, d), c));
            }
        string path = WriteResults(tmp.Path, runs);
        var iso = CliProcess.Run("scaling", "fit", "--results", tmp.Path, "--law", "isoflop", "--json", "--plot", Path.Combine(tmp.Path, "iso.png"));
        Assert.True(iso.Exit == 0, iso.Err);
        Assert.InRange(CliProcess.LastJson(iso.Out).RootElement.GetProperty("a").GetDouble(), 0.40, 0.50);
        Assert.True(File.Exists(Path.Combine(tmp.Path, "iso.png")));
        var kn = CliProcess.Run("scaling", "fit", "--results", path, "--law", "kaplan-n", "--json");
        Assert.True(kn.Exit == 0, kn.Err);
        Assert.True(CliProcess.LastJson(kn.Out).RootElement.GetProperty("alpha_n").GetDouble() > 0);
    }

    [Fact]
    public void Fit_BadInput_OneLineErrors()
    {
        using var tmp = new TempDir();
        string few = WriteResults(tmp.Path, ScalingFitTests.SyntheticChinchilla(ParametricLaw.Chinchilla, 1).Take(3), "{\"params\": -5, \"tokens\": 1e9, \"loss\": 2}");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "fit", "--results", few, "--law", "chinchilla"), "5 parameters but only 3 usable runs were read (1 skipped");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "fit", "--results", few, "--law", "hoffmann"), "unknown law 'hoffmann'");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "fit", "--results", Path.Combine(tmp.Path, "missing.jsonl"), "--law", "kaplan-n"), "does not exist");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "fit", "--results", few, "--law", "isoflop"), "isoflop law has 6 parameters");
    }

    [Fact]
    public void Plan_PublishedLaws_JsonMatchesTheLibrary()
    {
        foreach (var law in new[] { "chinchilla", "epoch" })
        {
            var r = CliProcess.Run("scaling", "plan", "--flops", "1e21", "--law", law, "--json");
            Assert.True(r.Exit == 0, r.Err);
            var j = CliProcess.LastJson(r.Out).RootElement;
            var o = ParametricLaw.Get(law).Optimal(1e21);
            Assert.Equal(o.Parameters, j.GetProperty("params").GetDouble(), o.Parameters * 1e-12);
            Assert.Equal(o.Tokens, j.GetProperty("tokens").GetDouble(), o.Tokens * 1e-12);
            Assert.Equal(o.Loss, j.GetProperty("loss").GetDouble(), 12);
        }
    }

    [Fact]
    public void Plan_FromAFitFile_UsesItsConstants()
    {
        using var tmp = new TempDir();
        string file = Path.Combine(tmp.Path, "fit.json");
        File.WriteAllText(file, "{\"law\":\"chinchilla\",\"E\":1.8,\"A\":300,\"B\":900,\"alpha\":0.3,\"beta\":0.35}\n");
        var r = CliProcess.Run("scaling", "plan", "--flops", "1e20", "--law", file, "--json");
        Assert.True(r.Exit == 0, r.Err);
        var o = new ParametricLaw(1.8, 300, 900, 0.3, 0.35).Optimal(1e20);
        Assert.Equal(o.Loss, CliProcess.LastJson(r.Out).RootElement.GetProperty("loss").GetDouble(), 12);
    }

    [Fact]
    public void Plan_Table_HasTable3sNineSizes()
    {
        var r = CliProcess.Run("scaling", "plan", "--table", "chinchilla", "--json");
        Assert.True(r.Exit == 0, r.Err);
        var rows = CliProcess.LastJson(r.Out).RootElement.GetProperty("rows");
        Assert.Equal(9, rows.GetArrayLength());
        var first = rows[0];
        Assert.Equal(400e6, first.GetProperty("params").GetDouble());
        Assert.Equal(ParametricLaw.Epoch.OptimalForParameters(400e6).Tokens, first.GetProperty("epoch_tokens").GetDouble(), 1e3);
    }

    [Fact]
    public void Plan_BadInput_OneLineErrors()
    {
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "plan", "--flops", "-1e21"), "--flops must be positive");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "plan", "--flops", "NaN"), "--flops must be positive");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "plan", "--flops", "Infinity"), "--flops must be positive");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "plan", "--flops", "1e21", "--law", "gopher"), "unknown law 'gopher'");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "plan"), "--flops");
    }
}
