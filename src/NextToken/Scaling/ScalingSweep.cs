// ScalingSweep: plans a grid (sizes × tokens) or IsoFLOP profiles (sizes per compute budget) and trains each run with the
// Trainer, appending one results.jsonl line per finished run; a rerun into the same directory skips finished runs.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NextToken.Data;
using NextToken.Model;
using NextToken.Training;

namespace NextToken.Scaling;

/// <summary>
/// A sweep of training runs on one prepared dataset. Each run is a fresh model trained for its tokens with the shared
/// recipe (<see cref="SweepOptions"/>); its final validation loss (the trainer's end-of-run evaluation) goes to
/// results.jsonl with params, non_embedding_params, tokens, flops (6·N·D), loss and the config. Runs are resumable one
/// by one: a run whose name is already in results.jsonl is not trained again; a run interrupted half-way is redone.
/// </summary>
public sealed class ScalingSweep
{
    /// <summary>The options file beside results.jsonl; a rerun with other options into the same directory is refused.</summary>
    public const string OptionsFileName = "sweep.json";

    private readonly PreparedData _data;
    private readonly SweepOptions _options;

    /// <summary>Prepares a sweep of <paramref name="runs"/> on <paramref name="data"/> writing into <paramref name="outDir"/>.</summary>
    public ScalingSweep(PreparedData data, IReadOnlyList<SweepRun> runs, SweepOptions options, string outDir)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentException.ThrowIfNullOrWhiteSpace(outDir);
        _data = data;
        _options = options.Validate();
        if (runs.Count == 0) throw new ArgumentException("the sweep has no runs", nameof(runs));
        if (runs.Select(r => r.Name).Distinct().Count() != runs.Count) throw new ArgumentException("two runs of the sweep have the same name (a size or token count is listed twice)", nameof(runs));
        Runs = runs;
        OutDir = outDir;
        ResultsPath = Path.Combine(outDir, ResultsFile.FileName);
    }

    /// <summary>The planned runs, in order.</summary>
    public IReadOnlyList<SweepRun> Runs { get; }
    /// <summary>Where results.jsonl and sweep.json go.</summary>
    public string OutDir { get; }
    /// <summary>results.jsonl.</summary>
    public string ResultsPath { get; }

    /// <summary>After every step of every run.</summary>
    public event Action<SweepProgress>? Progress;

    /// <summary>After a run is trained, before its line is written: add fields to the row (e.g. task metrics of the model).</summary>
    public event Action<SweepRun, GptModel, JsonObject>? RunFinished;

    /// <summary>The model config of <paramref name="model"/> in a sweep on a vocabulary of <paramref name="vocabSize"/>.</summary>
    public static GptConfig Config(SweepModel model, int vocabSize, SweepOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        return new GptConfig { VocabSize = vocabSize, ContextLength = options.SequenceLength, Layers = model.Layers, Heads = model.Heads, EmbeddingSize = model.Width }.Validate();
    }

    /// <summary>Every size trained on every token count (each rounded up to whole steps of batch × sequence tokens).</summary>
    public static IReadOnlyList<SweepRun> PlanGrid(IEnumerable<SweepModel> models, IEnumerable<long> tokens, int vocabSize, SweepOptions options)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(tokens);
        options.Validate();
        long perStep = (long)options.BatchSize * options.SequenceLength;
        var runs = new List<SweepRun>();
        foreach (var m in models)
            foreach (long d in tokens)
            {
                if (d < 1) throw new ArgumentException($"token counts must be positive (got {d})", nameof(tokens));
                int iters = (int)Math.Min(int.MaxValue, (d + perStep - 1) / perStep);
                runs.Add(new SweepRun(string.Create(CultureInfo.InvariantCulture, $"{m}-d{iters * perStep}"), Config(m, vocabSize, options), iters, iters * perStep, null));
            }
        return runs;
    }

    /// <summary>
    /// IsoFLOP profiles: for each budget C, every size N trained on D = C/(6N) tokens (rounded to whole steps). Runs
    /// shorter than <see cref="SweepOptions.MinSteps"/> are left out; <paramref name="leftOut"/> counts them.
    /// </summary>
    public static IReadOnlyList<SweepRun> PlanIsoFlop(IEnumerable<SweepModel> models, IEnumerable<double> budgets, int vocabSize, SweepOptions options, out int leftOut)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(budgets);
        options.Validate();
        long perStep = (long)options.BatchSize * options.SequenceLength;
        var runs = new List<SweepRun>();
        leftOut = 0;
        foreach (double c in budgets)
        {
            if (!double.IsFinite(c) || c <= 0) throw new ArgumentException($"compute budgets must be positive finite FLOPs (got {c})", nameof(budgets));
            foreach (var m in models)
            {
                var cfg = Config(m, vocabSize, options);
                double tokens = c / (6.0 * GptParameters.Count(cfg));
                long iters = (long)Math.Round(tokens / perStep);
                if (iters < options.MinSteps || iters > int.MaxValue) { leftOut++; continue; }
                runs.Add(new SweepRun(string.Create(CultureInfo.InvariantCulture, $"{m}-c{c:0.##e0}"), cfg, (int)iters, iters * perStep, c));
            }
        }
        return runs;
    }

    /// <summary>The names of the runs already in results.jsonl.</summary>
    public HashSet<string> CompletedRuns()
    {
        var done = new HashSet<string>(StringComparer.Ordinal);
        if (!File.Exists(ResultsPath)) return done;
        foreach (string line in File.ReadLines(ResultsPath))
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("run", out var n) && n.ValueKind == JsonValueKind.String) done.Add(n.GetString()!);
            }
            catch (JsonException) { }
        }
        return done;
    }

    /// <summary>
    /// Trains every run not yet in results.jsonl, appending its line when it finishes. Cancellation stops after the
    /// current step; that run is not recorded (a rerun trains it again). Returns the rows written by this call.
    /// </summary>
    public IReadOnlyList<JsonObject> Run(CancellationToken cancellation = default)
    {
        Directory.CreateDirectory(OutDir);
        CheckOptionsFile();
        var done = CompletedRuns();
        double total = Runs.Sum(r => r.Flops), finished = Runs.Where(r => done.Contains(r.Name)).Sum(r => r.Flops), sessionFlops = 0;
        var sw = Stopwatch.StartNew();
        var rows = new List<JsonObject>();
        for (int i = 0; i < Runs.Count; i++)
        {
            var run = Runs[i];
            if (done.Contains(run.Name)) continue;
            if (cancellation.IsCancellationRequested) break;
            var model = new GptModel(run.Config, _options.Seed);
            long perStep = (long)_options.BatchSize * _options.SequenceLength;
            var train = new TrainOptions
            {
                BatchSize = _options.BatchSize, SequenceLength = _options.SequenceLength, Iterations = run.Iterations,
                LearningRate = _options.LearningRate, MinLearningRate = _options.LearningRate / 10, WarmupIterations = Math.Min(100, run.Iterations / 10),
                EvalInterval = 0, EvalIterations = _options.EvalIterations, Seed = _options.Seed, WeightDecay = 0.1f, GradientClip = 1f,
            }.Validate();
            using var trainFile = _data.OpenTrain();
            using var valFile = _data.OpenVal();
            var loader = new BatchLoader(trainFile, train.BatchSize, train.SequenceLength, train.Order, train.Seed);
            var trainer = new Trainer(model, loader, valFile.Count > train.SequenceLength ? valFile : null, train);
            int index = i;
            double before = sessionFlops;
            trainer.Progress += p =>
            {
                double runDone = run.Flops * Math.Min(1.0, (double)p.Step / Math.Max(1, run.Iterations));
                double doneNow = before + runDone;
                double eta = doneNow > 0 ? sw.Elapsed.TotalSeconds / doneNow * (total - finished - doneNow) : 0;
                Progress?.Invoke(new SweepProgress(index, Runs.Count, run.Name, p.Step, run.Iterations, (finished + doneNow) / total, sw.Elapsed.TotalSeconds, Math.Max(0, eta), p.Loss));
            };
            var result = trainer.Run(cancellation);
            if (result.Interrupted) break;
            sessionFlops += run.Flops;
            var count = ScalingAccounting.Count(run.Config, _options.SequenceLength, _options.BatchSize);
            var row = new JsonObject
            {
                ["run"] = run.Name,
                ["params"] = count.Parameters,
                ["non_embedding_params"] = count.NonEmbeddingParameters,
                ["tokens"] = run.Tokens,
                ["flops"] = 6.0 * count.Parameters * run.Tokens,
                ["flops_exact"] = count.FlopsPerToken * run.Tokens,
                ["loss"] = result.FinalValLoss,
                ["train_loss"] = result.FinalTrainLoss,
                ["budget"] = run.Budget,
                ["iters"] = run.Iterations,
                ["batch"] = _options.BatchSize,
                ["seq"] = _options.SequenceLength,
                ["lr"] = _options.LearningRate,
                ["seed"] = _options.Seed,
                ["wall_seconds"] = result.WallSeconds,
                ["config"] = JsonNode.Parse(run.Config.ToJson()),
            };
            RunFinished?.Invoke(run, model, row);
            File.AppendAllText(ResultsPath, row.ToJsonString() + "\n");
            rows.Add(row);
        }
        return rows;
    }

    // sweep.json records the data and the recipe; a rerun into the same directory must use the same ones.
    private void CheckOptionsFile()
    {
        string path = Path.Combine(OutDir, OptionsFileName);
        string mine = new JsonObject
        {
            ["data"] = _data.Source, ["vocab"] = _data.VocabSize, ["options"] = JsonSerializer.SerializeToNode(_options),
        }.ToJsonString();
        if (File.Exists(path))
        {
            string saved = File.ReadAllText(path).Trim();
            if (saved != mine)
                throw new InvalidOperationException($"the sweep in '{OutDir}' was run with other data or options ({saved}); continue it with the same ones or use another directory");
            return;
        }
        File.WriteAllText(path, mine + "\n");
    }
}
