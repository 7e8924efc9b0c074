// The multimodal commands end to end (child processes): train on builtin:shapes and on a user's image-text JSONL,
// sample with --image, eval on image-text JSONL, and their one-line errors.
using System.Text.Json;
using NextToken.Tests.Cli;
using NextToken.Tests.Data;
using NextToken.Model;
using NextToken.Vision;
using NextToken.Tensors;

namespace NextToken.Tests.Vision;

public sealed class VisionCliTests
{
    [Fact]
    public void TrainShapes_Tiny_ReportsTheContractKeys_ThenSampleAndEvalWork()
    {
        using var dir = new TempDir();
        var r = CliProcess.Run("train", "--data", "builtin:shapes", "--iters", "4", "--layers", "1", "--heads", "2", "--embd", "32", "--batch", "4",
                               "--eval-images", "3", "--out", dir.File("run"), "--threads", "1", "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = JsonDocument.Parse(r.Out.Trim().Split('\n')[^1]);
        var root = doc.RootElement;
        Assert.InRange(root.GetProperty("exact_match").GetDouble(), 0, 1);
        Assert.True(root.GetProperty("exact_match_by_type").TryGetProperty("caption", out _));
        Assert.Equal(JsonValueKind.Number, root.GetProperty("text_only_exact_match").ValueKind);
        Assert.True(File.Exists(dir.File("run/checkpoint.bin")));
        Assert.True(File.Exists(dir.File("run/heldout.png")));
        // The default reads the image after the question, and the checkpoint says so (sample, chat, eval follow it).
        Assert.True(root.GetProperty("image_after_question").GetBoolean());
        Assert.True(GptConfig.FromJson(File.ReadAllText(dir.File("run/config.json"))).ImageAfterPrompt);

        // A user's image-text file: one image written as PNG, two questions; paths relative to the file.
        var rng = new Rng(3);
        var scene = ShapesTask.Sample(ref rng);
        ImageFiles.SavePng(scene.Pixels, 32, dir.File("a.png"), scale: 2);
        File.WriteAllText(dir.File("data.jsonl"),
            """{"image": "a.png", "prompt": "describe the image.", "answer": "a red square.", "type": "caption"}""" + "\n" +
            """{"image": "a.png", "prompt": "how many circles are there?", "answer": "one"}""" + "\n");
        var e = CliProcess.Run("eval", "--checkpoint", dir.File("run"), "--data", dir.File("data.jsonl"), "--json");
        Assert.True(e.Exit == 0, e.Err);
        using (var ej = JsonDocument.Parse(e.Out.Trim().Split('\n')[^1])) Assert.Equal(2, ej.RootElement.GetProperty("examples").GetInt32());
        var s = CliProcess.Run("sample", "--checkpoint", dir.File("run"), "--image", dir.File("a.png"), "--prompt", "describe the image.", "--json");
        Assert.True(s.Exit == 0, s.Err);
        Assert.Contains("\"text\"", s.Out);
        // --strategy sample: the scheduler's sampled decoding after the image prefix; near-zero temperature gives the greedy answer.
        var sampled = CliProcess.Run("sample", "--checkpoint", dir.File("run"), "--image", dir.File("a.png"), "--prompt", "describe the image.",
                                     "--strategy", "sample", "--temperature", "0.0001", "--num-samples", "2", "--json");
        Assert.True(sampled.Exit == 0, sampled.Err);
        using (var greedy = CliProcess.LastJson(s.Out))
        using (var sj = CliProcess.LastJson(sampled.Out))
        {
            string g = greedy.RootElement.GetProperty("text").GetString()!;
            Assert.Equal(2, sj.RootElement.GetProperty("samples").GetArrayLength());
            foreach (var x in sj.RootElement.GetProperty("samples").EnumerateArray()) Assert.Equal(g, x.GetString());
        }
        CliProcess.AssertOneLineError(CliProcess.Run("sample", "--checkpoint", dir.File("run"), "--image", dir.File("a.png"), "--prompt", "x", "--strategy", "beam"),
                                      "--image works with --strategy greedy or sample");

        // chat: /image sets the picture; each line is then a question about it.
        var c = CliProcess.RunWithInput(TimeSpan.FromSeconds(120), [], $"/image {dir.File("a.png")}\nhow many circles are there?\n/image {dir.File("missing.png")}\n",
                                        "chat", "--checkpoint", dir.File("run"), "--max-new-tokens", "6");
        Assert.True(c.Exit == 0, c.Err);
        Assert.Single(c.Out.TrimEnd('\n').Split('\n'));
        Assert.Contains("missing.png", c.Err);
        var t = CliProcess.Run("train", "--data", dir.File("data.jsonl"), "--iters", "2", "--layers", "1", "--heads", "2", "--embd", "32", "--batch", "2",
                               "--out", dir.File("user"), "--threads", "1", "--json");
        Assert.True(t.Exit == 0, t.Err);
        Assert.True(File.Exists(dir.File("user/checkpoint.bin")));

        // The default run above is in word tokens with six questions per row (its BPE tokenizer saved and read back by
        // eval and sample); characters with three questions per row also train, and eval reads the char tokenizer back.
        Assert.Contains("rows (the image after each question) in word tokens", r.Out + r.Err);
        Assert.Contains("2x2 patches merged into one image token, the questions of many scenes packed into each row", r.Out + r.Err);
        var w = CliProcess.Run("train", "--data", "builtin:shapes", "--iters", "3", "--layers", "1", "--heads", "2", "--embd", "32", "--batch", "4",
                               "--image-word-tokens", "false", "--image-questions", "3", "--eval-images", "2", "--out", dir.File("words"), "--threads", "1", "--json");
        Assert.True(w.Exit == 0, w.Err);
        Assert.InRange(CliProcess.LastJson(w.Out).RootElement.GetProperty("exact_match").GetDouble(), 0, 1);
        var we = CliProcess.Run("eval", "--checkpoint", dir.File("words"), "--data", dir.File("data.jsonl"), "--json");
        Assert.True(we.Exit == 0, we.Err);
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", "builtin:shapes", "--image-questions", "0", "--out", dir.File("bad")), "--image-questions");

        // The probe flags: 2-D patch positions (saved in config.json), the auxiliary where question, only some types scored.
        var p = CliProcess.Run("train", "--data", "builtin:shapes", "--iters", "3", "--layers", "1", "--heads", "2", "--embd", "32", "--batch", "4",
                               "--image-positions-2d", "true", "--image-where", "true", "--image-types", "left,where", "--eval-images", "6",
                               "--out", dir.File("probe"), "--threads", "1", "--json");
        Assert.True(p.Exit == 0, p.Err);
        var pj = CliProcess.LastJson(p.Out).RootElement;
        Assert.Equal(["left", "where"], pj.GetProperty("exact_match_by_type").EnumerateObject().Select(e => e.Name).OrderBy(n => n, StringComparer.Ordinal));
        Assert.True(pj.GetProperty("positions_2d").GetBoolean());
        Assert.Contains("\"image_positions_2d\": true", File.ReadAllText(dir.File("probe/config.json")));
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", "builtin:shapes", "--image-types", "left,colours", "--out", dir.File("bad")), "colours");

        // The relation flags: where-pair questions, the question's own loss, readout positions (in config.json).
        var rel = CliProcess.Run("train", "--data", "builtin:shapes", "--iters", "3", "--layers", "1", "--heads", "2", "--embd", "32", "--batch", "4",
                                 "--image-where-pairs", "true", "--image-question-weight", "0.2", "--image-readouts", "2", "--image-types", "left,where2",
                                 "--eval-images", "6", "--out", dir.File("rel"), "--threads", "1", "--json");
        Assert.True(rel.Exit == 0, rel.Err);
        var rj = CliProcess.LastJson(rel.Out).RootElement;
        Assert.Equal(["left", "where2"], rj.GetProperty("exact_match_by_type").EnumerateObject().Select(e => e.Name).OrderBy(n => n, StringComparer.Ordinal));
        Assert.True(rj.GetProperty("where_pairs").GetBoolean());
        Assert.Equal(0.2, rj.GetProperty("question_weight").GetDouble(), 5);
        Assert.Equal(2, rj.GetProperty("readouts").GetInt32());
        Assert.Equal(2, GptConfig.FromJson(File.ReadAllText(dir.File("rel/config.json"))).ImageReadouts);
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", "builtin:shapes", "--image-where-second", "true", "--image-where-pairs", "false", "--out", dir.File("bad")),
                                      "--image-where-pairs");
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", "builtin:shapes", "--image-question-weight", "-1", "--out", dir.File("bad")), "--image-question-weight");
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", "builtin:shapes", "--image-readouts", "-1", "--out", dir.File("bad")), "--image-readouts");

        // Packing, merging, relation questions and grounding (the defaults since the ninth run), set explicitly.
        var gr = CliProcess.Run("train", "--data", "builtin:shapes", "--iters", "3", "--layers", "1", "--heads", "2", "--embd", "32", "--batch", "4",
                               "--image-pack-scenes", "true", "--image-row-length", "60", "--image-merge", "2", "--image-relation-questions", "3",
                               "--image-grounding-weight", "0.3", "--eval-images", "4", "--out", dir.File("ground"), "--threads", "1", "--json");
        Assert.True(gr.Exit == 0, gr.Err);
        var gj = CliProcess.LastJson(gr.Out).RootElement;
        Assert.True(gj.GetProperty("pack_scenes").GetBoolean());
        Assert.Equal(60, gj.GetProperty("row_length").GetInt32());
        Assert.Equal(2, gj.GetProperty("merge").GetInt32());
        Assert.Equal(3, gj.GetProperty("relation_questions").GetInt32());
        Assert.Equal(0.3, gj.GetProperty("grounding_weight").GetDouble(), 5);
        var gcfg = GptConfig.FromJson(File.ReadAllText(dir.File("ground/config.json")));
        Assert.Equal((2, 6), (gcfg.ImageMerge, gcfg.ImagePrefixLength));
        foreach (var (flag, value) in new[] { ("--image-merge", "3"), ("--image-grounding-weight", "-1"), ("--image-relation-questions", "0"), ("--image-row-length", "-1") })
            CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", "builtin:shapes", flag, value, "--out", dir.File("bad")), flag);
    }

    [Fact]
    public void BadInput_OneLineErrors()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("data.jsonl"), """{"image": "nowhere.png", "prompt": "p", "answer": "a"}""" + "\n");
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", dir.File("data.jsonl"), "--iters", "1", "--out", dir.File("o")), "data.jsonl:1: image 'nowhere.png' does not exist");
        File.WriteAllText(dir.File("bad.png"), "not an image");
        File.WriteAllText(dir.File("data2.jsonl"), """{"image": "bad.png", "prompt": "p"}""" + "\n");
        CliProcess.AssertOneLineError(CliProcess.Run("train", "--data", dir.File("data2.jsonl"), "--iters", "1", "--out", dir.File("o")), "data2.jsonl:1: missing string field \"answer\"");
        // A text-only checkpoint given an image.
        var tr = CliProcess.Run("train", "--data", "builtin:addition", "--iters", "1", "--layers", "1", "--embd", "16", "--heads", "2", "--out", dir.File("text"), "--eval-iters", "1");
        Assert.True(tr.Exit == 0, tr.Err);
        var png = dir.File("ok.png");
        ImageFiles.SavePng(new float[32 * 32 * 3], 32, png);
        CliProcess.AssertOneLineError(CliProcess.Run("sample", "--checkpoint", dir.File("text"), "--image", png, "--prompt", "x"), "text-only model");
        File.WriteAllText(dir.File("data3.jsonl"), """{"image": "bad.png", "prompt": "p", "answer": "a"}""" + "\n");
        CliProcess.AssertOneLineError(CliProcess.Run("eval", "--checkpoint", dir.File("text"), "--data", dir.File("data3.jsonl")), "text-only");
    }
}
