// Hugging Face import: tiny GPT-2, GPT-1 and LLaMA directories written by the test-only writer, loaded, and compared
// with the double-precision oracle; every dtype, prefixes, shards, and greedy output against native weights.
using NextToken.Generation;
using NextToken.Interop;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tests.Cli;
using NextToken.Tests.Data;
using NextToken.Tests.Reference;
using NextToken.Training;

namespace NextToken.Tests.Interop;

public sealed class HfImportTests
{
    internal static readonly int[] Tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];

    /// <summary>All-position logits of the loaded model against the oracle on the same (stored) weights, 1e-5 relative.</summary>
    internal static void AssertMatchesOracle(GptModel model, TinyForeignModel m)
    {
        Assert.Equal(m.Config, model.Config);
        int V = m.Config.VocabSize;
        var logits = new float[Tokens.Length * V];
        model.Forward(model.CreateCache(), Tokens, logits, allPositions: true);
        var want = ReferenceGpt.Run(m.Config, m.Layout, m.OracleParameters, new ReferenceInput { Inputs = Tokens, B = 1, T = Tokens.Length }).Logits;
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(logits[i] - want[i]) <= 1e-5 * Math.Max(1, Math.Abs(want[i])), $"logit {i}: {logits[i]}, oracle {want[i]}");
    }

    [Theory]
    [InlineData("F32", "transformer.")]
    [InlineData("F32", "")]
    [InlineData("F16", "transformer.")]
    [InlineData("BF16", "")]
    public void Gpt2_EveryDtypeAndPrefix_LogitsMatchOracle(string dtype, string prefix)
    {
        using var dir = new TempDir();
        var m = HfTestFiles.Gpt2(dtype, prefix);
        HfTestFiles.WriteDirectory(dir.Path, m, HfTestFiles.Gpt2Config(m), dtype);
        var (model, tokenizer, arch) = HfModel.Load(dir.Path);
        Assert.Equal(HfArchitecture.Gpt2, arch);
        Assert.Null(tokenizer);
        AssertMatchesOracle(model, m);
    }

    [Fact]
    public void Gpt2_InnerSizeNotFourC_LogitsMatchOracle()
    {
        using var dir = new TempDir();
        var m = HfTestFiles.Gpt2(inner: 20);
        HfTestFiles.WriteDirectory(dir.Path, m, HfTestFiles.Gpt2Config(m));
        AssertMatchesOracle(HfModel.Load(dir.Path).Model, m);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Gpt2_Sharded_LogitsMatchOracle(int shards)
    {
        using var dir = new TempDir();
        var m = HfTestFiles.Gpt2("BF16");
        HfTestFiles.WriteDirectory(dir.Path, m, HfTestFiles.Gpt2Config(m), "BF16", shards);
        Assert.False(File.Exists(dir.File("model.safetensors")));
        AssertMatchesOracle(ModelFiles.Load(dir.Path).Model, m);
    }

    [Theory]
    [InlineData("F32")]
    [InlineData("F16")]
    public void Gpt1_PostNormNoFinalNorm_LogitsMatchOracle(string dtype)
    {
        using var dir = new TempDir();
        var m = HfTestFiles.Gpt2(dtype, gpt1: true);
        HfTestFiles.WriteDirectory(dir.Path, m, HfTestFiles.Gpt2Config(m, gpt1: true), dtype);
        var (model, _, arch) = HfModel.Load(dir.Path);
        Assert.Equal(HfArchitecture.OpenAiGpt, arch);
        AssertMatchesOracle(model, m);
    }

    [Theory]
    [InlineData("F32", true)]
    [InlineData("F32", false)]
    [InlineData("BF16", true)]
    [InlineData("F16", false)]
    public void Llama_RotateHalfLayout_LogitsMatchOracle(string dtype, bool tied)
    {
        using var dir = new TempDir();
        var m = HfTestFiles.Llama(dtype, tied, theta: 500f);
        HfTestFiles.WriteDirectory(dir.Path, m, HfTestFiles.LlamaConfig(m), dtype, shards: tied ? 1 : 2);
        var (model, _, arch) = HfModel.Load(dir.Path);
        Assert.Equal(HfArchitecture.Llama, arch);
        AssertMatchesOracle(model, m);
    }

    [Fact]
    public void RopePermutation_RotateHalfScores_EqualInterleavedScores()
    {
        // HF's LLaMA (apply_rotary_pos_emb with rotate_half) on HF-layout rows gives the same q·k as the pair-rotating
        // RoPE on the oracle-layout rows: the permutation is the right one, in the right direction.
        int HS = 8, C = 5, half = HS / 2;
        var r = new Rng(9);
        double[] Rand(int n) => Enumerable.Range(0, n).Select(_ => r.NextGaussian()).ToArray();
        var wq = Rand(HS * C); var wk = Rand(HS * C); var x = Rand(C); var y = Rand(C);
        var hq = HfTestFiles.PermuteToHf(wq, 1, HS, C); var hk = HfTestFiles.PermuteToHf(wk, 1, HS, C);
        double[] Mul(double[] w, double[] v) => Enumerable.Range(0, HS).Select(o => Enumerable.Range(0, C).Sum(c => w[o * C + c] * v[c])).ToArray();
        double Freq(int i) => Math.Pow(10000, -2.0 * i / HS);
        double[] RotateHalf(double[] v, int pos) // q*cos + rotate_half(q)*sin, cos/sin = cat(freqs, freqs)
        {
            var o = new double[HS];
            for (int i = 0; i < HS; i++)
            {
                double a = pos * Freq(i % half), rot = i < half ? -v[i + half] : v[i - half];
                o[i] = v[i] * Math.Cos(a) + rot * Math.Sin(a);
            }
            return o;
        }
        double[] Pairs(double[] v, int pos)
        {
            var o = new double[HS];
            for (int i = 0; i < half; i++)
            {
                double a = pos * Freq(i);
                o[2 * i] = v[2 * i] * Math.Cos(a) - v[2 * i + 1] * Math.Sin(a);
                o[2 * i + 1] = v[2 * i] * Math.Sin(a) + v[2 * i + 1] * Math.Cos(a);
            }
            return o;
        }
        double Dot(double[] a, double[] b) => a.Zip(b).Sum(z => z.First * z.Second);
        double hf = Dot(RotateHalf(Mul(hq, x), 7), RotateHalf(Mul(hk, y), 3));
        double ours = Dot(Pairs(Mul(wq, x), 7), Pairs(Mul(wk, y), 3));
        Assert.Equal(ours, hf, 1e-10);
    }

    [Fact]
    public void Greedy_ImportedHfGpt2_EqualsSameWeightsWrittenNatively()
    {
        using var dir = new TempDir();
        var m = HfTestFiles.Gpt2();
        string hf = dir.File("hf"), native = dir.File("native");
        HfTestFiles.WriteDirectory(hf, m, HfTestFiles.Gpt2Config(m));
        // The same weights filled into a model natively (from the oracle's layout) and saved as a NextToken checkpoint.
        var model = GptModel.CreateUninitialised(m.Config);
        for (long i = 0; i < m.OracleParameters.Length; i++) model.Parameters[i] = (float)m.OracleParameters[i];
        Checkpoint.Save(native, model);
        var options = new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = 12 };
        var a = new Generator(ModelFiles.LoadModel(hf).Model).Generate([1, 2, 3], options).Best.Tokens;
        var b = new Generator(ModelFiles.LoadModel(native).Model).Generate([1, 2, 3], options).Best.Tokens;
        Assert.Equal(12, a.Count);
        Assert.Equal(b, a);
    }

    [Fact]
    public void ImportCommand_HfDirectory_WritesCheckpointThatSamplesTheSame()
    {
        using var dir = new TempDir();
        var m = HfTestFiles.Gpt2();
        string hf = dir.File("hf"), ck = dir.File("ck");
        HfTestFiles.WriteDirectory(hf, m, HfTestFiles.Gpt2Config(m));
        var imp = CliProcess.Run("import", "--input", hf, "--out", ck);
        Assert.True(imp.Exit == 0, imp.Err);
        Assert.True(File.Exists(Path.Combine(ck, Checkpoint.FileName)));
        var fromHf = CliProcess.Run("sample", "--checkpoint", hf, "--prompt-ids", "1,2,3", "--strategy", "greedy", "--max-new-tokens", "8", "--json");
        var fromCk = CliProcess.Run("sample", "--checkpoint", ck, "--prompt-ids", "1,2,3", "--strategy", "greedy", "--max-new-tokens", "8", "--json");
        Assert.True(fromHf.Exit == 0, fromHf.Err);
        Assert.Equal(CliProcess.LastJson(fromCk.Out).RootElement.GetProperty("tokens").ToString(), CliProcess.LastJson(fromHf.Out).RootElement.GetProperty("tokens").ToString());
    }
    [Fact]
    public void EvalCommand_HfDirectoryAndLlmcFile_GiveTheNativeCheckpointsLoss()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("in.txt"), string.Concat(Enumerable.Repeat("abc cab bca. ", 60)));
        string data = dir.File("data"), hf = dir.File("hf"), native = dir.File("native");
        Assert.Equal(0, CliProcess.Run("prepare", "--input", dir.File("in.txt"), "--tokenizer", "char", "--out", data).Exit);
        var m = HfTestFiles.Gpt2();
        HfTestFiles.WriteDirectory(hf, m, HfTestFiles.Gpt2Config(m));
        var model = GptModel.CreateUninitialised(m.Config);
        for (long i = 0; i < m.OracleParameters.Length; i++) model.Parameters[i] = (float)m.OracleParameters[i];
        Checkpoint.Save(native, model);
        LlmcModel.Save(dir.File("m.bin"), model);
        double Loss(string ck)
        {
            var r = CliProcess.Run("eval", "--checkpoint", ck, "--data", data, "--seq", "16", "--json");
            Assert.True(r.Exit == 0, r.Err);
            return CliProcess.LastJson(r.Out).RootElement.GetProperty("loss").GetDouble();
        }
        double want = Loss(native);
        Assert.Equal(want, Loss(hf));
        Assert.Equal(want, Loss(dir.File("m.bin")));
    }
}
