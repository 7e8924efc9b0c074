// `nexttoken eval --task` and `nexttoken probe` through the real command line: JSON keys, figures, bad input.
using System.Text.Json;
using NextToken.Tests.Data;

namespace NextToken.Tests.Cli;

public sealed class EvalTaskCommandTests
{
    [Fact]
    public void EvalTask_AndProbe_WriteTheirJsonKeysAndFigures_AndRejectBadInput()
    {
        using var dir = new TempDir();
        string text = Path.Combine(dir.Path, "in.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("the cat sat on the mat.\na dog ran.\n", 200)));
        string data = Path.Combine(dir.Path, "data"), run = Path.Combine(dir.Path, "run");
        Assert.Equal(0, CliProcess.Run("prepare", "--input", text, "--tokenizer", "char", "--out", data).Exit);
        var t = CliProcess.Run("train", "--data", data, "--layers", "1", "--heads", "2", "--embd", "16", "--block", "32", "--batch", "2",
                               "--iters", "3", "--eval-interval", "0", "--eval-iters", "1", "--out", run);
        Assert.True(t.Exit == 0, t.Err);

        string task = Path.Combine(dir.Path, "task.jsonl");
        File.WriteAllLines(task, [
            "{\"context\": \"the cat sat on the\", \"choices\": [\"mat.\", \"dog\"], \"gold\": 0, \"split\": \"train\"}",
            "{\"context\": \"a dog\", \"choices\": [\"ran.\", \"sat\", \"cat\"], \"gold\": 0, \"split\": \"train\"}",
            "{\"context\": \"the dog sat on the\", \"choices\": [\"mat.\", \"cat\"], \"gold\": 0}",
            "{\"context\": \"the cat\", \"choices\": [\"ran.\", \"sat\"], \"gold\": 1}",
        ]);
        var r = CliProcess.Run("eval", "--checkpoint", run, "--task", task, "--num-fewshot", "1", "--json");
        Assert.True(r.Exit == 0, r.Err);
        using (var doc = CliProcess.LastJson(r.Out))
        {
            var o = doc.RootElement;
            Assert.InRange(o.GetProperty("acc").GetDouble(), 0, 1);
            Assert.InRange(o.GetProperty("acc_norm").GetDouble(), 0, 1);
            Assert.Equal(1, o.GetProperty("num_fewshot").GetInt32());
            Assert.Equal(2, o.GetProperty("examples").GetInt32());
        }

        // Bad input: one line naming the file, line and field; too many shots; an unknown built-in.
        string bad = Path.Combine(dir.Path, "bad.jsonl");
        File.WriteAllLines(bad, ["{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 0}", "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 7}"]);
        CliProcess.AssertOneLineError(CliProcess.Run("eval", "--checkpoint", run, "--task", bad), bad + ":2: field 'gold' is 7");
        CliProcess.AssertOneLineError(CliProcess.Run("eval", "--checkpoint", run, "--task", task, "--num-fewshot", "3"), "3 shots is larger than the train split");
        CliProcess.AssertOneLineError(CliProcess.Run("eval", "--checkpoint", run, "--task", task, "--num-fewshot", "3"), "--num-fewshot");
        CliProcess.AssertOneLineError(CliProcess.Run("eval", "--checkpoint", run, "--task", "builtin:nope"), "unknown built-in task");

        string probeDir = Path.Combine(dir.Path, "probe");
        var p = CliProcess.Run("probe", "--checkpoint", run, "--task", task, "--out", probeDir, "--windows", "2", "--json");
        Assert.True(p.Exit == 0, p.Err);
        using (var doc = CliProcess.LastJson(p.Out))
        {
            var o = doc.RootElement;
            Assert.True(o.GetProperty("icl_score").ValueKind == JsonValueKind.Number);
            Assert.InRange(o.GetProperty("induction_score_max").GetDouble(), 0, 1);
            var shots = o.GetProperty("accuracy_by_shots");
            Assert.Equal(["0", "1", "2"], shots.EnumerateObject().Select(k => k.Name)); // K = 4, 8 exceed the 2-example pool
        }
        Assert.True(File.Exists(Path.Combine(probeDir, "induction_heads.png")));
        Assert.True(File.Exists(Path.Combine(probeDir, "prefix_matching_heads.png")));
        Assert.True(File.Exists(Path.Combine(probeDir, "accuracy_by_shots.png")));
    }
}
