// Trainer tests: exact resume, a finished run resumed, determinism, overfitting one batch, non-finite loss, the cost of
// evaluation in tiny runs.
using System.Text.Json;
using NextToken.Data;
using NextToken.Model;
using NextToken.Tests.Data;
using NextToken.Training;

namespace NextToken.Tests.Training;

public sealed class TrainerTests
{
    private static readonly GptConfig Cfg = new() { VocabSize = 13, ContextLength = 16, Layers = 2, Heads = 2, EmbeddingSize = 16, Dropout = 0.1f };
    private static readonly TrainOptions Opts = new()
    {
        BatchSize = 4, SequenceLength = 16, Iterations = 20, LearningRate = 3e-3f, MinLearningRate = 3e-4f, WarmupIterations = 3,
        EvalInterval = 5, EvalIterations = 2, GradientAccumulation = 2, Seed = 42,
    };

    private static int[] Tokens(int n, ulong seed)
    {
        var rng = new NextToken.Tensors.Rng(seed);
        var t = new int[n];
        for (int i = 0; i < n; i++) t[i] = i % 7 == 0 ? rng.NextInt(13) : (t[Math.Max(0, i - 1)] + 1) % 13;
        return t;
    }

    // The log's records without their timing fields (step, loss, lr, grad norm, val loss).
    private static List<string> LossLines(string dir) =>
        File.ReadAllLines(Path.Combine(dir, "log.jsonl"))
            .Select(l => string.Join(",", l.Trim('{', '}').Split(',').Where(f => !f.Contains("tokens_per_second") && !f.Contains("elapsed_s"))))
            .ToList();

    private static TrainResult Train(string dir, TrainOptions o, int stopAfter = -1, Checkpoint.Loaded? resume = null)
    {
        var model = resume?.Model ?? new GptModel(Cfg, o.Seed);
        var loader = new BatchLoader(Tokens(2000, 1), o.BatchSize, o.SequenceLength, o.Order, o.Seed);
        var trainer = new Trainer(model, loader, null, o, dir, resume: resume, valTokens: Tokens(300, 2));
        using var cts = new CancellationTokenSource();
        if (stopAfter > 0) trainer.Progress += p => { if (p.Step == stopAfter && p.ValLoss is null) cts.Cancel(); };
        return trainer.Run(cts.Token);
    }

    [Fact]
    public void Resume_StoppedHalfway_LossesEqualUninterruptedRun()
    {
        using var straight = new TempDir();
        using var split = new TempDir();
        var full = Train(straight.Path, Opts);
        var first = Train(split.Path, Opts, stopAfter: 10);
        Assert.True(first.Interrupted);
        Assert.Equal(10, first.Iterations);
        var loaded = Checkpoint.LoadFull(split.Path, withOptimizer: true);
        Assert.Equal(10, loaded.State!.Step);
        var second = Train(split.Path, loaded.State.Options!, resume: loaded);
        Assert.Equal(full.Iterations, second.Iterations);
        Assert.Equal(full.FinalTrainLoss, second.FinalTrainLoss);
        Assert.Equal(full.FinalValLoss, second.FinalValLoss);
        // Every step's loss (and every evaluation) in the logs is identical, bit for bit as printed.
        var a = LossLines(straight.Path).Where(l => !l.Contains("val_loss")).ToList();
        var b = LossLines(split.Path).Where(l => !l.Contains("val_loss")).ToList();
        Assert.Equal(a, b);
    }

    [Fact]
    public void Run_SameSeedTwice_BitIdenticalLosses()
    {
        using var d1 = new TempDir();
        using var d2 = new TempDir();
        var r1 = Train(d1.Path, Opts with { Iterations = 8 });
        var r2 = Train(d2.Path, Opts with { Iterations = 8 });
        Assert.Equal(r1.FinalTrainLoss, r2.FinalTrainLoss);
        Assert.Equal(LossLines(d1.Path), LossLines(d2.Path));
    }

    [Fact]
    public void Train_OneBatchRepeated_Overfits()
    {
        var cfg = Cfg with { Dropout = 0 };
        var model = new GptModel(cfg, 1);
        var one = Tokens(17, 5);
        var loader = new BatchLoader(one, 1, 16, BatchOrder.Sequential, 1);
        var o = new TrainOptions { BatchSize = 1, SequenceLength = 16, Iterations = 150, LearningRate = 1e-2f, MinLearningRate = 1e-3f, WarmupIterations = 5, WeightDecay = 0, EvalInterval = 0 };
        var r = new Trainer(model, loader, null, o).Run();
        Assert.True(r.FinalTrainLoss < 0.05, $"loss after overfitting one batch: {r.FinalTrainLoss}");
    }

    [Fact]
    public void Run_LossBecomesNaN_StopsNamingStepAndKeepsCheckpoint()
    {
        using var dir = new TempDir();
        var model = new GptModel(Cfg with { Dropout = 0 }, 1);
        var loader = new BatchLoader(Tokens(500, 1), 4, 16, BatchOrder.Random, 1);
        var o = Opts with { Iterations = 10, CheckpointInterval = 2, GradientAccumulation = 1, EvalInterval = 0 };
        var trainer = new Trainer(model, loader, null, o, dir.Path);
        // Poison the weights after step 5 (the checkpoint of step 4 is on disk): step 6's loss is NaN.
        trainer.Progress += p => { if (p.Step == 5) model.Parameters.AsSpan().Fill(float.NaN); };
        var e = Assert.Throws<NonFiniteLossException>(() => trainer.Run());
        Assert.Equal(6, e.Step);
        Assert.Contains("step 6", e.Message);
        Assert.Contains("step 4 is intact", e.Message);
        var saved = Checkpoint.LoadFull(dir.Path, withOptimizer: true);
        Assert.Equal(4, saved.State!.Step);
        Assert.False(float.IsNaN(saved.Model.Parameters[0]), "the checkpoint on disk must predate the NaN");
    }

    [Fact]
    public void Resume_FinishedRun_ReturnsItsSummaryAndWritesNothing()
    {
        using var dir = new TempDir();
        var o = Opts with { Iterations = 6 };
        var done = Train(dir.Path, o);
        string checkpoint = Path.Combine(dir.Path, Checkpoint.FileName), log = Path.Combine(dir.Path, TrainingLog.FileName);
        byte[] before = File.ReadAllBytes(checkpoint);
        string[] logBefore = File.ReadAllLines(log);
        var loaded = Checkpoint.LoadFull(dir.Path, withOptimizer: true);
        var again = Train(dir.Path, loaded.State!.Options!, resume: loaded);
        Assert.Equal(6, again.Iterations);
        Assert.Equal(done.FinalTrainLoss, again.FinalTrainLoss);
        Assert.Equal(done.BestValLoss, again.BestValLoss);
        Assert.Equal(done.FinalValLoss, again.FinalValLoss);
        Assert.False(again.Interrupted);
        Assert.Contains("\"final_train_loss\"", JsonSerializer.Serialize(again)); // no NaN or infinity left to refuse
        Assert.Equal(before, File.ReadAllBytes(checkpoint));
        Assert.Equal(logBefore, File.ReadAllLines(log));
    }

    [Fact]
    public void Run_NoSteps_SummaryIsValidJson()
    {
        var model = new GptModel(Cfg, 1);
        var loader = new BatchLoader(Tokens(500, 1), 4, 16, BatchOrder.Random, 1);
        var r = new Trainer(model, loader, null, Opts with { Iterations = 0, GradientAccumulation = 1 }).Run();
        Assert.Null(r.FinalTrainLoss);
        Assert.Null(r.BestValLoss);
        using var doc = JsonDocument.Parse(JsonSerializer.Serialize(r));
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("final_train_loss").ValueKind);
    }

    [Theory]
    [InlineData(2, 1, 5000, 1000, 2)]     // a 2-step run evaluates 2 batches, not 1000
    [InlineData(3, 2, 5000, 1000, 6)]     // 3 steps of 2 micro-batches: 6
    [InlineData(500, 1, 5000, 20, 20)]    // a real run keeps its EvalIterations
    [InlineData(500, 1, 16 + 9, 20, 3)]   // 9 distinct windows of a tiny split, 4 per batch: 3 batches cover them
    [InlineData(500, 1, 16, 20, 0)]       // no window of T + 1 tokens: nothing to evaluate
    public void EvaluationBatches_TinyRunsAndSplits_Capped(int iterations, int accumulation, int valTokens, int evalIterations, int expected)
    {
        var o = Opts with { Iterations = iterations, GradientAccumulation = accumulation, EvalIterations = evalIterations };
        var model = new GptModel(Cfg, 1);
        var trainer = new Trainer(model, new BatchLoader(Tokens(500, 1), 4, 16, BatchOrder.Random, 1), null, o, valTokens: Tokens(valTokens, 2));
        Assert.Equal(expected, trainer.EvaluationBatches);
    }

    [Fact]
    public void Evaluate_TinyRun_CostsNoMoreThanTheCap()
    {
        // EvalIterations 100,000 on a 2-step run: the loss equals that of a run asking for exactly the 2 batches it may use.
        var model = new GptModel(Cfg with { Dropout = 0 }, 1);
        var val = Tokens(3000, 2);
        float Evaluate(int evalIterations) =>
            new Trainer(model, new BatchLoader(Tokens(500, 1), 4, 16, BatchOrder.Random, 1), null,
                        Opts with { Iterations = 2, GradientAccumulation = 1, EvalIterations = evalIterations }, valTokens: val).Evaluate();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        float capped = Evaluate(100_000);
        Assert.True(clock.Elapsed.TotalSeconds < 20, $"the capped evaluation took {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(Evaluate(2), capped);
    }
}
