// Bad input through the real command line: one clear line on stderr and a non-zero exit code, nothing lost.
using NextToken.Model;
using NextToken.Tests.Data;
using NextToken.Training;

namespace NextToken.Tests.Cli;

public sealed class BadInputTests
{
    [Fact]
    public void Params_Gpt2_Prints124439808()
    {
        var r = CliProcess.Run("params", "--preset", "gpt2");
        Assert.Equal(0, r.Exit);
        Assert.Equal("124439808", r.Out.Trim());
    }

    [Fact]
    public void Train_MissingDataDirectory_Fails() =>
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", "/nonexistent/data", "--iters", "1"), "/nonexistent/data");

    [Fact]
    public void Prepare_EmptyFile_Fails()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("empty.txt"), "");
        CliProcess.AssertOneLineError(CliProcess.Run("prepare", "--input", dir.File("empty.txt"), "--out", dir.File("out")), "empty");
    }

    [Fact]
    public void Prepare_MissingFile_Fails() =>
        CliProcess.AssertOneLineError(CliProcess.Run("prepare", "--input", "/nonexistent/in.txt", "--out", "/tmp/x"), "/nonexistent/in.txt");

    [Fact]
    public void Params_UnknownPreset_FailsListingPresets() =>
        CliProcess.AssertOneLineError(CliProcess.Run("params", "--preset", "gpt5"), "gpt2-medium");

    [Fact]
    public void Train_HeadsNotDividingWidth_Fails()
    {
        using var dir = new TempDir();
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--layers", "1", "--heads", "5", "--embd", "16", "--iters", "1", "--out", dir.Path), "must divide");
    }

    [Fact]
    public void Resume_TruncatedCheckpoint_FailsAndLeavesFileAlone()
    {
        using var dir = new TempDir();
        Checkpoint.Save(dir.Path, new GptModel(GptPresets.Get("test"), 1));
        string path = Path.Combine(dir.Path, Checkpoint.FileName);
        using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(fs.Length / 2);
        long size = new FileInfo(path).Length;
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--resume", "--out", dir.Path), "truncated");
        Assert.Equal(size, new FileInfo(path).Length);
    }

    [Fact]
    public void Resume_WrongMagic_Fails()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Path.Combine(dir.Path, Checkpoint.FileName), new byte[4096]);
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--resume", "--out", dir.Path), "not a NextToken checkpoint");
    }

    [Fact]
    public void Train_TinyBuiltinRun_WritesCheckpointLogPlotAndJson()
    {
        using var dir = new TempDir();
        var r = CliProcess.Run("train", "--iters", "5", "--batch", "4", "--eval-interval", "0", "--eval-iters", "2", "--eval-samples", "3", "--out", dir.Path, "--json");
        Assert.True(r.Exit == 0, r.Err);
        string last = CliProcess.LastLine(r.Out);
        using var doc = System.Text.Json.JsonDocument.Parse(last);
        foreach (var key in new[] { "final_train_loss", "best_val_loss", "tokens_per_second", "wall_seconds", "iters" })
            Assert.True(doc.RootElement.TryGetProperty(key, out _), $"missing {key} in {last}");
        Assert.Equal(5, doc.RootElement.GetProperty("iters").GetInt32());
        Assert.True(File.Exists(Path.Combine(dir.Path, Checkpoint.FileName)));
        Assert.True(File.Exists(Path.Combine(dir.Path, "log.jsonl")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "loss.png")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "config.json")));
    }
}
