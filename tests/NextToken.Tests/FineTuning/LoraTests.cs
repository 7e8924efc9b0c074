// LoRA: the adapter equals the materialised W + (α/r)·B·A, its gradients match central differences of the double oracle,
// merging equals the adapter, the PEFT-named file reads back with a spec reader, and a foreign adapter is refused.
using NextToken.FineTuning;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tests.Model;
using NextToken.Tests.Reference;

namespace NextToken.Tests.FineTuning;

public sealed class LoraTests
{
    private static readonly GptConfig Gpt2Like = new() { VocabSize = 13, ContextLength = 12, Layers = 2, Heads = 2, EmbeddingSize = 8, InitStd = 0.3f };
    private static readonly GptConfig LlamaLike = Gpt2Like with
    {
        KvHeads = 1, Mlp = MlpKind.SwiGlu, MlpHiddenSize = 12, NormKind = NormKind.RmsNorm, Positions = PositionEncoding.Rotary, Bias = false, RotaryBase = 100f,
    };

    public static TheoryData<string> Families() => new() { "gpt2", "llama" };
    private static GptConfig Cfg(string family) => family == "gpt2" ? Gpt2Like : LlamaLike;

    private static readonly int[] Inputs = [1, 5, 7, 2, 9, 11, 3, 0, 4, 12];
    private static readonly int[] Targets = [5, 7, 2, 9, 11, 3, 0, 4, 12, 6];

    // An adapter with B non-zero too (a fresh one has B = 0 and changes nothing).
    private static LoraSet Randomised(GptModel model, LoraOptions options, ulong seed = 9)
    {
        var set = LoraSet.Attach(model, options, seed);
        var rng = new Rng(seed, 3);
        foreach (var a in set.Adapters)
            foreach (var s in a.Segments)
                rng.FillNormal(set.Parameters.AsSpan((int)s.B.Offset, (int)s.B.Length), 0f, 0.3f);
        return set;
    }

    private static float[] Logits(GptModel m)
    {
        var l = new float[Inputs.Length * m.VocabSize];
        m.ForwardLogits(Inputs, 1, Inputs.Length, l);
        return l;
    }

    [Theory, MemberData(nameof(Families))]
    public void Forward_EqualsTheMaterialisedWeight(string family)
    {
        var cfg = Cfg(family);
        var model = new GptModel(cfg, 2);
        var set = Randomised(model, new LoraOptions { Rank = 3, Alpha = 5f });
        // Materialise W + (α/r)·B·A by hand (our own loops, not LoraSet.Delta) into a second copy of the base.
        var plain = new GptModel(cfg, 2);
        int r = 3;
        foreach (var a in set.Adapters)
        {
            var w = plain.Parameter(a.Layer.Name + ".weight");
            foreach (var s in a.Segments)
                for (int o = 0; o < s.Rows; o++)
                    for (int i = 0; i < a.Layer.In; i++)
                    {
                        double acc = 0;
                        for (int k = 0; k < r; k++) acc += set.Parameters[s.B.Offset + o * r + k] * set.Parameters[s.A.Offset + k * a.Layer.In + i];
                        w[(s.Row + o) * a.Layer.In + i] += (float)(5.0 / 3 * acc);
                    }
        }
        ModelCoreTests.AssertClose(Logits(plain), Logits(model), 1e-4, family + " lora forward");
        // Segments cover every output row of each adapted fused layer exactly once.
        foreach (var a in set.Adapters) Assert.Equal(a.Layer.Out, a.Segments.Sum(s => s.Rows));
        Assert.Equal(family == "gpt2" ? 4 : 7, set.Adapters.Where(a => a.Layer.Name.StartsWith("h.0.")).Sum(a => a.Segments.Count));
    }

    [Fact]
    public void FreshAdapter_ChangesNothing_AndFreezesTheBase()
    {
        var model = new GptModel(Gpt2Like, 2);
        var before = Logits(model);
        var set = LoraSet.Attach(model, new LoraOptions { Rank = 2 });
        Assert.Equal(before, Logits(model));
        model.EnableGradients();
        Assert.Empty(model.Gradients!);
        foreach (var a in set.Adapters)
            foreach (var s in a.Segments)
            {
                float bound = 1f / MathF.Sqrt(a.Layer.In);
                var A = set.Parameters.AsSpan((int)s.A.Offset, (int)s.A.Length).ToArray();
                Assert.All(A, v => Assert.InRange(v, -bound, bound));
                Assert.True(A.Max() - A.Min() > bound, "A spans its Kaiming-uniform range");
                Assert.All(set.Parameters.AsSpan((int)s.B.Offset, (int)s.B.Length).ToArray(), v => Assert.Equal(0f, v));
            }
    }

    [Theory, MemberData(nameof(Families))]
    public void Gradients_MatchCentralDifferencesOfTheDoubleOracle(string family)
    {
        var cfg = Cfg(family);
        var model = new GptModel(cfg, 4);
        var opts = new LoraOptions { Rank = 2, Alpha = 3f };
        var set = Randomised(model, opts, 5);
        set.ZeroGradients();
        model.Forward(Inputs, Targets, 1, Inputs.Length, computeGradients: true);
        model.Backward();

        double[] baseP = model.Parameters.Select(f => (double)f).ToArray();
        double Objective(double[] lora)
        {
            var p = (double[])baseP.Clone();
            foreach (var a in set.Adapters)
            {
                var w = model.Layout[a.Layer.Name + ".weight"];
                foreach (var s in a.Segments)
                    for (int o = 0; o < s.Rows; o++)
                        for (int i = 0; i < a.Layer.In; i++)
                        {
                            double acc = 0;
                            for (int k = 0; k < opts.Rank; k++) acc += lora[s.B.Offset + o * opts.Rank + k] * lora[s.A.Offset + k * a.Layer.In + i];
                            p[w.Offset + (s.Row + o) * a.Layer.In + i] += opts.Scale * acc;
                        }
            }
            return ReferenceGpt.Loss(cfg, model.Layout, p, Inputs, Targets, 1, Inputs.Length);
        }
        double[] q = set.Parameters.Select(f => (double)f).ToArray();
        int n = 0;
        foreach (var slot in set.Layout.Slots)
        {
            int step = (int)Math.Max(1, slot.Length / 4);
            for (long i = 0; i < slot.Length; i += step)
            {
                long idx = slot.Offset + i;
                double orig = q[idx], h = 1e-5;
                q[idx] = orig + h; double up = Objective(q);
                q[idx] = orig - h; double down = Objective(q);
                q[idx] = orig;
                double fd = (up - down) / (2 * h), an = set.Gradients[idx];
                Assert.True(Math.Abs(fd - an) <= 1e-3 + 2e-2 * Math.Abs(fd), $"{family} {slot.Name}[{i}]: analytic {an}, differences {fd}");
                n++;
            }
        }
        Assert.True(n > 20);
    }

    [Fact]
    public void Dropout_OnlyInTraining_AndItsGradientMatchesTheMaskedForward()
    {
        var model = new GptModel(Gpt2Like, 4);
        var set = Randomised(model, new LoraOptions { Rank = 2, Alpha = 2f, Dropout = 0.3f, Targets = LoraTargets.Qkv });
        var eval = Logits(model);
        set.Training = true;
        var rngBefore = set.DropoutRng;
        var train1 = Logits(model);
        Assert.NotEqual(eval, train1);
        // Same draws give the same output (the mask comes from the set's generator).
        set.DropoutRng = rngBefore;
        Assert.Equal(train1, Logits(model));
        set.Training = false;
        Assert.Equal(eval, Logits(model));
    }

    [Fact]
    public void DropoutGradients_MatchCentralDifferencesWithTheSameMask()
    {
        var model = new GptModel(Gpt2Like, 4);
        var set = Randomised(model, new LoraOptions { Rank = 2, Alpha = 2f, Dropout = 0.5f, Targets = LoraTargets.Qkv | LoraTargets.Fc });
        set.Training = true;
        var start = set.DropoutRng;
        double Loss()
        {
            set.DropoutRng = start; // the same masks every time
            return model.Forward(Inputs, Targets, 1, Inputs.Length);
        }
        set.ZeroGradients();
        set.DropoutRng = start;
        model.Forward(Inputs, Targets, 1, Inputs.Length, computeGradients: true);
        model.Backward();
        var analytic = (float[])set.Gradients.Clone();
        int n = 0;
        foreach (var slot in set.Layout.Slots)
            for (long i = 0; i < slot.Length; i += Math.Max(1, slot.Length / 3))
            {
                long idx = slot.Offset + i;
                float orig = set.Parameters[idx];
                const float h = 1e-2f;
                set.Parameters[idx] = orig + h; double up = Loss();
                set.Parameters[idx] = orig - h; double down = Loss();
                set.Parameters[idx] = orig;
                double fd = (up - down) / (2 * h);
                Assert.True(Math.Abs(fd - analytic[idx]) <= 2e-3 + 5e-2 * Math.Abs(fd), $"{slot.Name}[{i}]: analytic {analytic[idx]}, differences {fd}");
                n++;
            }
        Assert.True(n > 10);
        // The mask matters: without dropout the gradient differs.
        set.Training = false;
        set.ZeroGradients();
        model.Forward(Inputs, Targets, 1, Inputs.Length, computeGradients: true);
        model.Backward();
        Assert.NotEqual(analytic, set.Gradients);
    }

    [Fact]
    public void Trainer_StepsTheAdapters_LeavesTheBaseUntouched_AndSavesTheAdapter()
    {
        var model = new GptModel(Gpt2Like, 4);
        var baseParams = (float[])model.Parameters.Clone();
        var set = LoraSet.Attach(model, new LoraOptions { Rank = 2, Alpha = 4f });
        var before = (float[])set.Parameters.Clone();
        var rng = new Rng(3);
        var tokens = Enumerable.Range(0, 400).Select(i => i % 5 == 0 ? 1 : rng.NextInt(Gpt2Like.VocabSize)).ToArray();
        string dir = Path.Combine(Path.GetTempPath(), "nt-lora-" + Guid.NewGuid().ToString("N"));
        try
        {
            var options = new NextToken.Training.TrainOptions { BatchSize = 4, SequenceLength = 8, Iterations = 30, LearningRate = 1e-2f, WarmupIterations = 2, EvalInterval = 0, EvalIterations = 1 }.Validate();
            var loader = new NextToken.Data.BatchLoader(tokens, 4, 8, NextToken.Data.BatchOrder.Random, 1);
            var trainer = new NextToken.Training.Trainer(model, loader, null, options, dir);
            trainer.Extra = new NextToken.Training.ExtraParameters(set.Layout, set.Parameters, set.Gradients) { Save = d => set.Save(d) };
            double first = model.Forward(tokens.AsSpan(0, 32), tokens.AsSpan(1, 32), 4, 8);
            trainer.Run();
            double last = model.Forward(tokens.AsSpan(0, 32), tokens.AsSpan(1, 32), 4, 8);
            Assert.True(last < first, $"loss {first} → {last}");
            Assert.Equal(baseParams, model.Parameters);
            Assert.NotEqual(before, set.Parameters);
            Assert.True(File.Exists(Path.Combine(dir, LoraSet.WeightsFileName)));
            var fresh = new GptModel(Gpt2Like, 4);
            LoraSet.Load(dir, fresh);
            ModelCoreTests.AssertClose(Logits(model), Logits(fresh), 1e-6, "adapter saved by the trainer");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Theory, MemberData(nameof(Families))]
    public void Merge_EqualsTheAdapter(string family)
    {
        var cfg = Cfg(family);
        var model = new GptModel(cfg, 6);
        var set = Randomised(model, new LoraOptions { Rank = 4, Alpha = 8f });
        var adapted = Logits(model);
        set.Merge();
        Assert.All(model.Linears, l => Assert.Null(l.Adapter));
        ModelCoreTests.AssertClose(adapted, Logits(model), 1e-5, family + " merged");
    }

    [Theory, MemberData(nameof(Families))]
    public void SavedFile_HasPeftNames_ReadsBackWithASpecReader_AndLoadsToTheSameLogits(string family)
    {
        var cfg = Cfg(family);
        string dir = Path.Combine(Path.GetTempPath(), "nt-lora-" + Guid.NewGuid().ToString("N"));
        try
        {
            var model = new GptModel(cfg, 7);
            var set = Randomised(model, new LoraOptions { Rank = 2, Alpha = 4f, Targets = LoraTargets.All });
            var adapted = Logits(model);
            set.Save(dir);

            var file = new SpecSafeTensorsReader(Path.Combine(dir, LoraSet.WeightsFileName));
            Assert.Equal(LoraSet.Fingerprint(model), file.Metadata["nexttoken_base_fingerprint"]);
            string[] expected = family == "gpt2"
                ? ["transformer.h.1.attn.c_attn", "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_fc", "transformer.h.1.mlp.c_proj"]
                : ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.k_proj", "model.layers.1.self_attn.v_proj", "model.layers.1.self_attn.o_proj",
                   "model.layers.1.mlp.gate_proj", "model.layers.1.mlp.up_proj", "model.layers.1.mlp.down_proj"];
            foreach (var m in expected)
            {
                Assert.Contains("base_model.model." + m + ".lora_A.weight", file.Tensors.Keys);
                Assert.Contains("base_model.model." + m + ".lora_B.weight", file.Tensors.Keys);
            }
            Assert.Equal(cfg.Layers * expected.Length * 2, file.Tensors.Count);
            var qkvB = family == "gpt2" ? file.Tensors["base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"] : file.Tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"];
            Assert.Equal(family == "gpt2" ? new long[] { cfg.QkvSize, 2 } : new long[] { cfg.Heads * cfg.HeadSize, 2 }, qkvB.Shape);
            Assert.Equal(new long[] { 2, cfg.EmbeddingSize }, file.Tensors[(family == "gpt2" ? "base_model.model.transformer.h.0.attn.c_attn" : "base_model.model.model.layers.0.self_attn.q_proj") + ".lora_A.weight"].Shape);

            // The file's values, applied by hand with PEFT's convention (W_hf += α/r·B·A in HF row order), reproduce our delta:
            // for LLaMA q/k the rows are in rotate-half order (HF row h·hs + j·hs/2 + i is our row h·hs + 2i + j).
            var ours = set.Adapters[0].Segments[0];
            var delta = set.Delta(ours, cfg.EmbeddingSize);
            var A = file.Tensors["base_model.model." + (family == "gpt2" ? "transformer.h.0.attn.c_attn" : "model.layers.0.self_attn.q_proj") + ".lora_A.weight"].Values;
            int hs = cfg.HeadSize, half = hs / 2, C = cfg.EmbeddingSize;
            for (int hfRow = 0; hfRow < ours.Rows; hfRow++)
            {
                int ourRow = hfRow;
                if (family == "llama") { int h = hfRow / hs, j = hfRow % hs / half, i = hfRow % half; ourRow = h * hs + 2 * i + j; }
                for (int c = 0; c < C; c++)
                {
                    double d = 0;
                    for (int k = 0; k < 2; k++) d += qkvB.Values[hfRow * 2 + k] * A[k * C + c];
                    Assert.Equal(delta[ourRow * C + c], 2.0 * d, 5);
                }
            }
            var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, LoraSet.ConfigFileName)))!;
            Assert.Equal("LORA", (string?)config["peft_type"]);
            Assert.Equal(2, (int)config["r"]!);
            Assert.Equal(4f, (float)config["lora_alpha"]!);

            var fresh = new GptModel(cfg, 7);
            LoraSet.Load(dir, fresh);
            ModelCoreTests.AssertClose(adapted, Logits(fresh), 1e-6, family + " loaded adapter");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void AdapterForAnotherBase_IsAOneLineError()
    {
        string dir = Path.Combine(Path.GetTempPath(), "nt-lora-" + Guid.NewGuid().ToString("N"));
        try
        {
            LoraSet.Attach(new GptModel(Gpt2Like, 7), new LoraOptions { Rank = 2 }).Save(dir);
            // Same shapes, other weights: the fingerprint.
            var e = Assert.Throws<InvalidDataException>(() => LoraSet.Load(dir, new GptModel(Gpt2Like, 8)));
            Assert.Contains("adapter was made for another base", e.Message);
            Assert.Contains(LoraSet.ConfigFileName, e.Message);
            Assert.DoesNotContain('\n', e.Message);
            // Without a fingerprint (a PEFT file), other shapes: the tensor's shape.
            string cfgPath = Path.Combine(dir, LoraSet.ConfigFileName);
            var cfg = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(cfgPath))!.AsObject();
            cfg.Remove("nexttoken");
            File.WriteAllText(cfgPath, cfg.ToJsonString());
            var wider = new GptModel(Gpt2Like with { EmbeddingSize = 12 }, 7);
            var e2 = Assert.Throws<InvalidDataException>(() => LoraSet.Load(dir, wider));
            Assert.Contains("has shape (2, 8), this base needs (2, 12)", e2.Message);
            Assert.Contains(LoraSet.WeightsFileName, e2.Message);
            Assert.DoesNotContain('\n', e2.Message);
            Assert.All(wider.Linears, l => Assert.Null(l.Adapter));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
