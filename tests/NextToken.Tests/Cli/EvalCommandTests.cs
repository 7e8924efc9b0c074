// `nexttoken eval` through the real command line: a whole split evaluated, its JSON, and bad input.
using System.Text.Json;
using NextToken.Tests.Data;

namespace NextToken.Tests.Cli;

public sealed class EvalCommandTests
{
    [Fact]
    public void Eval_TrainedCheckpoint_CountsEveryValTokenAndReportsBitsPerChar()
    {
        using var dir = new TempDir();
        string text = Path.Combine(dir.Path, "in.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("the cat sat on the mat. a dog ran. ", 200)));
        string data = Path.Combine(dir.Path, "data"), run = Path.Combine(dir.Path, "run");
        Assert.Equal(0, CliProcess.Run("prepare", "--input", text, "--tokenizer", "char", "--out", data).Exit);
        var t = CliProcess.Run("train", "--data", data, "--layers", "1", "--heads", "2", "--embd", "16", "--block", "16", "--batch", "2",
                               "--iters", "3", "--eval-interval", "0", "--eval-iters", "1", "--out", run);
        Assert.True(t.Exit == 0, t.Err);

        var r = CliProcess.Run("eval", "--checkpoint", run, "--seq", "16", "--stride", "8", "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = JsonDocument.Parse(CliProcess.LastLine(r.Out));
        var o = doc.RootElement;
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(data, "meta.json")));
        long valTokens = meta.RootElement.GetProperty("val_tokens").GetInt64();
        Assert.Equal(valTokens - 1, o.GetProperty("tokens").GetInt64());
        double loss = o.GetProperty("loss").GetDouble();
        Assert.InRange(loss, 0.01, 10);
        Assert.Equal(Math.Exp(loss), o.GetProperty("perplexity").GetDouble(), 6);
        Assert.Equal(loss / Math.Log(2), o.GetProperty("bits_per_char").GetDouble(), 6); // char tokens: one character each
        Assert.Equal(8, o.GetProperty("stride").GetInt32());

        // The training split too, capped.
        r = CliProcess.Run("eval", "--checkpoint", run, "--split", "train", "--max-tokens", "100", "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc2 = JsonDocument.Parse(CliProcess.LastLine(r.Out));
        Assert.Equal(100, doc2.RootElement.GetProperty("tokens").GetInt64());

        CliProcess.AssertOneLineError(CliProcess.Run("eval", "--checkpoint", run, "--seq", "16", "--stride", "17"), "--stride");
        CliProcess.AssertOneLineError(CliProcess.Run("eval", "--checkpoint", run, "--seq", "17"), "--seq");
        CliProcess.AssertOneLineError(CliProcess.Run("eval", "--checkpoint", run, "--split", "test"), "--split");
        CliProcess.AssertOneLineError(CliProcess.Run("eval", "--checkpoint", run, "--data", "/nonexistent/data"), "/nonexistent/data");
    }

    [Fact]
    public void Eval_MissingCheckpoint_OneLineError()
    {
        CliProcess.AssertOneLineError(CliProcess.Run("eval", "--checkpoint", "/nonexistent/run"), "/nonexistent/run");
    }
}
