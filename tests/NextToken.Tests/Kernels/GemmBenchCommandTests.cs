// `nexttoken bench gemm` through the real CLI: the JSON contract of its last line, and clear errors on bad input.
using System.Text.Json;
using NextToken.Tests.Cli;
using NextToken.Tests.Data;

namespace NextToken.Tests.Kernels;

public sealed class GemmBenchCommandTests
{
    [Fact]
    public void BenchGemm_OneShapeJson_LastLineHasContractKeys()
    {
        var (exit, stdout, stderr) = CliProcess.Run("bench", "gemm", "--n", "33", "--c", "65", "--oc", "17", "--reps", "1", "--threads", "2", "--reference-gflops", "325", "--json");
        Assert.True(exit == 0, stderr);
        string last = CliProcess.LastLine(stdout);
        using var doc = JsonDocument.Parse(last);
        var root = doc.RootElement;
        foreach (var key in new[] { "ms_per_step", "tokens_per_second", "gflops", "peak_rss_mb", "shapes", "gemv" })
            Assert.True(root.TryGetProperty(key, out _), $"missing {key} in {last}");
        Assert.True(root.GetProperty("ms_per_step").GetDouble() > 0);
        Assert.True(root.GetProperty("peak_rss_mb").GetDouble() > 0);
        var shapes = root.GetProperty("shapes").EnumerateArray().ToList();
        Assert.Equal(["forward", "input_grad", "weight_grad"], shapes.Select(s => s.GetProperty("product").GetString()));
        Assert.All(shapes, s => Assert.True(s.GetProperty("gflops").GetDouble() > 0 && s.TryGetProperty("ratio", out _)));
        Assert.Equal(1, root.GetProperty("gemv").GetArrayLength());
    }

    [Theory]
    [InlineData("--n", "5")]
    [InlineData("--n", "0", "--c", "3", "--oc", "3")]
    [InlineData("--threads", "0")]
    [InlineData("--isa", "avx9")]
    [InlineData("--rows", "256,abc")]
    [InlineData("--rows", "0")]
    public void BenchGemm_BadOptions_OneLineErrorNonZeroExit(params string[] options)
    {
        var (exit, _, stderr) = CliProcess.Run(["bench", "gemm", .. options]);
        Assert.NotEqual(0, exit);
        Assert.StartsWith("error: ", stderr);
        Assert.Single(stderr.TrimEnd().Split('\n'));
    }

    [Fact]
    public void ReadReferenceLog_MapsTheThreeProductsAndThePaddedVocabulary()
    {
        using var dir = new TempDir();
        string path = dir.File("blas.log");
        File.WriteAllLines(path,
        [
            "=== 3. cblas_sgemm GFLOP/s",
            "openblas-SkylakeX-2t\tfc_fwd\tM=256\tN=3072\tK=768\tmedian=250.5\tmin=240.0\tmax=260.0\treps=5",
            "openblas-SkylakeX-2t\tfc_bwd_dx\tM=256\tN=768\tK=3072\tmedian=200.0\tmin=190.0\tmax=210.0\treps=5",
            "openblas-SkylakeX-2t\tfc_bwd_dw\tM=3072\tN=768\tK=256\tmedian=150.0\tmin=140.0\tmax=160.0\treps=5",
            "openblas-SkylakeX-2t\tlmhead_fwd\tM=256\tN=50304\tK=768\tmedian=300.0\tmin=290.0\tmax=310.0\treps=5",
            "openblas-SkylakeX-2t\tsummary\tBT=256\tgpt2_124m_step_mix_gflops=260.0\tgemm_ms_per_step=1.0",
        ]);
        var map = NextToken.Cli.Commands.BenchGemmCommand.ReadReferenceLog(new FileInfo(path));
        Assert.Equal(250.5, map[("forward", 256, 768, 3072)]);
        Assert.Equal(200.0, map[("input_grad", 256, 768, 3072)]);
        Assert.Equal(150.0, map[("weight_grad", 256, 768, 3072)]);
        Assert.Equal(300.0, map[("forward", 256, 768, 50257)]);
        Assert.Equal(300.0, map[("forward", 256, 768, 50304)]);
        Assert.Equal(5, map.Count);
    }

    [Fact]
    public void BenchGemm_ReferenceLog_PrintsPerShapeRatios()
    {
        using var dir = new TempDir();
        string path = dir.File("blas.log");
        File.WriteAllLines(path,
        [
            "x\ta_fwd\tM=33\tN=17\tK=65\tmedian=10.0\tmin=1\tmax=1\treps=1",
            "x\ta_bwd_dx\tM=33\tN=65\tK=17\tmedian=20.0\tmin=1\tmax=1\treps=1",
            "x\ta_bwd_dw\tM=17\tN=65\tK=33\tmedian=40.0\tmin=1\tmax=1\treps=1",
        ]);
        var (exit, stdout, stderr) = CliProcess.Run("bench", "gemm", "--n", "33", "--c", "65", "--oc", "17", "--reps", "1", "--reference-log", path, "--json");
        Assert.True(exit == 0, stderr);
        using var doc = JsonDocument.Parse(CliProcess.LastLine(stdout));
        var shapes = doc.RootElement.GetProperty("shapes").EnumerateArray().ToList();
        double[] blas = [10.0, 20.0, 40.0];
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(blas[i], shapes[i].GetProperty("openblas_gflops").GetDouble());
            // gflops is rounded to 0.01 in the JSON, the ratio to 1e-4: compare with a tolerance, not by rounding.
            Assert.Equal(shapes[i].GetProperty("gflops").GetDouble() / blas[i], shapes[i].GetProperty("ratio_to_openblas").GetDouble(), 0.002);
        }
        double worst = shapes.Min(s => s.GetProperty("ratio_to_openblas").GetDouble());
        Assert.Equal(worst, doc.RootElement.GetProperty("worst_shape_ratio_to_openblas").GetDouble(), 0.002);
        Assert.Contains("against OpenBLAS on the same shapes", stdout);
    }

    [Fact]
    public void BenchGemm_ReferenceLogMissingOrEmpty_OneLineError()
    {
        var (exit, _, stderr) = CliProcess.Run("bench", "gemm", "--n", "3", "--c", "3", "--oc", "3", "--reference-log", "/nonexistent/blas.log");
        Assert.NotEqual(0, exit);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("does not exist", stderr);
        using var dir = new TempDir();
        string empty = dir.File("empty.log");
        File.WriteAllText(empty, "");
        (exit, _, stderr) = CliProcess.Run("bench", "gemm", "--n", "3", "--c", "3", "--oc", "3", "--reference-log", empty);
        Assert.NotEqual(0, exit);
        Assert.Contains("no gemm shape lines", stderr);
        Assert.Single(stderr.TrimEnd().Split('\n'));
    }
}
