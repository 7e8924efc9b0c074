// `nexttoken bench train` through the real command line: the JSON contract of its last line and its bad-input errors.
using System.Text.Json;
using NextToken.Tests.Data;

namespace NextToken.Tests.Cli;

public sealed class BenchTrainCommandTests
{
    [Fact]
    public void BenchTrain_TinyModelJson_LastLineHasContractKeys()
    {
        var r = CliProcess.Run("bench", "train", "--preset", "test", "--layers", "2", "--heads", "2", "--embd", "32", "--vocab", "50",
                               "--batch", "2", "--seq", "8", "--steps", "3", "--warmup-steps", "1", "--reference-gflops", "100", "--json");
        Assert.True(r.Exit == 0, r.Err);
        string last = CliProcess.LastLine(r.Out);
        using var doc = JsonDocument.Parse(last);
        var o = doc.RootElement;
        foreach (var key in new[] { "ms_per_step", "tokens_per_second", "gflops", "peak_rss_mb", "mfu", "params" })
            Assert.True(o.TryGetProperty(key, out _), $"missing key {key} in {last}");
        Assert.True(o.GetProperty("ms_per_step").GetDouble() > 0);
        Assert.True(o.GetProperty("peak_rss_mb").GetDouble() > 0);
        double tps = o.GetProperty("tokens_per_second").GetDouble();
        Assert.Equal(2 * 8 / (o.GetProperty("ms_per_step").GetDouble() / 1000), tps, 0.01 * tps);
        Assert.Equal(100.0, o.GetProperty("reference_gflops").GetDouble());
        Assert.Equal(o.GetProperty("gflops").GetDouble() / 100.0, o.GetProperty("mfu").GetDouble(), 0.0002); // both rounded in the JSON
    }

    [Fact]
    public void BenchTrain_Phases_AreReplayedOutsideTheModelAndSaySo()
    {
        var r = CliProcess.Run("bench", "train", "--preset", "test", "--layers", "2", "--heads", "2", "--embd", "32", "--vocab", "50",
                               "--batch", "2", "--seq", "16", "--steps", "2", "--warmup-steps", "1", "--reference-gflops", "100", "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = JsonDocument.Parse(CliProcess.LastLine(r.Out));
        var o = doc.RootElement;
        var phases = o.GetProperty("phase_seconds_per_step");
        foreach (var key in new[] { "matmul", "attention", "elementwise", "zero_grad", "optimizer" })
            Assert.True(phases.TryGetProperty(key, out _), $"missing phase {key}");
        Assert.True(phases.GetProperty("matmul").GetDouble() > 0);
        Assert.Contains("replayed", o.GetProperty("phase_timing").GetString());
        Assert.InRange(o.GetProperty("non_matmul_share").GetDouble(), 0, 1);
    }

    [Fact]
    public void StepReplay_Linears_FollowTheConfigsVariants()
    {
        // SmolLM2-135M: 9 query heads and 3 key/value heads of 64, SwiGLU 1536 (gate and up in one product), vocabulary 49152.
        var cfg = NextToken.Model.GptPresets.Get("smollm2-135m");
        var linears = NextToken.Cli.StepReplay.Linears(cfg).ToDictionary(l => l.Name, l => (l.C, l.OC, l.Count));
        Assert.Equal((576, (9 + 2 * 3) * 64, 30), linears["attn.c_attn"]);
        Assert.Equal((576, 576, 30), linears["attn.c_proj"]);
        Assert.Equal((576, 2 * 1536, 30), linears["mlp.c_fc"]);
        Assert.Equal((1536, 576, 30), linears["mlp.c_proj"]);
        Assert.Equal((576, 49152, 1), linears["lm_head"]);
        var gpt2 = NextToken.Cli.StepReplay.Linears(NextToken.Model.GptPresets.Get("gpt2")).ToDictionary(l => l.Name, l => (l.C, l.OC));
        Assert.Equal((768, 2304), gpt2["attn.c_attn"]);
        Assert.Equal((768, 3072), gpt2["mlp.c_fc"]);
        // A replay of a tiny step runs and takes time in both phases.
        var (matmul, attention) = new NextToken.Cli.StepReplay(NextToken.Model.GptPresets.Get("test"), 2, 8).Run();
        Assert.True(matmul > 0 && attention > 0);
    }

    [Fact]
    public void BenchTrain_ReferenceLog_PrintsOpenBlasTimeOfTheSameProducts()
    {
        // Every product of a 2-layer, 32-wide, vocabulary-50 model at 2 x 8 = 16 rows, at 10 GFLOP/s in the "log".
        using var dir = new TempDir();
        string path = dir.File("blas.log");
        var lines = new List<string>();
        foreach (var (c, oc) in new[] { (32, 96), (32, 32), (32, 128), (128, 32), (32, 50) })
        {
            lines.Add($"x\tl_fwd\tM=16\tN={oc}\tK={c}\tmedian=10.0\tmin=1\tmax=1\treps=1");
            lines.Add($"x\tl_bwd_dx\tM=16\tN={c}\tK={oc}\tmedian=10.0\tmin=1\tmax=1\treps=1");
            lines.Add($"x\tl_bwd_dw\tM={oc}\tN={c}\tK=16\tmedian=10.0\tmin=1\tmax=1\treps=1");
        }
        File.WriteAllLines(path, lines);
        var r = CliProcess.Run("bench", "train", "--preset", "test", "--layers", "2", "--heads", "2", "--embd", "32", "--vocab", "50",
                               "--batch", "2", "--seq", "8", "--steps", "2", "--warmup-steps", "1", "--reference-gflops", "100", "--reference-log", path, "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = JsonDocument.Parse(CliProcess.LastLine(r.Out));
        var o = doc.RootElement;
        // FLOPs of the products: 3 products x 2·16·(per-layer C·OC of the 4 linears x 2 layers + the LM head).
        double flop = 3 * 2.0 * 16 * (2 * (32 * 96 + 32 * 32 + 32 * 128 + 128 * 32) + 32 * 50);
        Assert.Equal(flop / 10.0 / 1e6, o.GetProperty("openblas_matmul_ms").GetDouble(), 3);
        Assert.Equal(10.0, o.GetProperty("openblas_step_mix_gflops").GetDouble(), 2);
        double ours = o.GetProperty("phase_seconds_per_step").GetProperty("matmul").GetDouble() * 1000;
        double expected = o.GetProperty("openblas_matmul_ms").GetDouble() / ours; // ours is rounded to 10 µs in the JSON
        Assert.InRange(o.GetProperty("matmul_ratio_to_openblas").GetDouble(), 0.8 * expected, 1.25 * expected);

        // A log without this run's shapes names the missing one.
        File.WriteAllLines(path, lines.Take(3));
        r = CliProcess.Run("bench", "train", "--preset", "test", "--layers", "2", "--heads", "2", "--embd", "32", "--vocab", "50",
                           "--batch", "2", "--seq", "8", "--steps", "1", "--reference-log", path);
        Assert.NotEqual(0, r.Exit);
        Assert.StartsWith("error:", r.Err.Trim());
        Assert.Contains("no forward at N=16 C=32 OC=32", r.Err);
    }

    [Theory]
    [InlineData("test", "--batch", "0", "--batch")]
    [InlineData("test", "--steps", "0", "--steps")]
    [InlineData("gpt5", "--batch", "1", "gpt2-medium")]
    public void BenchTrain_BadOption_FailsWithOneLine(string preset, string option, string value, string expected)
    {
        var r = CliProcess.Run("bench", "train", "--preset", preset, option, value);
        Assert.NotEqual(0, r.Exit);
        string err = r.Err.Trim();
        Assert.StartsWith("error:", err);
        Assert.DoesNotContain("\n", err);
        Assert.Contains(expected, err);
    }

    // Runs the CLI with one extra environment variable (the JIT's instruction-set switches are read at start-up).
    // A comma-separated list sets several variables to the same value (.NET 10 needs DOTNET_EnableAVX512 as well as
    // DOTNET_EnableAVX512F to turn Vector512 off).
    private static (int Exit, string Out, string Err) RunWithEnv(string variable, string value, params string[] args) =>
        CliProcess.RunWithEnvironment(variable.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(name => (name, value)), args);

    [Fact]
    public void BenchTrain_Vector512Vector256AndScalarPaths_AgreeOnLoss()
    {
        // Three full training steps through every kernel (attention's four-row path included: head size 64), once per
        // instruction-set path; the losses differ only by float rounding.
        string[] args = ["bench", "train", "--preset", "test", "--layers", "2", "--heads", "2", "--embd", "128", "--vocab", "61",
                         "--batch", "2", "--seq", "24", "--steps", "3", "--warmup-steps", "0", "--reference-gflops", "1", "--json"];
        var losses = new List<double>();
        foreach (var (variable, value) in new[] { ("", ""), ("DOTNET_EnableAVX512F,DOTNET_EnableAVX512", "0"), ("DOTNET_EnableAVX2", "0"), ("DOTNET_EnableHWIntrinsic", "0") })
        {
            var r = RunWithEnv(variable, value, args);
            Assert.True(r.Exit == 0, r.Err);
            using var doc = CliProcess.LastJson(r.Out);
            losses.Add(doc.RootElement.GetProperty("final_loss").GetDouble());
        }
        foreach (double l in losses) Assert.Equal(losses[0], l, 1e-4 * Math.Abs(losses[0]));
    }
}
