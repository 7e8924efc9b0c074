// Supervised fine-tuning: the loss mask against a hand-computed loss, packed against unpacked rows (loss and gradients),
// best-fit-decreasing on a worked example, truncation, vocabulary growth, the instruction tasks, resumable row order,
// and bad input with file and line.
using NextToken.Chat;
using NextToken.Data;
using NextToken.FineTuning;
using NextToken.Model;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Tests.FineTuning;

public sealed class SftTests
{
    private static readonly CharTokenizer Chars = CharTokenizer.FromText("abcdefgh xyz");

    private static GptModel Tiny(int vocab, int context = 16) =>
        new(new GptConfig { VocabSize = vocab, ContextLength = context, Layers = 2, Heads = 2, EmbeddingSize = 16 }, 7);

    [Fact]
    public void MaskedLoss_EqualsTheLossOverCompletionTargetsComputedByHand()
    {
        var data = SftDataset.Parse(["""{"prompt": "abc", "completion": "de"}"""], "mem", Chars, ChatTemplate.ChatMl, false, 17);
        var ex = data.Examples[0];
        // Char vocabulary without end-of-text: tokens a b c d e; trained d, e.
        Assert.Equal([false, false, false, true, true], ex.Trained);
        var rows = SftBatches.Create(data.Examples, 1, 16, packing: false, seed: 1);
        int T = 16;
        var inputs = new int[T]; var targets = new int[T]; var weights = new float[T];
        rows.Next(inputs, targets, weights, []);
        // Targets at positions 2 (c → d) and 3 (d → e) count; nothing else (padding included).
        Assert.Equal([0f, 0f, 1f, 1f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f], weights);
        var model = Tiny(Chars.VocabSize);
        var logits = new float[T * Chars.VocabSize];
        model.ForwardLogits(inputs, 1, T, logits);
        double Nll(int t)
        {
            var row = logits.AsSpan(t * Chars.VocabSize, Chars.VocabSize);
            double max = row.ToArray().Max(), sum = row.ToArray().Sum(v => Math.Exp(v - max));
            return -(row[targets[t]] - max - Math.Log(sum));
        }
        double byHand = (Nll(2) + Nll(3)) / 2;
        Assert.Equal(byHand, model.Forward(inputs, targets, 1, T, false, 1f, weights), 4);
    }

    [Fact]
    public void PackedRows_GiveTheSameLossAndGradientsAsOneExamplePerRow()
    {
        string[] lines = ["""{"prompt": "ab", "completion": "cde"}""", """{"prompt": "x", "completion": "yz"}""", """{"prompt": "hgf", "completion": "e"}"""];
        var data = SftDataset.Parse(lines, "mem", Chars, ChatTemplate.ChatMl, false, 17);
        int T = 16;
        var unpacked = SftBatches.Create(data.Examples, 3, T, packing: false, seed: 1);
        var packed = SftBatches.Create(data.Examples, 1, T, packing: true, seed: 1);
        Assert.Equal(1, packed.Rows);
        Assert.Equal(unpacked.TrainedTargets, packed.TrainedTargets);
        (double Sum, double Weight, float[] Grad) Run(SftBatches b, int B)
        {
            var model = Tiny(Chars.VocabSize);
            var inp = new int[B * T]; var tgt = new int[B * T]; var w = new float[B * T]; var docs = new int[B * T];
            b.Next(inp, tgt, w, docs);
            model.EnableGradients();
            model.ZeroGradients();
            var s = model.ForwardSum(inp, tgt, B, T, true, 1f, w, new BatchLayout { DocumentIds = b.HasDocuments ? docs : [] });
            model.Backward();
            return (s.Sum, s.Weight, model.Gradients!.ToArray());
        }
        var a = Run(unpacked, 3);
        var p = Run(packed, 1);
        Assert.Equal(a.Weight, p.Weight);
        Assert.Equal(a.Sum, p.Sum, 4);
        for (int i = 0; i < a.Grad.Length; i++) Assert.True(Math.Abs(a.Grad[i] - p.Grad[i]) <= 1e-4f + 1e-3f * Math.Abs(a.Grad[i]), $"gradient {i}: {a.Grad[i]} vs {p.Grad[i]}");
    }

    [Fact]
    public void TrainableTokens_OnlyTheChosenRowsMove_UnderWeightDecay()
    {
        string[] lines = ["""{"prompt": "ab", "completion": "c"}""", """{"prompt": "x", "completion": "yzabc"}""",
                          """{"prompt": "hgf", "completion": "ea"}""", """{"prompt": "zz", "completion": "abcd"}"""];
        var data = SftDataset.Parse(lines, "mem", Chars, ChatTemplate.ChatMl, false, 17);
        const int T = 16;
        var model = Tiny(Chars.VocabSize);
        model.Freeze(_ => true);
        int[] ids = [2, 5, Chars.VocabSize - 1]; // a middle row, its neighbours' runs, and the last row
        var tokens = TrainableTokens.Attach(model, ids);
        Assert.Equal(3L * model.Config.EmbeddingSize, tokens.TrainableParameters);
        float[] before = (float[])model.Parameters.Clone();
        var o = new TrainOptions { BatchSize = 2, SequenceLength = T, Iterations = 3, WarmupIterations = 0, LearningRate = 1e-2f,
                                   MinLearningRate = 1e-2f, WeightDecay = 0.5f, EvalInterval = 0 };
        var trainer = new Trainer(model, SftBatches.Create(data.Examples, 2, T, packing: false, seed: 5), null, o);
        tokens.Hook(trainer);
        trainer.Run();
        var wte = model.Layout["wte.weight"];
        int C = model.Config.EmbeddingSize;
        for (int row = 0; row < model.Config.VocabSize; row++)
        {
            bool moved = false;
            for (int c = 0; c < C; c++) moved |= model.Parameters[wte.Offset + row * C + c] != before[wte.Offset + row * C + c];
            Assert.True(moved == ids.Contains(row), $"row {row}: moved {moved}");
        }
        // Every other tensor is untouched.
        for (long i = 0; i < before.Length; i++)
            if (i < wte.Offset || i >= wte.Offset + wte.Length) Assert.Equal(before[i], model.Parameters[i]);
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainableTokens.Attach(model, [model.Config.VocabSize]));
    }

    [Fact]
    public void GradientAccumulation_CountsMaskedTargetsExactly_AcrossMicroBatches()
    {
        // Trained targets per example: 1, 5, 2, 4 — unequal, so a mean of per-micro-batch means would differ.
        string[] lines = ["""{"prompt": "ab", "completion": "c"}""", """{"prompt": "x", "completion": "yzabc"}""",
                          """{"prompt": "hgf", "completion": "ea"}""", """{"prompt": "zz", "completion": "abcd"}"""];
        var data = SftDataset.Parse(lines, "mem", Chars, ChatTemplate.ChatMl, false, 17);
        int T = 16;
        // By hand: every row once (one epoch = one optimizer step), summed NLL over summed weights.
        var byRow = SftBatches.Create(data.Examples, 1, T, packing: false, seed: 5);
        var reference = Tiny(Chars.VocabSize);
        var inp = new int[T]; var tgt = new int[T]; var w = new float[T];
        var rows = new List<LossSum>();
        for (int r = 0; r < 4; r++)
        {
            byRow.Next(inp, tgt, w, []);
            rows.Add(reference.ForwardSum(inp, tgt, 1, T, false, 1f, w, default));
        }
        double exact = rows.Sum(r => r.Sum) / rows.Sum(r => r.Weight);
        double naive = ((rows[0].Sum + rows[1].Sum) / (rows[0].Weight + rows[1].Weight) + (rows[2].Sum + rows[3].Sum) / (rows[2].Weight + rows[3].Weight)) / 2;
        Assert.True(Math.Abs(exact - naive) > 1e-3, "the examples must tell the exact mean from a mean of micro-batch means");
        (float Loss, float Norm) Step(int batch, int accumulation)
        {
            var model = Tiny(Chars.VocabSize);
            var o = new TrainOptions { BatchSize = batch, SequenceLength = T, GradientAccumulation = accumulation, Iterations = 1, WarmupIterations = 0,
                                       LearningRate = 1e-3f, MinLearningRate = 1e-3f, WeightDecay = 0, EvalInterval = 0 };
            var trainer = new Trainer(model, SftBatches.Create(data.Examples, batch, T, packing: false, seed: 5), null, o);
            TrainProgress? first = null;
            trainer.Progress += p => first ??= p;
            trainer.Run();
            return (first!.Loss, first.GradNorm);
        }
        var whole = Step(4, 1);
        var accumulated = Step(2, 2);
        Assert.Equal(exact, whole.Loss, 4);
        Assert.Equal(exact, accumulated.Loss, 4);
        Assert.Equal(whole.Norm, accumulated.Norm, 4);
    }

    [Fact]
    public void BestFitDecreasing_WorkedExample()
    {
        // Lengths 6, 5, 4, 3, 2 into rows of 8 slots: 6 → row 0 (room 2), 5 → row 1 (3), 4 → row 2 (4), 3 → row 1 (best fit,
        // room 0), 2 → row 0 (room 0): three rows, 20 of 24 slots used.
        var ex = new[] { 6, 5, 4, 3, 2 }.Select(n => new SftExample([.. Enumerable.Repeat(1, n)], [.. Enumerable.Repeat(true, n)])).ToList();
        var rows = SftBatches.Create(ex, 3, 7, packing: true, seed: 1);
        Assert.Equal(3, rows.Rows);
        Assert.Equal(20 / 24.0, rows.PackingEfficiency, 10);
        var inp = new int[21]; var tgt = new int[21]; var w = new float[21]; var docs = new int[21];
        rows.Next(inp, tgt, w, docs);
        // Every row's trained targets: each example of n tokens gives n − 1 (boundary targets are masked).
        Assert.Equal(5 + 4 + 3 + 2 + 1, (int)w.Sum());
    }

    [Fact]
    public void LongPrompt_IsCutFromTheLeft_AndCounted()
    {
        var data = SftDataset.Parse(["""{"prompt": "abcdefgh", "completion": "xyz"}"""], "mem", Chars, ChatTemplate.ChatMl, false, 6);
        Assert.Equal(1, data.Truncated);
        Assert.Equal(Chars.Encode("fghxyz"), data.Examples[0].Tokens);
        Assert.Equal([false, false, false, true, true, true], data.Examples[0].Trained);
        var all = SftDataset.Parse(["""{"text": "abcdefgh"}"""], "mem", Chars, ChatTemplate.ChatMl, false, 4);
        Assert.Equal(Chars.Encode("abcd"), all.Examples[0].Tokens); // text examples keep their start
    }

    [Fact]
    public void Messages_TrainOnlyAssistantRepliesAndTheirEndMarker()
    {
        var tok = SpecialTokensTokenizer.Create(TokenizerFactory.Create("gpt2"), ChatTemplate.ChatMl.SpecialTokens);
        var data = SftDataset.Parse(["""{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}"""], "mem", tok, ChatTemplate.ChatMl, false, 64);
        var e = data.Examples[0];
        string trained = tok.Decode(e.Tokens.Where((_, i) => e.Trained[i]).ToArray());
        Assert.Equal("hello<|im_end|>", trained);
        var onPrompt = SftDataset.Parse(["""{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}"""], "mem", tok, ChatTemplate.ChatMl, true, 64);
        Assert.All(onPrompt.Examples[0].Trained, Assert.True);
    }

    [Fact]
    public void VocabularyGrowth_NewRowsAtTheMeanEmbedding_OldLogitsUnchanged()
    {
        var model = Tiny(13);
        var grown = VocabularyGrowth.Grow(model, 15);
        int C = 16;
        var wte = model.Parameter("wte.weight");
        var g = grown.Parameter("wte.weight");
        for (int c = 0; c < C; c++)
        {
            double mean = 0;
            for (int v = 0; v < 13; v++) mean += wte[v * C + c];
            Assert.Equal(mean / 13, g[14 * C + c], 5);
        }
        int[] x = [1, 2, 3, 4];
        var a = new float[4 * 13]; var b = new float[4 * 15];
        model.ForwardLogits(x, 1, 4, a);
        grown.ForwardLogits(x, 1, 4, b);
        for (int t = 0; t < 4; t++)
            for (int v = 0; v < 13; v++) Assert.Equal(a[t * 13 + v], b[t * 15 + v], 5);
    }

    [Fact]
    public void TrainableParameters_DropFrozenTensors_AndAddExtra()
    {
        var model = Tiny(Chars.VocabSize);
        Assert.Equal(model.ParameterCount, SupervisedFineTuning.TrainableParameters(model));
        var frozen = model.Layout.Slots.Where(s => s.Name.StartsWith("h.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(frozen);
        model.Freeze(s => s.Name.StartsWith("h.", StringComparison.Ordinal));
        Assert.Equal(model.ParameterCount - frozen.Sum(s => s.Length) + 7, SupervisedFineTuning.TrainableParameters(model, 7));
    }

    [Fact]
    public void InstructionTasks_HeldOutIsDisjoint_AndPluralAnswersAreGrammatical()
    {
        var (train, held) = InstructionTasks.Build();
        Assert.Equal(InstructionTasks.TrainCount, train.Count);
        Assert.Equal(InstructionTasks.HeldOutCount, held.Count);
        var prompts = train.Select(e => e.Prompt).ToHashSet();
        Assert.DoesNotContain(held, e => prompts.Contains(e.Prompt));
        Assert.Equal(InstructionTasks.Tasks.ToHashSet(), held.Select(e => e.Task).ToHashSet());
        foreach (var e in held.Where(e => e.Task == "plural"))
        {
            Assert.True(GrammarCorpus.IsGrammatical(e.Prompt["make it plural: ".Length..]), e.Prompt);
            Assert.True(GrammarCorpus.IsGrammatical(e.Answer), e.Answer);
        }
        var negate = held.First(e => e.Task == "negate");
        Assert.Contains(" does not ", negate.Answer);
        var who = held.First(e => e.Task == "who");
        Assert.StartsWith(who.Answer[..^1], who.Prompt);   // the answer is the sentence's subject
        Assert.EndsWith("?", held.First(e => e.Task == "question").Answer);
    }

    [Fact]
    public void RowOrder_ResumesExactlyFromItsState()
    {
        var ex = Enumerable.Range(1, 9).Select(n => new SftExample([.. Enumerable.Range(0, n % 5 + 2)], [.. Enumerable.Repeat(true, n % 5 + 2)])).ToList();
        var a = SftBatches.Create(ex, 4, 8, false, 3);
        var buf = new int[32]; var t = new int[32]; var w = new float[32];
        a.Next(buf, t, w, []); a.Next(buf, t, w, []);
        var state = a.State;
        a.Next(buf, t, w, []);
        var expected = buf.ToArray();
        var b = SftBatches.Create(ex, 4, 8, false, 3);
        b.Restore(state);
        b.Next(buf, t, w, []);
        Assert.Equal(expected, buf);
    }

    [Theory]
    [InlineData("{\"prompt\": \"a\"", "data.jsonl:2: not valid JSON")]
    [InlineData("{\"question\": \"a\"}", "data.jsonl:2: expected {\"text\"}, {\"prompt\",\"completion\"} or {\"messages\"}")]
    [InlineData("{\"prompt\": \"a\"}", "data.jsonl:2: missing string field \"completion\"")]
    [InlineData("{\"text\": \"abc\"}", "data.jsonl:2: this line is text but earlier lines are prompt-completion")]
    public void BadLines_NameTheFileAndLine(string second, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() =>
            SftDataset.Parse(["""{"prompt": "ab", "completion": "c"}""", second], "data.jsonl", Chars, ChatTemplate.ChatMl, false, 17));
        Assert.StartsWith(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void UnknownRole_NamesTheFileLineAndMessage()
    {
        var e = Assert.Throws<InvalidDataException>(() => SftDataset.Parse(
            ["""{"messages": [{"role": "user", "content": "x"}]}""", """{"messages": [{"role": "user", "content": "x"}, {"role": "robot", "content": "y"}]}"""],
            "chat.jsonl", SpecialTokensTokenizer.Create(CharTokenizer.FromText("abcdefghijklmnopqrstuvwxyz \n"), ChatTemplate.ChatMl.SpecialTokens), ChatTemplate.ChatMl, false, 64));
        Assert.Equal("chat.jsonl:2: message 1 has unknown role 'robot' (expected system, user or assistant)", e.Message);
    }

    [Fact]
    public void TextTheVocabularyCannotEncode_NamesTheLine()
    {
        var e = Assert.Throws<InvalidDataException>(() => SftDataset.Parse(["""{"text": "abc"}""", """{"text": "ABC"}"""], "t.jsonl", Chars, ChatTemplate.ChatMl, false, 17));
        Assert.StartsWith("t.jsonl:2: ", e.Message);
    }

    [Fact]
    public void EmptyDataset_IsAnError()
    {
        var e = Assert.Throws<InvalidDataException>(() => SftDataset.Parse(["", "  "], "empty.jsonl", Chars, ChatTemplate.ChatMl, false, 17));
        Assert.StartsWith("empty.jsonl: no examples", e.Message);
    }
}
