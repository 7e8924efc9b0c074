// Sweeps: planning (grid, IsoFLOP), a tiny sweep through the CLI (seconds), resuming run by run, and bad input.
using System.Text.Json;
using NextToken.Scaling;
using NextToken.Tests.Cli;
using NextToken.Tests.Data;

namespace NextToken.Tests.Scaling;

public sealed class ScalingSweepTests
{
    [Fact]
    public void PlanIsoFlop_TokensAreTheBudgetOverSixN()
    {
        var o = new SweepOptions { BatchSize = 4, SequenceLength = 16, MinSteps = 2 };
        var models = new[] { SweepModel.Parse("1x16"), SweepModel.Parse("2x32x4") };
        var runs = ScalingSweep.PlanIsoFlop(models, [1e9, 1e10], 50, o, out int leftOut);
        Assert.Equal(0, leftOut);
        Assert.Equal(4, runs.Count);
        foreach (var r in runs)
        {
            Assert.Equal(0, r.Tokens % 64);
            Assert.InRange(6.0 * r.Parameters * r.Tokens / r.Budget!.Value, 0.9, 1.1); // rounded to whole steps of 64 tokens
        }
        Assert.Equal(4, runs[1].Config.Heads);
        Assert.Equal(1, runs[0].Config.Heads);
        var few = ScalingSweep.PlanIsoFlop(models, [1e6], 50, o, out leftOut);
        Assert.Empty(few);
        Assert.Equal(2, leftOut);
    }

    [Fact]
    public void PlanGrid_RoundsTokensUpToWholeSteps()
    {
        var runs = ScalingSweep.PlanGrid([SweepModel.Parse("1x16")], [100, 1000], 20, new SweepOptions { BatchSize = 2, SequenceLength = 16 });
        Assert.Equal([128L, 1024L], runs.Select(r => r.Tokens));
        Assert.Equal([4, 32], runs.Select(r => r.Iterations));
        Assert.Throws<ArgumentException>(() => SweepModel.Parse("2x"));
        Assert.Throws<ArgumentException>(() => SweepModel.Parse("2x30x4"));
    }

    [Fact]
    public void SweepCommand_TinyGrid_WritesOneLinePerRunAndResumes()
    {
        using var tmp = new TempDir();
        string[] args = ["scaling", "sweep", "--data", "builtin:addition", "--sizes", "1x16,1x32", "--tokens", "3000,6000", "--out", tmp.Path,
                         "--batch", "4", "--seq", "16", "--eval-iters", "2", "--threads", "1", "--json"];
        var r = CliProcess.Run(args);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal(4, CliProcess.LastJson(r.Out).RootElement.GetProperty("trained").GetInt32());
        var lines = File.ReadAllLines(Path.Combine(tmp.Path, "results.jsonl"));
        Assert.Equal(4, lines.Length);
        foreach (var line in lines)
        {
            var j = JsonDocument.Parse(line).RootElement;
            foreach (var key in new[] { "params", "non_embedding_params", "tokens", "flops", "loss" })
                Assert.True(j.GetProperty(key).GetDouble() > 0, key);
            Assert.Equal(JsonValueKind.Object, j.GetProperty("config").ValueKind);
            Assert.Equal(6.0 * j.GetProperty("params").GetDouble() * j.GetProperty("tokens").GetDouble(), j.GetProperty("flops").GetDouble());
        }
        Assert.True(File.Exists(Path.Combine(tmp.Path, "loss_vs_compute.png")));

        // A lost run (the process died during it) is trained again; finished ones are skipped.
        File.WriteAllLines(Path.Combine(tmp.Path, "results.jsonl"), lines.Take(3));
        var again = CliProcess.Run(args);
        Assert.True(again.Exit == 0, again.Err);
        var summary = CliProcess.LastJson(again.Out).RootElement;
        Assert.Equal(1, summary.GetProperty("trained").GetInt32());
        Assert.Equal(3, summary.GetProperty("already_done").GetInt32());
        var rerun = File.ReadAllLines(Path.Combine(tmp.Path, "results.jsonl"));
        Assert.Equal(4, rerun.Length);
        Assert.Equal(lines[3], rerun[3].Replace(JsonDocument.Parse(rerun[3]).RootElement.GetProperty("wall_seconds").GetRawText(),
                                                JsonDocument.Parse(lines[3]).RootElement.GetProperty("wall_seconds").GetRawText())); // deterministic

        // Other options into the same directory are refused.
        CliProcess.AssertOneLineError(CliProcess.Run([.. args[..^1], "--lr", "0.01"]), "other data or options");
    }

    [Fact]
    public void SweepCommand_BadInput_OneLineErrors()
    {
        using var tmp = new TempDir();
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "sweep", "--sizes", "1x16", "--out", tmp.Path, "--data", "builtin:addition"), "either --tokens");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "sweep", "--sizes", "1x16", "--tokens", "1e4", "--flops", "1e9", "--out", tmp.Path), "either --tokens");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "sweep", "--sizes", "1x16", "--tokens", "-5", "--out", tmp.Path, "--data", "builtin:addition"), "--tokens takes positive");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "sweep", "--sizes", "1y16", "--tokens", "1e4", "--out", tmp.Path), "LAYERSxWIDTH");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "sweep", "--sizes", "1x16", "--flops", "10", "--out", tmp.Path, "--data", "builtin:addition"), "no run is left");
    }
}
