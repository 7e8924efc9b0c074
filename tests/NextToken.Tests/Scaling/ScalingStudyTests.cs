// The built-in study in its seconds-long version: every stage runs, the prediction is written before the held-out run
// and kept on a rerun, emergence is scored two ways, the figures are drawn.
using NextToken.Scaling;
using NextToken.Tests.Cli;
using NextToken.Tests.Data;

namespace NextToken.Tests.Scaling;

public sealed class ScalingStudyTests
{
    [Fact]
    public void StudyCommand_Quick_RunsEveryStageAndKeepsItsPrediction()
    {
        using var tmp = new TempDir();
        var r = CliProcess.Run("scaling", "study", "--quick", "--out", tmp.Path, "--threads", "1", "--json");
        Assert.True(r.Exit == 0, r.Err);
        var j = CliProcess.LastJson(r.Out).RootElement;
        double predicted = j.GetProperty("predicted_loss").GetDouble();
        Assert.True(double.IsFinite(predicted) && predicted > 0);
        Assert.True(j.GetProperty("measured_loss").GetDouble() > 0);
        Assert.Equal(predicted / j.GetProperty("measured_loss").GetDouble() - 1, j.GetProperty("relative_error").GetDouble(), 12);
        Assert.Equal(12, j.GetProperty("fit").GetProperty("runs").GetInt32());
        var emergence = j.GetProperty("emergence");
        Assert.Equal(StudyOptions.Quick.Sizes.Count * StudyOptions.Quick.AdditionTokens.Count, emergence.GetArrayLength());
        foreach (var p in emergence.EnumerateArray())
        {
            Assert.InRange(p.GetProperty("exact_match").GetDouble(), 0, 1);
            Assert.True(p.GetProperty("token_log_likelihood").GetDouble() < 0);
        }
        Assert.True(File.Exists(Path.Combine(tmp.Path, "facts", "results.jsonl")), "the default corpus is facts");
        string prediction = Path.Combine(tmp.Path, ScalingStudy.PredictionFileName);
        string before = File.ReadAllText(prediction);
        Assert.Contains("predicted_loss", before);
        foreach (var f in new[] { "loss_vs_compute.png", "fit.png", "fit.residuals.png", "emergence.png", "emergence.svg" })
            Assert.True(File.Exists(Path.Combine(tmp.Path, f)), f);

        // A rerun trains nothing and keeps the prediction made before the held-out run.
        var again = CliProcess.Run("scaling", "study", "--quick", "--out", tmp.Path, "--threads", "1", "--json");
        Assert.True(again.Exit == 0, again.Err);
        Assert.Equal(before, File.ReadAllText(prediction));
        Assert.Equal(predicted, CliProcess.LastJson(again.Out).RootElement.GetProperty("predicted_loss").GetDouble());
        Assert.DoesNotContain("val loss", again.Out);

        // Another plan into the same directory is refused (its runs and prediction belong to the first plan).
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "study", "--quick", "--out", tmp.Path, "--sizes", "1x16,2x16"), "planned differently");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "study", "--quick", "--out", tmp.Path, "--heldout-tokens", "-3"), "--heldout-tokens");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "study", "--quick", "--out", tmp.Path, "--corpus", "grammar"), "planned differently");
        Assert.NotEqual(0, CliProcess.Run("scaling", "study", "--quick", "--out", tmp.Path, "--corpus", "poems").Exit);
    }

    // The whole study (about 9 minutes on 2 cores): the targets as assertions.
    [Fact]
    [Trait("Category", "Slow")]
    public void StudyCommand_Full_PredictsTheHeldOutRunWithinThreePercentAndAdditionEmerges()
    {
        using var tmp = new TempDir();
        var r = CliProcess.RunFor(TimeSpan.FromMinutes(45), [], "scaling", "study", "--out", tmp.Path, "--json");
        Assert.True(r.Exit == 0, r.Err);
        var j = CliProcess.LastJson(r.Out).RootElement;
        Assert.InRange(j.GetProperty("relative_error").GetDouble(), -0.03, 0.03);
        var largest = j.GetProperty("emergence").EnumerateArray().MaxBy(p => p.GetProperty("flops").GetDouble());
        Assert.True(largest.GetProperty("exact_match").GetDouble() >= 0.9);
        Assert.Contains(j.GetProperty("emergence").EnumerateArray(), p => p.GetProperty("exact_match").GetDouble() < 0.05);
    }

    [Fact]
    public void EmergenceMetrics_PerfectAndUniformModels_ScoreAsExpected()
    {
        // A model that is uniform over the vocabulary: exact match only by argmax ties (token 0), log-likelihood −log V.
        var model = new NextToken.Model.GptModel(new NextToken.Model.GptConfig { VocabSize = 13, ContextLength = 16, Layers = 1, Heads = 1, EmbeddingSize = 8 }, 1);
        model.Parameters.AsSpan().Clear(); // all-zero weights: every logit is 0
        var tok = NextToken.Tokenization.TokenizerFactory.Create("char", "0123456789+=\n");
        var (exact, ll) = EmergenceMetrics.Score(model, tok, [("12+34=", "640")]);
        Assert.Equal(-Math.Log(13), ll, 5);
        Assert.Equal(0, exact); // the argmax of a tie is token 0, which is not '6'
    }
}
