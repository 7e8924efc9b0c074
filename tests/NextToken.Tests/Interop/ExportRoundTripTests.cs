// Exports and round trips: ours → hf → ours and ours → llm.c → ours are bit-exact in fp32; f16/bf16 store the rounded
// values; tokenizers survive; the exported names and shapes are Hugging Face's.
using NextToken.Generation;
using NextToken.Interop;
using NextToken.Model;
using NextToken.Tests.Cli;
using NextToken.Tests.Data;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Tests.Interop;

public sealed class ExportRoundTripTests
{
    internal static readonly GptConfig Gpt2Shape = new() { VocabSize = 37, ContextLength = 16, Layers = 2, Heads = 2, EmbeddingSize = 16 };
    internal static readonly GptConfig LlamaShape = new()
    {
        VocabSize = 41, ContextLength = 16, Layers = 2, Heads = 4, KvHeads = 2, EmbeddingSize = 16, MlpHiddenSize = 24, Mlp = MlpKind.SwiGlu,
        NormKind = NormKind.RmsNorm, Positions = PositionEncoding.Rotary, Bias = false, LayerNormEpsilon = 1e-6f, RotaryBase = 1000f,
    };

    public static TheoryData<string, GptConfig> Shapes => new()
    {
        { "gpt2", Gpt2Shape },
        { "gpt2-untied-inner", Gpt2Shape with { TiedEmbeddings = false, MlpHiddenSize = 40 } },
        { "gpt1", Gpt2Shape with { Norm = NormPlacement.Post } },
        { "llama-tied", LlamaShape },
        { "llama-untied-bias", LlamaShape with { TiedEmbeddings = false, Bias = true } },
    };

    private static GptModel Random(GptConfig cfg, ulong seed = 11)
    {
        var m = new GptModel(cfg with { InitStd = 0.3f }, seed);
        return m;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Hf_F32_RoundTripIsBitExact(string name, GptConfig cfg)
    {
        using var dir = new TempDir();
        var model = Random(cfg);
        HfExport.Save(dir.Path, model, null, "f32");
        var back = ModelFiles.LoadModel(dir.Path).Model;
        Assert.Equal(model.Config with { InitStd = 0.02f }, back.Config with { InitStd = 0.02f });
        Assert.True(model.Parameters.AsSpan().SequenceEqual(back.Parameters), name);
    }

    [Theory]
    [InlineData("f16", "F16")]
    [InlineData("bf16", "BF16")]
    public void Hf_HalfDtypes_StoreRoundedValues(string dtype, string st)
    {
        using var dir = new TempDir();
        var model = Random(LlamaShape);
        HfExport.Save(dir.Path, model, null, dtype);
        using (var f = SafeTensorsFile.Open(dir.File("model.safetensors")))
            Assert.All(f.Tensors.Values, t => Assert.Equal(st, t.Dtype));
        var back = ModelFiles.LoadModel(dir.Path).Model;
        for (int i = 0; i < model.Parameters.Length; i++)
            Assert.Equal((float)HfTestFiles.Round(model.Parameters[i], st), back.Parameters[i]);
    }

    [Fact]
    public void Hf_Gpt2Export_HasHuggingFaceNamesShapesAndConfig()
    {
        using var dir = new TempDir();
        HfExport.Save(dir.Path, Random(Gpt2Shape), null);
        using var f = SafeTensorsFile.Open(dir.File("model.safetensors"));
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal([16L, 48L], f.Get("transformer.h.0.attn.c_attn.weight").Shape); // Conv1D (in, out)
        Assert.Equal([16L, 64L], f.Get("transformer.h.1.mlp.c_fc.weight").Shape);
        Assert.Equal([37L, 16L], f.Get("transformer.wte.weight").Shape);           // real vocabulary, padding dropped
        Assert.False(f.Tensors.ContainsKey("lm_head.weight"));                       // tied
        string config = File.ReadAllText(dir.File("config.json"));
        Assert.Contains("\"GPT2LMHeadModel\"", config);
        Assert.Contains("\"gelu_new\"", config);
        Assert.True(File.Exists(dir.File("generation_config.json")));
    }

    [Fact]
    public void Hf_LlamaExport_HasRotateHalfRows()
    {
        using var dir = new TempDir();
        var model = Random(LlamaShape);
        HfExport.Save(dir.Path, model, null);
        using var f = SafeTensorsFile.Open(dir.File("model.safetensors"));
        var k = new float[8 * 16];
        f.Read("model.layers.0.self_attn.k_proj.weight", k);
        // Our k rows start after the 16 query rows; HF's k row = PermuteToHf of ours.
        var ours = model.Parameter("h.0.attn.c_attn.weight").Slice(16 * 16, 8 * 16).ToArray().Select(v => (double)v).ToArray();
        var want = HfTestFiles.PermuteToHf(ours, 2, 8, 16);
        Assert.Equal(want.Select(v => (float)v), k);
        Assert.Contains("\"LlamaForCausalLM\"", File.ReadAllText(dir.File("config.json")));
    }

    [Fact]
    public void Hf_TrainedBpeTokenizer_SurvivesExport()
    {
        using var dir = new TempDir();
        string text = string.Concat(Enumerable.Repeat("the cat sat on the mat. The dog ate 12 bones! ", 40));
        var tok = BpeTrainer.Train(text, new BpeTrainerOptions { VocabSize = 300, Threads = 1 }).Tokenizer;
        var model = Random(Gpt2Shape with { VocabSize = tok.VocabSize });
        HfExport.Save(dir.Path, model, tok);
        foreach (var f in new[] { "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json" }) Assert.True(File.Exists(dir.File(f)), f);
        var back = ModelFiles.LoadModel(dir.Path).Tokenizer!;
        Assert.Equal(tok.VocabSize, back.VocabSize);
        Assert.Equal(tok.EndOfTextId, back.EndOfTextId);
        foreach (string s in new[] { "", "the cat", " The dog ate 1234 bones!<|endoftext|>x", "héllo wörld 🙂", "?\n\n  mat." })
        {
            Assert.Equal(tok.Encode(s), back.Encode(s));
            Assert.Equal(tok.Decode(tok.Encode(s)), back.Decode(back.Encode(s)));
        }
    }

    [Fact]
    public void ExportCommand_Hf_ThenSampleGivesSameTokens()
    {
        using var dir = new TempDir();
        var model = Random(Gpt2Shape);
        Checkpoint.Save(dir.File("ck"), model);
        var r = CliProcess.Run("export", "--checkpoint", dir.File("ck"), "--format", "hf", "--out", dir.File("hf"));
        Assert.True(r.Exit == 0, r.Err);
        var options = new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = 10 };
        var a = new Generator(model).Generate([1, 2], options).Best.Tokens;
        var b = new Generator(ModelFiles.LoadModel(dir.File("hf")).Model).Generate([1, 2], options).Best.Tokens;
        Assert.Equal(a, b);
    }

    [Fact]
    public void Llmc_F32_RoundTripIsBitExact_Bf16Rounded()
    {
        using var dir = new TempDir();
        var model = Random(Gpt2Shape with { VocabSize = 130 }); // llm.c pads to 256, we to 192
        LlmcModel.Save(dir.File("m.bin"), model);
        Assert.Equal(1024 + 4L * (256 * 16 + 16 * 16 + 2 * (12 * 16 * 16 + 13 * 16) + 2 * 16), new FileInfo(dir.File("m.bin")).Length);
        var back = ModelFiles.LoadModel(dir.File("m.bin")).Model;
        Assert.Equal(model.Config with { InitStd = 0.02f }, back.Config);
        Assert.True(model.Parameters.AsSpan().SequenceEqual(back.Parameters));
        LlmcModel.Save(dir.File("b.bin"), model, bf16: true);
        var bf = LlmcModel.Load(dir.File("b.bin"));
        for (int i = 0; i < model.Parameters.Length; i++) Assert.Equal((float)HfTestFiles.Round(model.Parameters[i], "BF16"), bf.Parameters[i]);
    }

    [Fact]
    public void Llmc_FileWrittenFromItsLayout_LogitsMatchOracle()
    {
        // A test-only llm.c writer from train_gpt2.c's layout: header ints, then wte (Vp, C), wpe, and per tensor kind all layers.
        using var dir = new TempDir();
        var m = HfTestFiles.Gpt2(vocab: 23);
        var cfg = m.Config;
        int C = cfg.EmbeddingSize, V = cfg.VocabSize, Vp = 128, L = cfg.Layers;
        using (var w = new BinaryWriter(File.Create(dir.File("gpt2.bin"))))
        {
            var header = new int[256];
            header[0] = 20240326; header[1] = 3; header[2] = cfg.ContextLength; header[3] = V; header[4] = L; header[5] = cfg.Heads; header[6] = C; header[7] = Vp;
            foreach (int h in header) w.Write(h);
            void Tensor(string name, long count)
            {
                var s = m.Layout[name];
                for (long i = 0; i < count; i++) w.Write(i < s.Length ? (float)m.OracleParameters[s.Offset + i] : 0f);
            }
            Tensor("wte.weight", (long)Vp * C);
            Tensor("wpe.weight", cfg.ContextLength * C);
            foreach (string n in new[] { "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
                                         "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias" })
                for (int l = 0; l < L; l++) Tensor($"h.{l}.{n}", m.Layout[$"h.{l}.{n}"].Length);
            Tensor("ln_f.weight", C);
            Tensor("ln_f.bias", C);
        }
        HfImportTests.AssertMatchesOracle(ModelFiles.LoadModel(dir.File("gpt2.bin")).Model, m);
    }

    [Fact]
    public void LlmcTokenizer_RoundTripsEveryTokenAndEndOfText()
    {
        using var dir = new TempDir();
        var tok = TiktokenEncoding.Gpt2;
        LlmcTokenizerFile.Save(dir.File("tok.bin"), tok);
        var (tokens, eot) = LlmcTokenizerFile.Load(dir.File("tok.bin"));
        Assert.Equal(50257, tokens.Length);
        Assert.Equal(50256, eot);
        for (int i = 0; i < tokens.Length; i++) Assert.True(tok.TokenBytes(i).SequenceEqual(tokens[i]), $"token {i}");
    }

    [Fact]
    public void ExportCommand_Llmc_WritesModelAndTokenizer()
    {
        using var dir = new TempDir();
        var text = string.Concat(Enumerable.Repeat("a b c abc ", 30));
        var tok = BpeTrainer.Train(text, new BpeTrainerOptions { VocabSize = 260, Threads = 1 }).Tokenizer;
        var model = Random(Gpt2Shape with { VocabSize = tok.VocabSize });
        Checkpoint.Save(dir.File("ck"), model, tokenizer: tok);
        var r = CliProcess.Run("export", "--checkpoint", dir.File("ck"), "--format", "llmc", "--out", dir.File("out"));
        Assert.True(r.Exit == 0, r.Err);
        Assert.True(model.Parameters.AsSpan().SequenceEqual(LlmcModel.Load(dir.File("out/model.bin")).Parameters));
        Assert.Equal(tok.VocabSize, LlmcTokenizerFile.Load(dir.File("out/tokenizer.bin")).Tokens.Length);
    }
}
