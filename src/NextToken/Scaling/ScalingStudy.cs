// ScalingStudy: the built-in study — a sweep on the facts (or grammar) corpus, a Chinchilla fit, a prediction of a larger held-out run written
// before it trains, that run, and an emergence sweep on n-digit addition scored by exact match and log-likelihood.
using System.Text.Json;
using System.Text.Json.Nodes;
using NextToken.Data;

namespace NextToken.Scaling;

/// <summary>
/// Runs <see cref="StudyOptions"/> into a directory: <c>facts/</c> or <c>grammar/</c> (the sweep, named after the corpus), <c>prediction.json</c> (the fit and the
/// predicted loss, written before the held-out run starts and never rewritten), <c>heldout/</c>, <c>addition/</c>.
/// Every stage is a resumable sweep, so an interrupted study continues where it stopped.
/// </summary>
public sealed class ScalingStudy
{
    /// <summary>The prediction's file name.</summary>
    public const string PredictionFileName = "prediction.json";

    private readonly StudyOptions _options;

    /// <summary>A study of <paramref name="options"/> writing into <paramref name="outDir"/>.</summary>
    public ScalingStudy(StudyOptions options, string outDir)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(outDir);
        _options = options;
        OutDir = outDir;
    }

    /// <summary>The study's directory.</summary>
    public string OutDir { get; }

    /// <summary>Progress of the current stage's sweep (stage: the corpus's name, heldout, addition).</summary>
    public event Action<string, SweepProgress>? Progress;

    /// <summary>A finished run of a stage, with its results row.</summary>
    public event Action<string, SweepRun, JsonObject>? RunFinished;

    /// <summary>Runs every stage (skipping finished runs) and reports. Cancellation throws <see cref="OperationCanceledException"/>.</summary>
    public StudyReport Run(CancellationToken cancellation = default)
    {
        var o = _options;
        Directory.CreateDirectory(OutDir);
        // The plan is recorded: a rerun into the same directory must be the same study (its prediction and runs are reused).
        var planNode = new JsonObject
        {
            ["sizes"] = string.Join(",", o.Sizes), ["tokens"] = string.Join(",", o.Tokens), ["heldout"] = o.HeldOutSize.ToString(),
            ["heldout_tokens"] = o.HeldOutTokens, ["addition_tokens"] = string.Join(",", o.AdditionTokens), ["addition_problems"] = o.AdditionProblems,
            ["grammar_sentences"] = o.GrammarSentences,
        };
        if (o.Corpus != BuiltinDatasets.Grammar) { planNode["corpus"] = o.Corpus; planNode["facts_lines"] = o.FactsLines; }
        string plan = planNode.ToJsonString();
        string planPath = Path.Combine(OutDir, "study_plan.json");
        if (File.Exists(planPath) && File.ReadAllText(planPath).Trim() != plan)
            throw new InvalidOperationException($"the study in '{OutDir}' was planned differently ({File.ReadAllText(planPath).Trim()}); continue it with the same plan or use another directory");
        File.WriteAllText(planPath, plan + "\n");
        // 1. The sweep on the corpus and its fit.
        var corpus = o.Corpus switch
        {
            BuiltinDatasets.Grammar => PrepareGrammar(o.GrammarSentences),
            BuiltinDatasets.Facts => PrepareFacts(o.FactsLines),
            _ => throw new ArgumentException($"unknown study corpus '{o.Corpus}': use {BuiltinDatasets.Facts} or {BuiltinDatasets.Grammar}"),
        };
        var grid = ScalingSweep.PlanGrid(o.Sizes, o.Tokens, corpus.VocabSize, o.Sweep);
        var sweep = Sweep(o.Corpus, corpus, grid, o.Sweep, cancellation);
        var (runs, skipped) = ResultsFile.Read(sweep.ResultsPath);
        var fit = ScalingFits.Fit("chinchilla", runs, new FitOptions { Bootstrap = 50 }, skipped);

        // 2. The prediction, saved before the held-out run trains (a resumed study keeps the first one).
        var held = ScalingSweep.PlanGrid([o.HeldOutSize], [o.HeldOutTokens], corpus.VocabSize, o.Sweep)[0];
        var count = ScalingAccounting.Count(held.Config, o.Sweep.SequenceLength, o.Sweep.BatchSize);
        string predictionPath = Path.Combine(OutDir, PredictionFileName);
        double predicted;
        if (File.Exists(predictionPath))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(predictionPath));
            predicted = doc.RootElement.GetProperty("predicted_loss").GetDouble();
        }
        else
        {
            predicted = fit.Predict(count.Parameters, count.NonEmbeddingParameters, held.Tokens)!.Value;
            var node = new JsonObject
            {
                ["run"] = held.Name, ["params"] = count.Parameters, ["tokens"] = held.Tokens, ["predicted_loss"] = predicted,
                ["written_utc"] = DateTime.UtcNow.ToString("o"), ["fit"] = JsonSerializer.SerializeToNode(fit),
            };
            File.WriteAllText(predictionPath, node.ToJsonString() + "\n");
        }
        var heldSweep = Sweep("heldout", corpus, [held], o.Sweep, cancellation);
        var measured = ResultsFile.Read(heldSweep.ResultsPath).Runs.FirstOrDefault(r => r.Name == held.Name)?.Loss;

        // 3. Emergence: the same sizes on n-digit addition, each model scored on held-out problems two ways.
        var addition = Prepare(BuiltinDatasets.Addition);
        var problems = AdditionTask.HeldOutProblems(BuiltinDatasets.AdditionDigits, 1337, BuiltinDatasets.AdditionHeldOutFraction).Take(o.AdditionProblems).ToArray();
        var addRuns = ScalingSweep.PlanGrid(o.Sizes, o.AdditionTokens, addition.VocabSize, o.AdditionSweep);
        var addSweep = Sweep("addition", addition, addRuns, o.AdditionSweep, cancellation, (model, row) =>
        {
            var (exact, ll) = EmergenceMetrics.Score(model, addition.Tokenizer, problems);
            row["exact_match"] = exact;
            row["token_log_likelihood"] = ll;
        });
        var points = new List<EmergencePoint>();
        foreach (string line in File.ReadLines(addSweep.ResultsPath))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            if (!r.TryGetProperty("exact_match", out var em)) continue;
            points.Add(new EmergencePoint(r.GetProperty("run").GetString()!, r.GetProperty("params").GetInt64(), r.GetProperty("flops").GetDouble(),
                                          em.GetDouble(), r.GetProperty("token_log_likelihood").GetDouble()));
        }
        return new StudyReport
        {
            Fit = fit, HeldOutParameters = count.Parameters, HeldOutTokens = held.Tokens, PredictedLoss = predicted, MeasuredLoss = measured,
            RelativeError = measured is double m ? predicted / m - 1 : null, Emergence = points,
        };
    }

    // The grammar corpus with enough sentences that no run of the study repeats a training token (the built-in dataset's
    // 40,000 sentences hold 260k training tokens; the held-out run reads 2.4M), prepared as BuiltinDatasets does.
    private PreparedData PrepareGrammar(int sentences)
    {
        if (sentences <= 0) return Prepare(BuiltinDatasets.Grammar);
        string dir = Path.Combine(OutDir, BuiltinDatasets.Grammar, "data");
        if (File.Exists(Path.Combine(dir, PreparedData.MetaFileName))) return PreparedData.Load(dir);
        return BuiltinDatasets.PrepareLines(GrammarCorpus.Generate(1337, sentences), dir, $"{BuiltinDatasets.Prefix}{BuiltinDatasets.Grammar} seed 1337 sentences {sentences}");
    }

    // The facts corpus with enough lines that no run of the study repeats a training token.
    private PreparedData PrepareFacts(int lines)
    {
        string dir = Path.Combine(OutDir, BuiltinDatasets.Facts, "data");
        return File.Exists(Path.Combine(dir, PreparedData.MetaFileName)) ? PreparedData.Load(dir) : BuiltinDatasets.PrepareFacts(1337, lines, dir);
    }

    private PreparedData Prepare(string name)
    {
        string dir = Path.Combine(OutDir, name, "data");
        return File.Exists(Path.Combine(dir, PreparedData.MetaFileName)) ? PreparedData.Load(dir) : BuiltinDatasets.PrepareBuiltin(name, dir, 1337);
    }

    private ScalingSweep Sweep(string stage, PreparedData data, IReadOnlyList<SweepRun> runs, SweepOptions recipe, CancellationToken cancellation,
                               Action<Model.GptModel, JsonObject>? score = null)
    {
        var sweep = new ScalingSweep(data, runs, recipe, Path.Combine(OutDir, stage));
        sweep.Progress += p => Progress?.Invoke(stage, p);
        sweep.RunFinished += (run, model, row) =>
        {
            score?.Invoke(model, row);
            RunFinished?.Invoke(stage, run, row);
        };
        sweep.Run(cancellation);
        cancellation.ThrowIfCancellationRequested();
        return sweep;
    }
}
