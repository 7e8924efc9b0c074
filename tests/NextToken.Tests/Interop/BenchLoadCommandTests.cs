// `nexttoken bench load` through the real command line: a tiny Hugging Face directory, the JSON keys and their arithmetic.
using NextToken.Tests.Cli;
using NextToken.Tests.Data;

namespace NextToken.Tests.Interop;

public sealed class BenchLoadCommandTests
{
    [Fact]
    public void BenchLoad_TinyHfDirectory_ReportsLoadBesideReadAndTheRssBound()
    {
        using var dir = new TempDir();
        var m = HfTestFiles.Gpt2();
        HfTestFiles.WriteDirectory(dir.Path, m, HfTestFiles.Gpt2Config(m));
        var r = CliProcess.Run("bench", "load", "--checkpoint", dir.Path, "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = CliProcess.LastJson(r.Out);
        var o = doc.RootElement;
        Assert.Equal("hf", o.GetProperty("format").GetString());
        Assert.Equal(m.Layout.Size, o.GetProperty("parameters").GetInt64());
        double fp32 = o.GetProperty("fp32_mb").GetDouble();
        Assert.Equal(Math.Round(m.Layout.Size * 4.0 / (1024 * 1024), 1), fp32);
        Assert.Equal(fp32 * 1.15 + 300, o.GetProperty("rss_bound_mb").GetDouble(), 0.2);
        Assert.True(o.GetProperty("load_seconds").GetDouble() >= 0 && o.GetProperty("read_seconds").GetDouble() >= 0);
        Assert.True(o.GetProperty("peak_rss_mb").GetDouble() > 0);
        Assert.Equal(new FileInfo(Path.Combine(dir.Path, "model.safetensors")).Length, o.GetProperty("file_bytes").GetInt64());
    }

    [Fact]
    public void BenchLoad_MissingPath_IsOneLineError()
    {
        var r = CliProcess.Run("bench", "load", "--checkpoint", Path.Combine(Path.GetTempPath(), "nt-no-such-model-" + Guid.NewGuid().ToString("N")));
        CliProcess.AssertOneLineError(r, "does not exist");
    }
}
