// `nexttoken bench gemm` through the real CLI: the JSON contract of its last line, and clear errors on bad input.
using System.Text.Json;
using NextToken.Tests.Cli;

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
    public void BenchGemm_BadOptions_OneLineErrorNonZeroExit(params string[] options)
    {
        var (exit, _, stderr) = CliProcess.Run(["bench", "gemm", .. options]);
        Assert.NotEqual(0, exit);
        Assert.StartsWith("error: ", stderr);
        Assert.Single(stderr.TrimEnd().Split('\n'));
    }
}
