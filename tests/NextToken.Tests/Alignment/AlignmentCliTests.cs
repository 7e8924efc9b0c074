// reward train/score, ppo (with exact resume), dpo and grpo end to end as child processes on a tiny base model: the
// --json contracts the issue names, and one-line errors for bad input.
using NextToken.Tests.Cli;
using NextToken.Tests.Data;

namespace NextToken.Tests.Alignment;

public sealed class AlignmentCliTests
{
    private static readonly string[] Prefs =
    [
        """{"prompt":"the cat","chosen":" sees the dog.\n","rejected":" sees the man.\n"}""",
        """{"prompt":"a dog","chosen":" chases a fox.\n","rejected":" sleeps.\n"}""",
        """{"prompt":"some birds","responses":[" see two horses.\n"," sing.\n"," sings.\n"]}""",
        """{"prompt":"the man","chosen":" runs.\n","rejected":" runs.\n"}""",
        """{"prompt":"every girl","chosen":" likes the cat.\n","rejected":" likes the boy.\n"}""",
    ];

    private static string TinyBase(TempDir dir, string data = "builtin:grammar", string name = "base")
    {
        var t = CliProcess.Run("train", "--data", data, "--iters", "2", "--layers", "1", "--heads", "2", "--embd", "16", "--out", dir.File(name),
                               "--eval-iters", "1", "--eval-samples", "0", "--threads", "1");
        Assert.True(t.Exit == 0, t.Err);
        return dir.File(name);
    }

    [Fact]
    public void RewardTrain_ThenScore_ThenPpoWithResume_ThenDpoAndGrpo()
    {
        using var dir = new TempDir();
        string b = TinyBase(dir);
        File.WriteAllLines(dir.File("prefs.jsonl"), Prefs);
        var rm = CliProcess.Run("reward", "train", "--checkpoint", b, "--data", dir.File("prefs.jsonl"), "--val-data", dir.File("prefs.jsonl"),
                                "--out", dir.File("rm"), "--epochs", "2", "--batch", "2", "--threads", "1", "--json");
        Assert.True(rm.Exit == 0, rm.Err);
        using (var j = CliProcess.LastJson(rm.Out))
        {
            var r = j.RootElement;
            Assert.InRange(r.GetProperty("pairwise_accuracy").GetDouble(), 0, 1);
            Assert.Equal(1 + 1 + 3 + 1, r.GetProperty("held_out_pairs").GetInt32()); // the identical pair is skipped
            Assert.Equal(1, r.GetProperty("skipped_identical").GetInt32());
        }
        Assert.Contains("1 pairs with identical responses skipped", rm.Err);
        var score = CliProcess.Run("reward", "score", "--checkpoint", dir.File("rm"), "--prompt", "the cat", "--response", " sees the dog.\\n", " sleeps.\\n", "--json");
        Assert.True(score.Exit == 0, score.Err);
        using (var j = CliProcess.LastJson(score.Out)) Assert.Equal(2, j.RootElement.GetProperty("scores").GetArrayLength());

        // PPO against the learned reward model on the built-in prompts; then two more iterations after a resume.
        string[] ppoArgs = ["--policy", b, "--reward", dir.File("rm"), "--prompts", "builtin:preferences", "--out", dir.File("ppo"),
                            "--batch", "8", "--minibatches", "2", "--ppo-epochs", "1", "--max-new-tokens", "6", "--threads", "1", "--json"];
        var ppo = CliProcess.Run(["ppo", .. ppoArgs, "--iters", "2"]);
        Assert.True(ppo.Exit == 0, ppo.Err);
        using (var j = CliProcess.LastJson(ppo.Out))
        {
            var r = j.RootElement;
            foreach (var key in new[] { "true_reward_before", "true_reward_after", "kl_to_reference", "grammatical_rate", "wall_seconds" })
                Assert.True(r.TryGetProperty(key, out _), key);
            Assert.Equal(2, r.GetProperty("iterations").GetInt32());
            Assert.True(r.GetProperty("kl_to_reference").GetDouble() >= 0);
        }
        Assert.Equal(2, File.ReadAllLines(dir.File("ppo/log.jsonl")).Length);
        Assert.True(File.Exists(dir.File("ppo/rewards.png")));
        var more = CliProcess.Run("ppo", "--resume", dir.File("ppo"), "--iters", "4", "--threads", "1", "--json");
        Assert.True(more.Exit == 0, more.Err);
        using (var j = CliProcess.LastJson(more.Out)) Assert.Equal(4, j.RootElement.GetProperty("iterations").GetInt32());
        Assert.Equal(4, File.ReadAllLines(dir.File("ppo/log.jsonl")).Length);

        var dpo = CliProcess.Run("dpo", "--policy", b, "--data", dir.File("prefs.jsonl"), "--out", dir.File("dpo"), "--beta", "0.1", "--loss", "ipo",
                                 "--epochs", "1", "--batch", "2", "--threads", "1", "--json");
        Assert.True(dpo.Exit == 0, dpo.Err);
        using (var j = CliProcess.LastJson(dpo.Out))
            foreach (var key in new[] { "true_reward_before", "true_reward_after", "kl_to_reference", "grammatical_rate", "wall_seconds" })
                Assert.True(j.RootElement.TryGetProperty(key, out _), key);

        var grpo = CliProcess.Run("grpo", "--policy", b, "--reward", "builtin:preferences", "--group-size", "4", "--prompts-per-iter", "2", "--iters", "2",
                                  "--max-new-tokens", "6", "--out", dir.File("grpo"), "--threads", "1", "--json");
        Assert.True(grpo.Exit == 0, grpo.Err);
        using (var j = CliProcess.LastJson(grpo.Out))
        {
            var r = j.RootElement;
            foreach (var key in new[] { "true_reward_before", "true_reward_after", "kl_to_reference", "grammatical_rate", "wall_seconds" })
                Assert.True(r.TryGetProperty(key, out _), key);
            Assert.InRange(r.GetProperty("grammatical_rate").GetDouble(), 0, 1);
        }
    }

    [Fact]
    public void BadInput_OneLineErrors()
    {
        using var dir = new TempDir();
        string b = TinyBase(dir);
        File.WriteAllLines(dir.File("bad.jsonl"), ["""{"prompt":"the cat","chosen":" sees the dog.\n"}"""]);
        CliProcess.AssertOneLineError(CliProcess.Run("reward", "train", "--checkpoint", b, "--data", dir.File("bad.jsonl"), "--out", dir.File("rm"), "--threads", "1"),
                                      "bad.jsonl:1: missing string field \"rejected\"");
        File.WriteAllLines(dir.File("same.jsonl"), ["""{"prompt":"the cat","chosen":" runs.\n","rejected":" runs.\n"}"""]);
        CliProcess.AssertOneLineError(CliProcess.Run("dpo", "--policy", b, "--data", dir.File("same.jsonl"), "--out", dir.File("dpo"), "--threads", "1"),
                                      "no preference pairs (1 lines had identical responses)");
        CliProcess.AssertOneLineError(CliProcess.Run("ppo", "--policy", b, "--reward", "builtin:nope", "--out", dir.File("p"), "--threads", "1"), "unknown reward 'builtin:nope'");
        CliProcess.AssertOneLineError(CliProcess.Run("ppo", "--policy", b, "--prompts", dir.File("missing.txt"), "--reward", "builtin:preferences", "--out", dir.File("p"), "--threads", "1"),
                                      "missing.txt' does not exist");
        CliProcess.AssertOneLineError(CliProcess.Run("ppo", "--resume", dir.File("nothing"), "--threads", "1"), "is not a PPO run");
        CliProcess.AssertOneLineError(CliProcess.Run("grpo", "--policy", b, "--group-size", "1", "--out", dir.File("g"), "--threads", "1"), "GroupSize must be at least 2: advantages are relative to the group (got 1) (--group-size)");

        // A reward model over another vocabulary (characters) cannot score the word-level policy's tokens.
        string other = TinyBase(dir, "builtin:addition", "chars");
        File.WriteAllLines(dir.File("digits.jsonl"), ["""{"prompt":"1+1=","chosen":"2","rejected":"3"}""", """{"prompt":"2+2=","chosen":"4","rejected":"5"}"""]);
        var rm = CliProcess.Run("reward", "train", "--checkpoint", other, "--data", dir.File("digits.jsonl"), "--out", dir.File("rm_chars"), "--epochs", "1", "--threads", "1");
        Assert.True(rm.Exit == 0, rm.Err);
        CliProcess.AssertOneLineError(CliProcess.Run("ppo", "--policy", b, "--reward", dir.File("rm_chars"), "--out", dir.File("p2"), "--iters", "1", "--threads", "1"),
                                      "tokenizer differs from the policy's");
    }
}
