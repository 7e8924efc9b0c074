// `nexttoken train --resume` through the real command line: the checkpoint's data, model and options are used, a flag
// that disagrees is an error, a finished run prints its summary; --data FILE says how to prepare it.
using System.Text.Json;
using NextToken.Tests.Data;

namespace NextToken.Tests.Cli;

public sealed class TrainResumeTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _text, _data;

    public TrainResumeTests()
    {
        _text = _dir.File("corpus.txt");
        var lines = Enumerable.Range(0, 200).Select(i => $"line {i % 17}: the quick brown fox jumps over the lazy dog {i % 5}");
        File.WriteAllText(_text, string.Join("\n", lines));
        _data = _dir.File("data");
        var r = CliProcess.Run("prepare", "--input", _text, "--out", _data);
        Assert.True(r.Exit == 0, r.Err);
    }

    public void Dispose() => _dir.Dispose();

    private string TrainSmall(string name, int iters)
    {
        string run = _dir.File(name);
        var r = CliProcess.Run("train", "--data", _data, "--layers", "1", "--heads", "2", "--embd", "16", "--block", "16", "--batch", "2",
                               "--iters", iters.ToString(), "--eval-iters", "2", "--lr", "0.002", "--out", run, "--json");
        Assert.True(r.Exit == 0, r.Err);
        return run;
    }

    [Fact]
    public void Resume_PreparedData_TakesDataAndOptionsFromTheCheckpoint()
    {
        string run = TrainSmall("run", 3);
        var r = CliProcess.Run("train", "--resume", run, "--iters", "5", "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = CliProcess.LastJson(r.Out);
        Assert.Equal(5, doc.RootElement.GetProperty("iters").GetInt32());
        Assert.False(doc.RootElement.TryGetProperty("grammatical_share", out _), "a resumed run on user data must not score the grammar task");
        Assert.DoesNotContain("grammatical", r.Out + r.Err);
        Assert.Contains($"in {Path.GetFullPath(_data)}", r.Err);      // the data: line names the checkpoint's directory
        Assert.Contains("\"LearningRate\":0.002", r.Err);              // the saved options, not the defaults
    }

    [Fact]
    public void Resume_ConflictingFlags_FailWithOneLineNamingThem()
    {
        string run = TrainSmall("run", 2);
        var r = CliProcess.Run("train", "--resume", run, "--lr", "0.5", "--batch", "3", "--data", "builtin:grammar");
        CliProcess.AssertOneLineError(r, "--lr 0.5 (saved: 0.002)");
        Assert.Contains("--batch 3 (saved: 2)", r.Err);
        Assert.Contains("--data builtin:grammar", r.Err);
        // Flags equal to the saved values are fine.
        r = CliProcess.Run("train", "--resume", run, "--lr", "0.002", "--batch", "2", "--data", _data, "--layers", "1");
        Assert.True(r.Exit == 0, r.Err);
        // --resume DIR with a different --out is ambiguous.
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--resume", run, "--out", _dir.File("elsewhere")), "different directories");
    }

    [Fact]
    public void Resume_FinishedRun_PrintsItsSummary()
    {
        string run = TrainSmall("run", 3);
        var first = CliProcess.Run("train", "--resume", run, "--json");   // the run is finished: nothing to train
        Assert.True(first.Exit == 0, first.Err);
        using var doc = CliProcess.LastJson(first.Out);
        Assert.Equal(3, doc.RootElement.GetProperty("iters").GetInt32());
        Assert.Equal(JsonValueKind.Number, doc.RootElement.GetProperty("final_train_loss").ValueKind);
        Assert.Contains("already finished", first.Err);
        // The old spelling, --resume with --out, still works.
        var again = CliProcess.Run("train", "--resume", "--out", run, "--json");
        Assert.True(again.Exit == 0, again.Err);
        using var doc2 = CliProcess.LastJson(again.Out);
        Assert.Equal(doc.RootElement.GetProperty("final_train_loss").GetDouble(), doc2.RootElement.GetProperty("final_train_loss").GetDouble());
    }

    [Fact]
    public void Resume_BuiltinData_ScoresTheBuiltinTaskAgain()
    {
        string run = _dir.File("builtin");
        var r = CliProcess.Run("train", "--iters", "2", "--batch", "2", "--eval-iters", "1", "--eval-samples", "3", "--out", run, "--json");
        Assert.True(r.Exit == 0, r.Err);
        r = CliProcess.Run("train", "--resume", run, "--iters", "3", "--eval-samples", "3", "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = CliProcess.LastJson(r.Out);
        Assert.True(doc.RootElement.TryGetProperty("grammatical_share", out _), r.Out);
        Assert.Equal(3, doc.RootElement.GetProperty("iters").GetInt32());
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--resume", run, "--data", _data), "--data");
    }

    [Fact]
    public void Train_TextFileAsData_SaysToRunPrepare() =>
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", _text, "--iters", "1", "--out", _dir.File("x")), $"nexttoken prepare --input {_text}");

    [Fact]
    public void Train_BadOptions_NameTheirFlags()
    {
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", _data, "--batch", "0", "--out", _dir.File("b")), "(--batch)");
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", _data, "--heads", "5", "--embd", "16", "--out", _dir.File("h")), "(--heads / --embd)");
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", _data, "--threads", "0", "--out", _dir.File("t")), "--threads");
    }

    [Fact]
    public async Task Train_Interrupted_StillDrawsLossPlot()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return; // SIGINT from a test needs kill(1)
        string run = _dir.File("interrupted");
        string dll = Path.Combine(AppContext.BaseDirectory, "NextToken.Cli.dll");
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in new[] { dll, "train", "--data", _data, "--layers", "1", "--heads", "2", "--embd", "16", "--block", "16", "--batch", "2",
                                  "--iters", "1000000", "--eval-iters", "1", "--out", run })
            psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        // Wait for the first step, then Ctrl-C.
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null && !line.StartsWith("step", StringComparison.Ordinal)) { }
        Assert.NotNull(line);
        using (var kill = System.Diagnostics.Process.Start("kill", ["-INT", p.Id.ToString()])) kill.WaitForExit();
        string rest = await p.StandardOutput.ReadToEndAsync();
        using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60))) await p.WaitForExitAsync(limit.Token);
        Assert.True(p.ExitCode == 130, $"exit {p.ExitCode}: {await err}{rest}");
        Assert.True(File.Exists(Path.Combine(run, "loss.png")), "no loss.png after an interrupted run");
        Assert.True(File.Exists(Path.Combine(run, "checkpoint.bin")));
    }
}
