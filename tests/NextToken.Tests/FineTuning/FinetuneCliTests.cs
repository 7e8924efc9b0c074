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

    [Fact]
    public void Finetune_ChatData_ThenResume_ThenChatWithPipedInput()
    {
        using var dir = new TempDir();
        var t = CliProcess.Run("train", "--data", "builtin:grammar", "--iters", "2", "--layers", "1", "--heads", "2", "--embd", "16", "--out", dir.File("base"),
                               "--eval-iters", "1", "--eval-samples", "0", "--threads", "1");
        Assert.True(t.Exit == 0, t.Err);
        File.WriteAllLines(dir.File("chat.jsonl"), Chats);
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
