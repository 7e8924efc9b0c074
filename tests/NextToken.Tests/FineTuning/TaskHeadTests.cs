// GPT-1 task heads: each input transformation on a worked example, left truncation, the built-in sets' labels, one-line
// errors for bad records, and a small model trained, saved and loaded back (full and LoRA).
using NextToken.Data;
using NextToken.FineTuning;
using NextToken.Model;
using NextToken.Tests.Data;
using NextToken.Tokenization;

namespace NextToken.Tests.FineTuning;

public sealed class TaskHeadTests
{
    private static readonly CharTokenizer Chars = CharTokenizer.FromText("abcdefghijklmnopqrstuvwxyz .");
    private static readonly GptConfig Tiny = new() { VocabSize = Chars.VocabSize, ContextLength = 24, Layers = 1, Heads = 2, EmbeddingSize = 16 };

    private static TaskHeadModel Untrained(TaskHeadSpec spec, LoraOptions? lora = null)
    {
        var (model, tok) = TaskHeadModel.WithTaskTokens(new GptModel(Tiny, 3), Chars);
        var set = lora is null ? null : LoraSet.Attach(model, lora);
        return new TaskHeadModel(model, tok, new NextToken.Model.Heads.LinearHead(16, spec.HeadOutputs, 5, name: "score"), spec with { Width = 16 }, set);
    }

    private static int[] Ids(string s) => Chars.Encode(s);

    [Fact]
    public void TaskTokens_AreNewIds_WithMeanEmbeddingRows()
    {
        var baseModel = new GptModel(Tiny, 3);
        var (model, tok) = TaskHeadModel.WithTaskTokens(baseModel, Chars);
        int V = Chars.VocabSize, C = Tiny.EmbeddingSize;
        Assert.Equal(new int?[] { V, V + 1, V + 2 }, TaskTokens.All.Select(t => tok.IdOf(t)).ToArray());
        Assert.Equal(V + 3, model.VocabSize);
        var wte = model.Parameter("wte.weight");
        var old = baseModel.Parameter("wte.weight");
        for (int c = 0; c < C; c++)
        {
            double mean = 0;
            for (int v = 0; v < V; v++) mean += old[v * C + c];
            Assert.Equal(mean / V, wte[(V + 1) * C + c], 5);
            Assert.Equal(old[3 * C + c], wte[3 * C + c]);
        }
    }

    [Fact]
    public void Transformations_OnWorkedExamples()
    {
        var tm = Untrained(new TaskHeadSpec { Task = "classification", Classes = ["0", "1"], Outputs = 2 });
        int S = tm.Start, D = tm.Delimiter, E = tm.Extract;
        int Tr(TaskRecord r, TaskKind k, TaskHeadSpec spec, out TaskExample ex, int max = 24)
        {
            int cut = 0;
            ex = TaskData.Transform(r, k, tm.Tokenizer, S, D, E, max, spec, ref cut);
            return cut;
        }
        var cls = new TaskHeadSpec { Task = "classification", Classes = ["neg", "pos"], Outputs = 2 };
        Tr(TaskData.Parse("{\"text\":\"ab\",\"label\":\"pos\"}", "f:1", TaskKind.Classification), TaskKind.Classification, cls, out var c);
        Assert.Equal([[S, .. Ids("ab"), E]], c.Sequences);
        Assert.Equal(1, c.Label);

        Tr(TaskData.Parse("{\"premise\":\"ab\",\"hypothesis\":\"c\",\"label\":0}", "f:2", TaskKind.Entailment), TaskKind.Entailment,
           cls with { Classes = ["0", "1", "2"], Outputs = 3 }, out var en);
        Assert.Equal([[S, .. Ids("ab"), D, .. Ids("c"), E]], en.Sequences);
        Assert.Equal(0, en.Label);

        Tr(TaskData.Parse("{\"text_a\":\"ab\",\"text_b\":\"c\",\"score\":3.5}", "f:3", TaskKind.Similarity), TaskKind.Similarity,
           new TaskHeadSpec { Task = "similarity", Outputs = 1, Regression = true }, out var si);
        Assert.Equal([[S, .. Ids("ab"), D, .. Ids("c"), E], [S, .. Ids("c"), D, .. Ids("ab"), E]], si.Sequences);
        Assert.Equal(3.5f, si.Score);

        Tr(TaskData.Parse("{\"context\":\"ab\",\"choices\":[\"c\",\"d\",\"e\"],\"label\":2}", "f:4", TaskKind.MultipleChoice), TaskKind.MultipleChoice,
           new TaskHeadSpec { Task = "multiple-choice", Outputs = 3 }, out var mc);
        Assert.Equal([[S, .. Ids("ab"), D, .. Ids("c"), E], [S, .. Ids("ab"), D, .. Ids("d"), E], [S, .. Ids("ab"), D, .. Ids("e"), E]], mc.Sequences);
        Assert.Equal(2, mc.Label);

        // Longer than the context: the first text loses tokens from its left, the start token stays, the count is reported.
        int cut = Tr(TaskData.Parse("{\"text\":\"abcdefg\",\"label\":\"neg\"}", "f:5", TaskKind.Classification), TaskKind.Classification, cls, out var tr, max: 5);
        Assert.Equal(1, cut);
        Assert.Equal([[S, .. Ids("efg"), E]], tr.Sequences);
    }

    [Fact]
    public void Similarity_AddsBothOrders_SoSwappingTheTextsChangesNothing()
    {
        var tm = Untrained(new TaskHeadSpec { Task = "similarity", Classes = ["0", "1"], Outputs = 2 });
        var spec = tm.Spec;
        int cut = 0;
        var ab = TaskData.Transform(TaskData.Parse("{\"text_a\":\"the cat\",\"text_b\":\"a dog\",\"label\":1}", "f:1", TaskKind.Similarity), TaskKind.Similarity, tm.Tokenizer, tm.Start, tm.Delimiter, tm.Extract, 24, spec, ref cut);
        var ba = TaskData.Transform(TaskData.Parse("{\"text_a\":\"a dog\",\"text_b\":\"the cat\",\"label\":1}", "f:1", TaskKind.Similarity), TaskKind.Similarity, tm.Tokenizer, tm.Start, tm.Delimiter, tm.Extract, 24, spec, ref cut);
        var x = tm.Scores(ab); var y = tm.Scores(ba);
        Assert.Equal(2, x.Length);
        for (int i = 0; i < 2; i++) Assert.Equal(x[i], y[i], 5);
        // …and the representation is the sum: the head on h(ab) + h(ba) (each computed alone) gives the same logits.
        var single = Untrained(new TaskHeadSpec { Task = "classification", Classes = ["0", "1"], Outputs = 2 });
        var h1 = Hidden(single, ab.Sequences[0]); var h2 = Hidden(single, ab.Sequences[1]);
        var sum = h1.Zip(h2, (p, q) => p + q).ToArray();
        var outp = new float[2];
        single.Head.Forward(sum, default, outp);
        for (int i = 0; i < 2; i++) Assert.Equal(outp[i], x[i], 4);
    }

    private static float[] Hidden(TaskHeadModel tm, int[] seq)
    {
        var h = tm.Model.ForwardHidden(seq, 1, seq.Length);
        return h.Slice((seq.Length - 1) * tm.Model.HiddenSize, tm.Model.HiddenSize).ToArray();
    }

    [Fact]
    public void BadRecords_AreOneLineErrors_NamingFileLineAndField()
    {
        var tm = Untrained(new TaskHeadSpec { Task = "classification", Classes = ["0", "1"], Outputs = 2 });
        int cut = 0;
        var outside = Assert.Throws<InvalidDataException>(() => TaskData.Transform(TaskData.Parse("{\"text\":\"ab\",\"label\":7}", "d.jsonl:3", TaskKind.Classification),
            TaskKind.Classification, tm.Tokenizer, tm.Start, tm.Delimiter, tm.Extract, 24, tm.Spec, ref cut));
        Assert.Equal("d.jsonl:3: field 'label' is '7', outside the classes (0, 1)", outside.Message);
        var mcSpec = new TaskHeadSpec { Task = "multiple-choice", Outputs = 4 };
        var wrongLength = Assert.Throws<InvalidDataException>(() => TaskData.Transform(TaskData.Parse("{\"context\":\"ab\",\"choices\":[\"c\",\"d\",\"e\"],\"label\":0}", "d.jsonl:9", TaskKind.MultipleChoice),
            TaskKind.MultipleChoice, tm.Tokenizer, tm.Start, tm.Delimiter, tm.Extract, 24, mcSpec, ref cut));
        Assert.Equal("d.jsonl:9: field 'choices' has 3 choices, expected 4 (as every example of this task)", wrongLength.Message);
        var badChoice = Assert.Throws<InvalidDataException>(() => TaskData.Transform(TaskData.Parse("{\"context\":\"ab\",\"choices\":[\"c\",\"d\",\"e\",\"f\"],\"label\":4}", "d.jsonl:10", TaskKind.MultipleChoice),
            TaskKind.MultipleChoice, tm.Tokenizer, tm.Start, tm.Delimiter, tm.Extract, 24, mcSpec, ref cut));
        Assert.Contains("d.jsonl:10: field 'label' is '4'", badChoice.Message);
        Assert.Equal("d.jsonl:2: field 'hypothesis' is missing or not a string (entailment records are {\"premise\",\"hypothesis\",\"label\"})",
            Assert.Throws<InvalidDataException>(() => TaskData.Parse("{\"premise\":\"ab\",\"label\":1}", "d.jsonl:2", TaskKind.Entailment)).Message);
        Assert.StartsWith("d.jsonl:5: malformed JSON",
            Assert.Throws<InvalidDataException>(() => TaskData.Parse("{\"text\":", "d.jsonl:5", TaskKind.Classification)).Message);
        Assert.Equal("d.jsonl:6: field 'label' is missing",
            Assert.Throws<InvalidDataException>(() => TaskData.Parse("{\"text\":\"a\"}", "d.jsonl:6", TaskKind.Classification)).Message);
    }

    [Fact]
    public void BuiltinSets_AreLabelledByTheGrammarsParser()
    {
        var g = TaskData.BuiltinGrammaticality(2, 400);
        Assert.All(g, r => Assert.Equal(GrammarCorpus.IsGrammatical(r.Fields["text"]) ? "1" : "0", r.Label));
        int good = g.Count(r => r.Label == "1");
        Assert.InRange(good, 160, 240);
        var c = TaskData.BuiltinContinuations(4, 200);
        Assert.Equal(200, c.Count);
        Assert.All(c, r =>
        {
            Assert.Equal(4, r.Choices!.Length);
            var ok = r.Choices.Select(ch => GrammarCorpus.IsGrammatical(r.Fields["context"] + ch)).ToArray();
            Assert.Equal(1, ok.Count(b => b));
            Assert.True(ok[int.Parse(r.Label!)]);
        });
        Assert.InRange(c.Count(r => r.Label == "0"), 25, 75);
    }

    // Label: does the text contain 'z'? A tiny model learns it in a few dozen steps.
    private static List<TaskRecord> Toy(int n, ulong seed)
    {
        var rng = new NextToken.Tensors.Rng(seed);
        var list = new List<TaskRecord>();
        for (int i = 0; i < n; i++)
        {
            var chars = Enumerable.Range(0, 6).Select(_ => (char)('a' + rng.NextInt(8))).ToArray();
            bool z = rng.NextInt(2) == 0;
            if (z) chars[rng.NextInt(6)] = 'z';
            list.Add(new TaskRecord { Source = $"toy:{i + 1}", Fields = new() { ["text"] = new string(chars) }, Label = z ? "1" : "0" });
        }
        return list;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Training_LearnsAToyTask_AndTheSavedHeadLoadsToTheSameScores(bool lora)
    {
        using var dir = new TempDir();
        var baseModel = new GptModel(Tiny, 3);
        string baseDir = dir.File("base");
        NextToken.Training.Checkpoint.Save(baseDir, baseModel, tokenizer: Chars);
        var options = new TaskTrainOptions
        {
            Kind = TaskKind.Classification, Iters = 60, Batch = 16, LearningRate = lora ? 1e-2f : 3e-3f, Warmup = 5,
            Lora = lora ? new LoraOptions { Rank = 4, Alpha = 8f } : null,
        };
        var r = TaskTrainer.Train(baseModel, Chars, Toy(200, 1), Toy(100, 2), options, dir.File("out"));
        Assert.True(r.Metrics.Accuracy >= 0.9, $"accuracy {r.Metrics.Accuracy} after training (untrained {r.BaseMetrics!.Accuracy})");
        Assert.NotNull(r.Metrics.F1);
        if (lora) Assert.Equal(r.Model.Lora!.TrainableParameters + 16 * 2 + 2, r.TrainableParameters);
        string outDir = dir.File("out");
        if (r.Model.Lora is { } set) set.Save(outDir); else NextToken.Training.Checkpoint.Save(outDir, r.Model.Model, tokenizer: r.Model.Tokenizer);
        r.Model.SaveHead(outDir);
        var loaded = lora ? TaskHeadModel.Load(baseDir, outDir) : TaskHeadModel.Load(outDir, null);
        var examples = loaded.Prepare(Toy(10, 3), out _);
        var again = r.Model.Prepare(Toy(10, 3), out _);
        for (int i = 0; i < examples.Count; i++) Assert.Equal(r.Model.Scores(again[i]), loaded.Scores(examples[i]));
    }
}
