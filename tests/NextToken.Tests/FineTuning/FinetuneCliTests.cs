// finetune and chat end to end (child processes): a tiny base model, chat data, the --json contract, exact resume,
// chat with piped input, sample --chat, and one-line errors naming file and line.
using NextToken.Tests.Cli;
using NextToken.Tests.Data;

namespace NextToken.Tests.FineTuning;

public sealed class FinetuneCliTests
{
    private static readonly string[] Chats =
    [
        """{"messages": [{"role": "user", "content": "the cat sleeps."}, {"role": "assistant", "content": "the cats sleep."}]}""",
        """{"messages": [{"role": "system", "content": "be brief."}, {"role": "user", "content": "a dog runs."}, {"role": "assistant", "content": "some dogs run."}]}""",
        """{"messages": [{"role": "user", "content": "the bird sings."}, {"role": "assistant", "content": "the birds sing."}]}""",
    ];

    // A tiny base model in DIR/base and the chat data in DIR/chat.jsonl.
    private static void BaseAndChats(TempDir dir)
    {
        var t = CliProcess.Run("train", "--data", "builtin:grammar", "--iters", "2", "--layers", "1", "--heads", "2", "--embd", "16", "--out", dir.File("base"),
                               "--eval-iters", "1", "--eval-samples", "0", "--threads", "1");
        Assert.True(t.Exit == 0, t.Err);
        File.WriteAllLines(dir.File("chat.jsonl"), Chats);
    }

    [Fact]
    public void Finetune_ChatData_ThenResume_ThenChatWithPipedInput()
    {
        using var dir = new TempDir();
        BaseAndChats(dir);
        var f = CliProcess.Run("finetune", "--checkpoint", dir.File("base"), "--data", dir.File("chat.jsonl"), "--out", dir.File("ft"), "--iters", "3",
                               "--batch", "2", "--packing", "--threads", "1", "--json");
        Assert.True(f.Exit == 0, f.Err);
        using (var j = CliProcess.LastJson(f.Out))
        {
            var r = j.RootElement;
            Assert.Equal(3, r.GetProperty("iters").GetInt64());
            Assert.True(r.GetProperty("trainable_parameters").GetInt64() > 0);
            Assert.True(r.GetProperty("peak_rss_mb").GetDouble() > 0);
            Assert.InRange(r.GetProperty("packing_efficiency").GetDouble(), 0.01, 1);
        }
        Assert.Contains("2 tokens added to the vocabulary", f.Err);
        // Exact resume: two more steps from the saved run.
        var more = CliProcess.Run("finetune", "--resume", dir.File("ft"), "--iters", "5", "--threads", "1", "--json");
        Assert.True(more.Exit == 0, more.Err);
        using (var j = CliProcess.LastJson(more.Out)) Assert.Equal(5, j.RootElement.GetProperty("iters").GetInt64());
        // Chat with piped input: one reply line per user line; /reset and /exit are commands, not turns.
        var c = CliProcess.RunWithInput(TimeSpan.FromSeconds(120), [], "the cat sleeps.\n/reset\na dog runs.\n/exit\nnever read\n",
                                        "chat", "--checkpoint", dir.File("ft"), "--max-new-tokens", "5", "--threads", "1");
        Assert.True(c.Exit == 0, c.Err);
        Assert.Equal(2, c.Out.TrimEnd('\n').Split('\n').Length);
        var s = CliProcess.Run("sample", "--checkpoint", dir.File("ft"), "--chat", "--prompt", "the cat sleeps.", "--max-new-tokens", "4", "--json");
        Assert.True(s.Exit == 0, s.Err);
        using (var j = CliProcess.LastJson(s.Out)) Assert.Contains(j.RootElement.GetProperty("prompt_tokens").EnumerateArray(), e => e.GetInt32() >= 0);
    }

    [Fact]
    public void Finetune_Lora_StoppedAndResumed_EqualsUninterruptedRun()
    {
        // Constant learning rate (no warm-up, floor = peak) so a 2-step run resumed to 4 follows the 4-step run's
        // schedule; LoRA dropout, weight decay and the added chat markers' trainable rows are all on, so the adapters'
        // moments, the dropout generator and the embedding rows' moments must all come back for the runs to agree.
        using var dir = new TempDir();
        BaseAndChats(dir);
        string[] Args(string outDir, int iters) =>
            ["finetune", "--checkpoint", dir.File("base"), "--data", dir.File("chat.jsonl"), "--out", outDir, "--iters", iters.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--batch", "2", "--lr", "0.02", "--min-lr", "0.02", "--warmup", "0", "--weight-decay", "0.1", "--lora-rank", "4", "--lora-dropout", "0.3",
             "--eval-interval", "0", "--threads", "1", "--json"];
        var straight = CliProcess.Run(Args(dir.File("a"), 4));
        Assert.True(straight.Exit == 0, straight.Err);
        var half = CliProcess.Run(Args(dir.File("b"), 2));
        Assert.True(half.Exit == 0, half.Err);
        var rest = CliProcess.Run("finetune", "--resume", dir.File("b"), "--iters", "4", "--threads", "1", "--json");
        Assert.True(rest.Exit == 0, rest.Err);
        using (var j = CliProcess.LastJson(rest.Out)) Assert.Equal(4, j.RootElement.GetProperty("iters").GetInt64());
        Assert.Contains("added tokens", rest.Err);

        // Every step's training loss, the adapter, the trained embedding rows and the optimizer state agree bit for bit.
        Assert.Equal(StepLosses(dir.File("a")), StepLosses(dir.File("b")));
        Assert.Equal(4, StepLosses(dir.File("a")).Count);
        var adapterA = new SpecSafeTensorsReader(Path.Combine(dir.File("a"), "adapter_model.safetensors"));
        var adapterB = new SpecSafeTensorsReader(Path.Combine(dir.File("b"), "adapter_model.safetensors"));
        Assert.NotEmpty(adapterA.Tensors);
        foreach (var (name, ta) in adapterA.Tensors) Assert.Equal(ta.Values, adapterB.Tensors[name].Values);
        var modelA = NextToken.Training.Checkpoint.Load(dir.File("a")).Model;
        var modelB = NextToken.Training.Checkpoint.Load(dir.File("b")).Model;
        Assert.Equal(modelA.Parameters, modelB.Parameters);
        var optA = new SpecSafeTensorsReader(Path.Combine(dir.File("a"), "extra_optimizer.safetensors"));
        var optB = new SpecSafeTensorsReader(Path.Combine(dir.File("b"), "extra_optimizer.safetensors"));
        Assert.Equal("4", optB.Metadata["step"]);
        Assert.Equal("4", optB.Metadata["trainer_step"]);
        Assert.Equal(optA.Metadata, optB.Metadata);
        foreach (var name in adapterA.Tensors.Keys.Select(n => n["base_model.model.".Length..]))
        {
            Assert.Equal(optA.Tensors[name + ".exp_avg"].Values, optB.Tensors[name + ".exp_avg"].Values);
            Assert.Equal(optA.Tensors[name + ".exp_avg_sq"].Values, optB.Tensors[name + ".exp_avg_sq"].Values);
        }
        Assert.Contains(optB.Tensors.Values, tv => tv.Values.Any(v => v != 0));

        // A cut-off save (moments from another step than the checkpoint) is refused with one line naming the file.
        var c = CliProcess.Run(Args(dir.File("c"), 2));
        Assert.True(c.Exit == 0, c.Err);
        File.Copy(Path.Combine(dir.File("a"), "extra_optimizer.safetensors"), Path.Combine(dir.File("c"), "extra_optimizer.safetensors"), overwrite: true);
        CliProcess.AssertOneLineError(CliProcess.Run("finetune", "--resume", dir.File("c"), "--iters", "4", "--threads", "1"), "extra_optimizer.safetensors is from step 4 but the checkpoint is at step 2");
    }

    // (step, loss) of every training step in DIR/log.jsonl.
    private static List<(long, double)> StepLosses(string dir) =>
        File.ReadAllLines(Path.Combine(dir, "log.jsonl"))
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("loss", out _) && !e.TryGetProperty("val_loss", out _))
            .Select(e => (e.GetProperty("step").GetInt64(), e.GetProperty("loss").GetDouble()))
            .ToList();

    [Fact]
    public void BadData_IsOneLineErrorNamingFileAndLine()
    {
        using var dir = new TempDir();
        var t = CliProcess.Run("train", "--data", "builtin:addition", "--iters", "1", "--layers", "1", "--heads", "2", "--embd", "16", "--out", dir.File("base"), "--eval-iters", "1");
        Assert.True(t.Exit == 0, t.Err);
        File.WriteAllText(dir.File("bad.jsonl"), "{\"prompt\": \"1+1=\", \"completion\": \"2\"}\n{\"prompt\": \"1+2=\"\n");
        CliProcess.AssertOneLineError(CliProcess.Run("finetune", "--checkpoint", dir.File("base"), "--data", dir.File("bad.jsonl"), "--out", dir.File("o")), "bad.jsonl:2: not valid JSON");
        File.WriteAllText(dir.File("empty.jsonl"), "\n");
        CliProcess.AssertOneLineError(CliProcess.Run("finetune", "--checkpoint", dir.File("base"), "--data", dir.File("empty.jsonl"), "--out", dir.File("o")), "no examples");
        CliProcess.AssertOneLineError(CliProcess.Run("finetune", "--checkpoint", dir.File("base"), "--data", "builtin:nothing", "--out", dir.File("o")), "builtin:instructions");
        CliProcess.AssertOneLineError(CliProcess.Run("finetune", "--resume", dir.File("base")), "not a fine-tuning run");
    }
}
