// The fine-tuning commands through the real command line: finetune-task's JSON keys, one-line errors for bad task
// records and a foreign adapter, and `lora merge` giving the adapter's logits.
using NextToken.FineTuning;
using NextToken.Model;
using NextToken.Tests.Data;
using NextToken.Tests.Model;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Tests.Cli;

public sealed class FineTuningCliTests
{
    private static readonly CharTokenizer Chars = CharTokenizer.FromText("abcdefghijklmnopqrstuvwxyz .");
    private static readonly GptConfig Tiny = new() { VocabSize = Chars.VocabSize, ContextLength = 24, Layers = 1, Heads = 2, EmbeddingSize = 16 };

    private static string Base(TempDir dir, ulong seed = 3)
    {
        string path = dir.File($"base{seed}");
        Checkpoint.Save(path, new GptModel(Tiny, seed), tokenizer: Chars);
        return path;
    }

    private static string Lines(TempDir dir, string name, params string[] lines)
    {
        File.WriteAllLines(dir.File(name), lines);
        return dir.File(name);
    }

    [Fact]
    public void FinetuneTask_WithLora_PrintsTheContractKeys_AndEvalReadsTheAdapter()
    {
        using var dir = new TempDir();
        string b = Base(dir);
        string train = Lines(dir, "train.jsonl", "{\"text\":\"ab\",\"label\":0}", "{\"text\":\"zz\",\"label\":1}", "{\"text\":\"ba\",\"label\":0}", "{\"text\":\"za\",\"label\":1}");
        var r = CliProcess.Run("finetune-task", "--task", "classification", "--checkpoint", b, "--data", train, "--eval-data", train, "--out", dir.File("out"),
                               "--iters", "3", "--batch", "2", "--lora-rank", "2", "--json");
        Assert.True(r.Exit == 0, r.Err);
        var j = CliProcess.LastJson(r.Out).RootElement;
        foreach (var key in new[] { "accuracy", "f1", "trainable_parameters", "total_parameters", "peak_rss_mb", "wall_seconds" }) Assert.True(j.TryGetProperty(key, out _), key);
        Assert.True(j.GetProperty("trainable_parameters").GetInt64() < j.GetProperty("total_parameters").GetInt64());
        Assert.True(File.Exists(dir.File("out/adapter_model.safetensors")) && File.Exists(dir.File("out/adapter_config.json")) && File.Exists(dir.File("out/task_head.json")));
        var e = CliProcess.Run("eval", "--checkpoint", b, "--adapter", dir.File("out"), "--data", train, "--json");
        Assert.True(e.Exit == 0, e.Err);
        Assert.Equal(j.GetProperty("accuracy").GetDouble(), CliProcess.LastJson(e.Out).RootElement.GetProperty("accuracy").GetDouble());
    }

    [Fact]
    public void Finetune_WithTask_RunsTheTaskHead()
    {
        using var dir = new TempDir();
        string train = Lines(dir, "train.jsonl", "{\"premise\":\"ab\",\"hypothesis\":\"a\",\"label\":\"yes\"}", "{\"premise\":\"zz\",\"hypothesis\":\"a\",\"label\":\"no\"}");
        var r = CliProcess.Run("finetune", "--task", "entailment", "--checkpoint", Base(dir), "--data", train, "--eval-data", train, "--out", dir.File("out"), "--iters", "2", "--batch", "2", "--json");
        Assert.True(r.Exit == 0, r.Err);
        var j = CliProcess.LastJson(r.Out).RootElement;
        Assert.Equal("entailment", j.GetProperty("task").GetString());
        Assert.Equal(2, j.GetProperty("examples").GetInt32());
        Assert.Equal(j.GetProperty("trainable_parameters").GetInt64(), j.GetProperty("total_parameters").GetInt64());
        Assert.Contains("\"no\"", File.ReadAllText(dir.File("out/task_head.json")));
    }

    [Fact]
    public void Finetune_WithLora_WritesTheAdapter_AndChatLoadsIt()
    {
        using var dir = new TempDir();
        var chars = CharTokenizer.FromText("abcdefghijklmnopqrstuvwxyz .:\n");
        string b = dir.File("chatbase");
        Checkpoint.Save(b, new GptModel(Tiny with { VocabSize = chars.VocabSize, ContextLength = 48 }, 3), tokenizer: chars);
        string data = Lines(dir, "sft.jsonl", "{\"prompt\":\"ab\",\"completion\":\"ba\"}", "{\"prompt\":\"cd\",\"completion\":\"dc\"}",
                            "{\"prompt\":\"ef\",\"completion\":\"fe\"}", "{\"prompt\":\"gh\",\"completion\":\"hg\"}");
        var r = CliProcess.Run("finetune", "--checkpoint", b, "--data", data, "--val-data", data, "--out", dir.File("out"), "--iters", "2", "--batch", "2",
                               "--lora-rank", "2", "--lora-targets", "qkv,fc", "--json");
        Assert.True(r.Exit == 0, r.Err);
        var j = CliProcess.LastJson(r.Out).RootElement;
        Assert.True(j.GetProperty("trainable_parameters").GetInt64() < j.GetProperty("total_parameters").GetInt64() / 5);
        var cfg = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(dir.File("out/adapter_config.json")))!;
        Assert.Equal("[\"c_attn\",\"c_fc\"]", cfg["target_modules"]!.ToJsonString());
        var c = CliProcess.Run("chat", "--checkpoint", dir.File("out"), "--adapter", dir.File("out"), "--max-new-tokens", "3");
        Assert.True(c.Exit == 0, c.Err);
    }

    [Fact]
    public void FinetuneTask_LabelOutsideTheClasses_IsAOneLineError()
    {
        using var dir = new TempDir();
        string train = Lines(dir, "train.jsonl", "{\"text\":\"ab\",\"label\":0}", "{\"text\":\"zz\",\"label\":1}");
        string eval = Lines(dir, "eval.jsonl", "{\"text\":\"ab\",\"label\":0}", "", "{\"text\":\"zz\",\"label\":5}");
        CliProcess.AssertOneLineError(CliProcess.Run("finetune-task", "--task", "classification", "--checkpoint", Base(dir), "--data", train, "--eval-data", eval,
                                                     "--out", dir.File("out"), "--iters", "1"), "eval.jsonl:3: field 'label' is '5', outside the classes (0, 1)");
    }

    [Fact]
    public void FinetuneTask_ChoiceListOfTheWrongLength_IsAOneLineError()
    {
        using var dir = new TempDir();
        string train = Lines(dir, "mc.jsonl", "{\"context\":\"a\",\"choices\":[\"b\",\"c\"],\"label\":0}", "{\"context\":\"a\",\"choices\":[\"b\",\"c\",\"d\"],\"label\":1}");
        CliProcess.AssertOneLineError(CliProcess.Run("finetune-task", "--task", "multiple-choice", "--checkpoint", Base(dir), "--data", train,
                                                     "--out", dir.File("out"), "--iters", "1"), "mc.jsonl:2: field 'choices' has 3 choices, expected 2");
    }

    [Fact]
    public void AdapterForAnotherBase_IsAOneLineError_OnSampleAndEval()
    {
        using var dir = new TempDir();
        string b3 = Base(dir, 3), b4 = Base(dir, 4);
        var (m, _) = Checkpoint.Load(b3);
        LoraSet.Attach(m, new LoraOptions { Rank = 2 }).Save(dir.File("adapter"));
        CliProcess.AssertOneLineError(CliProcess.Run("sample", "--checkpoint", b4, "--adapter", dir.File("adapter"), "--prompt", "ab", "--max-new-tokens", "2"),
                                      "adapter was made for another base");
        CliProcess.AssertOneLineError(CliProcess.Run("lora", "merge", "--checkpoint", b4, "--adapter", dir.File("adapter"), "--out", dir.File("m")),
                                      "adapter_config.json: adapter was made for another base");
    }

    [Fact]
    public void LoraMerge_GivesTheAdaptersLogits()
    {
        using var dir = new TempDir();
        string b = Base(dir);
        var (model, _) = Checkpoint.Load(b);
        var set = LoraSet.Attach(model, new LoraOptions { Rank = 3, Alpha = 6f });
        var rng = new NextToken.Tensors.Rng(2);
        rng.FillNormal(set.Parameters, 0f, 0.2f);
        set.Save(dir.File("adapter"), b);
        int[] ids = Chars.Encode("the cat sat");
        var expected = new float[ids.Length * Tiny.VocabSize];
        model.ForwardLogits(ids, 1, ids.Length, expected);

        var r = CliProcess.Run("lora", "merge", "--checkpoint", b, "--adapter", dir.File("adapter"), "--out", dir.File("merged"));
        Assert.True(r.Exit == 0, r.Err);
        var (merged, _) = Checkpoint.Load(dir.File("merged"));
        Assert.All(merged.Linears, l => Assert.Null(l.Adapter));
        var actual = new float[expected.Length];
        merged.ForwardLogits(ids, 1, ids.Length, actual);
        ModelCoreTests.AssertClose(expected, actual, 1e-5, "merged logits");
    }
}
