// The README's headline runs, end to end (minutes: Category=Slow, outside the default suite), and a check that the
// README's filter for them selects something.
using System.Reflection;
using System.Text.Json;
using NextToken.Tests.Data;
using NextToken.Tests.Hygiene;

namespace NextToken.Tests.Cli;

public sealed class SlowRunTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public void Train_Default_ReachesTheGrammarTarget()
    {
        using var dir = new TempDir();
        var r = CliProcess.RunFor(TimeSpan.FromMinutes(15), [], "train", "--out", dir.Path, "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = CliProcess.LastJson(r.Out);
        double share = doc.RootElement.GetProperty("grammatical_share").GetDouble();
        Assert.True(share >= 0.95, $"grammatical share {share:P1} is below the 95% target");
        Assert.True(File.Exists(Path.Combine(dir.Path, "loss.png")));
    }

    [DataSharedFileFact("tinyshakespeare.txt")]
    [Trait("Category", "Slow")]
    public void Train_ShakespeareCharRecipe_ReachesNanoGptsValLoss()
    {
        using var dir = new TempDir();
        string input = Path.Combine(DataSharedFileFactAttribute.Root, "tinyshakespeare.txt");
        var p = CliProcess.Run("prepare", "--input", input, "--tokenizer", "char", "--out", dir.File("data"));
        Assert.True(p.Exit == 0, p.Err);
        var r = CliProcess.RunFor(TimeSpan.FromMinutes(15), [], "train", "--data", dir.File("data"), "--layers", "4", "--heads", "4", "--embd", "128",
                                  "--block", "64", "--batch", "12", "--iters", "2000", "--lr", "1e-3", "--min-lr", "1e-4", "--warmup", "100",
                                  "--beta2", "0.99", "--dropout", "0", "--eval-interval", "250", "--eval-iters", "20", "--out", dir.File("run"), "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = CliProcess.LastJson(r.Out);
        double val = doc.RootElement.GetProperty("best_val_loss").GetDouble();
        Assert.True(val < 1.95, $"best val loss {val:F4} (README: 1.8945; nanoGPT publishes 1.88)");
    }

    [Fact]
    public void SlowTests_CarryTheTraitTheReadmeFilters()
    {
        var slow = typeof(SlowRunTests).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Where(m => m.GetCustomAttributesData().Any(a => a.AttributeType == typeof(TraitAttribute)
                        && a.ConstructorArguments.Select(x => (string?)x.Value).SequenceEqual(["Category", "Slow"])))
            .ToList();
        Assert.True(slow.Count >= 2, "no test carries [Trait(\"Category\", \"Slow\")], so the README's filter selects nothing");
        string readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md"));
        Assert.Contains("--filter \"Category=Slow\"", readme);
        Assert.Contains("--filter \"Category!=Slow\"", readme);
        Assert.Contains("--filter \"Category!=Slow\"", File.ReadAllText(Path.Combine(Repository.Root, ".ci", "run")));
    }
}
