// Bad foreign files through the real command line: one line on stderr naming the file and the tensor or key, exit ≠ 0.
using System.Text;
using NextToken.Interop;
using NextToken.Tests.Cli;
using NextToken.Tests.Data;

namespace NextToken.Tests.Interop;

public sealed class InteropBadInputTests
{
    private static (int Exit, string Out, string Err) Sample(string checkpoint) =>
        CliProcess.Run("sample", "--checkpoint", checkpoint, "--prompt-ids", "1", "--max-new-tokens", "2", "--strategy", "greedy");

    private static TinyForeignModel Gpt2(string dir, Action<List<HfTensorData>>? edit = null, Action<Dictionary<string, object?>>? config = null, Func<string, string>? dtype = null)
    {
        var m = HfTestFiles.Gpt2();
        edit?.Invoke(m.Tensors);
        var cfg = HfTestFiles.Gpt2Config(m);
        config?.Invoke(cfg);
        Directory.CreateDirectory(dir);
        HfTestFiles.WriteConfig(dir, cfg);
        HfTestFiles.WriteSafeTensors(Path.Combine(dir, "model.safetensors"), m.Tensors, dtype);
        return m;
    }

    [Fact]
    public void TruncatedSafetensors_NamesFileAndTensor()
    {
        using var dir = new TempDir();
        Gpt2(dir.Path);
        string f = dir.File("model.safetensors");
        using (var fs = new FileStream(f, FileMode.Open)) fs.SetLength(fs.Length - 100);
        var r = Sample(dir.Path);
        CliProcess.AssertOneLineError(r, f);
        Assert.Contains("truncated", r.Err);
        Assert.Contains("tensor '", r.Err);
    }

    [Fact]
    public void HeaderLengthPastEndOfFile_Fails()
    {
        using var dir = new TempDir();
        Gpt2(dir.Path);
        string f = dir.File("model.safetensors");
        var bytes = File.ReadAllBytes(f);
        BitConverter.GetBytes((ulong)bytes.Length).CopyTo(bytes, 0);
        File.WriteAllBytes(f, bytes);
        var r = Sample(dir.Path);
        CliProcess.AssertOneLineError(r, f);
        Assert.Contains("header length", r.Err);
    }

    [Fact]
    public void MalformedHeaderJson_Fails()
    {
        using var dir = new TempDir();
        Gpt2(dir.Path);
        string f = dir.File("model.safetensors");
        var json = Encoding.UTF8.GetBytes("{\"wte.weight\": {\"dtype\": \"F32\", \"shape\": [1,");
        File.WriteAllBytes(f, [.. BitConverter.GetBytes((ulong)json.Length), .. json]);
        var r = Sample(dir.Path);
        CliProcess.AssertOneLineError(r, f);
        Assert.Contains("malformed", r.Err);
    }

    [Theory]
    [InlineData("I64", "NextToken loads F32, F16 and BF16")]
    [InlineData("F12", "not a safetensors dtype")]
    public void UnsupportedDtype_NamesTensor(string dtype, string expected)
    {
        using var dir = new TempDir();
        const string name = "transformer.h.1.mlp.c_fc.bias";
        if (dtype == "F12")
        {
            Gpt2(dir.Path);
            // Rewrite the header's dtype string in place (same length keeps every offset).
            string f = dir.File("model.safetensors");
            var bytes = File.ReadAllBytes(f);
            int len = (int)BitConverter.ToUInt64(bytes);
            string header = Encoding.UTF8.GetString(bytes, 8, len);
            int at = header.IndexOf($"\"{name}\"", StringComparison.Ordinal);
            int d = header.IndexOf("\"F32\"", at, StringComparison.Ordinal);
            header = header[..d] + "\"F12\"" + header[(d + 5)..];
            Encoding.UTF8.GetBytes(header).CopyTo(bytes, 8);
            File.WriteAllBytes(f, bytes);
        }
        else Gpt2(dir.Path, dtype: n => n == name ? "I64" : "F32");
        var r = Sample(dir.Path);
        CliProcess.AssertOneLineError(r, name);
        Assert.Contains(expected, r.Err);
        Assert.Contains("model.safetensors", r.Err);
    }

    [Fact]
    public void MissingTensor_NamesIt()
    {
        using var dir = new TempDir();
        Gpt2(dir.Path, t => t.RemoveAll(x => x.Name == "transformer.h.1.ln_2.bias"));
        CliProcess.AssertOneLineError(Sample(dir.Path), "no tensor 'transformer.h.1.ln_2.bias'");
    }

    [Fact]
    public void ExtraTensor_NamesIt()
    {
        using var dir = new TempDir();
        Gpt2(dir.Path, t => t.Add(new HfTensorData("transformer.h.2.ln_1.weight", [8], new double[8])));
        var r = Sample(dir.Path);
        CliProcess.AssertOneLineError(r, "'transformer.h.2.ln_1.weight'");
        Assert.Contains("extra tensor", r.Err);
    }

    [Fact]
    public void ShapeMismatch_NamesTensorAndShapes()
    {
        using var dir = new TempDir();
        Gpt2(dir.Path, t =>
        {
            int i = t.FindIndex(x => x.Name == "transformer.h.0.attn.c_proj.weight");
            t[i] = t[i] with { Shape = [4, 16] };
        });
        var r = Sample(dir.Path);
        CliProcess.AssertOneLineError(r, "'transformer.h.0.attn.c_proj.weight' has shape (4, 16)");
        Assert.Contains("(8, 8)", r.Err);
    }

    [Fact]
    public void UnknownModelType_NamesKey()
    {
        using var dir = new TempDir();
        Gpt2(dir.Path, config: c => c["model_type"] = "bert");
        var r = Sample(dir.Path);
        CliProcess.AssertOneLineError(r, "model_type 'bert'");
        Assert.Contains("config.json", r.Err);
    }

    [Fact]
    public void UnknownActivation_NamesKey()
    {
        using var dir = new TempDir();
        Gpt2(dir.Path, config: c => c["activation_function"] = "relu");
        var r = Sample(dir.Path);
        CliProcess.AssertOneLineError(r, "activation_function 'relu'");
        Assert.Contains("config.json", r.Err);
    }

    [Fact]
    public void ShardIndexNamingMissingFile_Fails()
    {
        using var dir = new TempDir();
        var m = HfTestFiles.Gpt2();
        HfTestFiles.WriteDirectory(dir.Path, m, HfTestFiles.Gpt2Config(m), shards: 2);
        File.Delete(dir.File("model-00002-of-00002.safetensors"));
        var r = Sample(dir.Path);
        CliProcess.AssertOneLineError(r, "model-00002-of-00002.safetensors");
        Assert.Contains("model.safetensors.index.json", r.Err);
    }

    [Fact]
    public void TruncatedLlmcModel_Fails()
    {
        using var dir = new TempDir();
        LlmcModel.Save(dir.File("m.bin"), new NextToken.Model.GptModel(ExportRoundTripTests.Gpt2Shape, 1));
        using (var fs = new FileStream(dir.File("m.bin"), FileMode.Open)) fs.SetLength(fs.Length - 4);
        var r = Sample(dir.File("m.bin"));
        CliProcess.AssertOneLineError(r, dir.File("m.bin"));
        Assert.Contains("truncated", r.Err);
    }

    [Fact]
    public void UnknownFile_SaysWhatIsAccepted()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("x.bin"), "hello world, not a model at all");
        CliProcess.AssertOneLineError(Sample(dir.File("x.bin")), "llm.c");
    }

    [Fact]
    public void FailedExport_LeavesTheGoodFileInPlace()
    {
        using var dir = new TempDir();
        string f = dir.File("model.safetensors");
        File.WriteAllText(f, "good");
        Assert.ThrowsAny<Exception>(() => SafeTensorsWriter.Write(f,
        [
            new SafeTensorsEntry("a", [2], () => [1, 2]),
            new SafeTensorsEntry("b", [2], () => throw new IOException("disk full")),
        ], "F32"));
        Assert.Equal("good", File.ReadAllText(f));
        Assert.False(File.Exists(f + ".tmp"));
    }

    [Fact]
    public void ExportCommand_NoHfEquivalent_Fails()
    {
        using var dir = new TempDir();
        NextToken.Training.Checkpoint.Save(dir.File("ck"), new NextToken.Model.GptModel(ExportRoundTripTests.Gpt2Shape with { Positions = NextToken.Model.PositionEncoding.Sinusoidal }, 1));
        CliProcess.AssertOneLineError(CliProcess.Run("export", "--checkpoint", dir.File("ck"), "--format", "hf", "--out", dir.File("hf")), "no Hugging Face equivalent");
    }

    [Fact]
    public void ConfigWithBadKeyType_NamesKey()
    {
        using var dir = new TempDir();
        Gpt2(dir.Path, config: c => c["n_layer"] = "two");
        CliProcess.AssertOneLineError(Sample(dir.Path), "'n_layer'");
    }
}
