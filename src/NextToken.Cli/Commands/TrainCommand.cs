// TrainCommand: `nexttoken train` — pre-trains a GPT on prepared data, or on the built-in corpus with no arguments.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using NextToken.Data;
using NextToken.Evaluation;
using NextToken.Model;
using NextToken.Training;
using Spectre.Console;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken train</c>; option names are a contract (see the engine issue).</summary>
internal sealed class TrainCommand : ICliCommand
{
    // Built-in data without --iters: 3000 steps (about a minute on 2 cores). On the grammar corpus 1500 steps gave
    // 96-98% grammatical samples, 3000 steps 99.5%: the margin over the 95% target is worth the time.
    internal const int BuiltinIterations = 3000;
    internal const int BuiltinEvalInterval = 500;

    /// <summary>
    /// Trains the default model (this command with no arguments) into <paramref name="path"/>, for commands whose built-in
    /// data starts from it; <paramref name="what"/> names the missing model in the progress line.
    /// </summary>
    internal static void TrainDefaultInto(string path, string what, bool quiet, TextWriter log)
    {
        log.WriteLine($"no {what} in {path}: training the default model first (nexttoken train --out {path})");
        int rc = new TrainCommand().Build().Parse(["--out", path, .. quiet ? new[] { "--json" } : []]).Invoke();
        if (rc != 0) throw new InvalidOperationException($"training the default model into {path} failed");
    }

    /// <inheritdoc/>
    public Command Build()
    {
        var d = new TrainOptions();
        var data = new Option<string>("--data") { Description = "Prepared data directory (nexttoken prepare), or builtin:grammar / builtin:grammar-repeats / builtin:addition / builtin:icl / builtin:shapes (images, docs/multimodal.md)", DefaultValueFactory = _ => "builtin:grammar" };
        var preset = new Option<string?>("--preset") { Description = $"Model preset ({string.Join(", ", GptPresets.All.Keys)}); default: 'default' for built-in data, 'char-tiny' otherwise" };
        var layers = new Option<int?>("--layers") { Description = "Transformer blocks (overrides the preset)" };
        var heads = new Option<int?>("--heads") { Description = "Attention heads (overrides the preset)" };
        var embd = new Option<int?>("--embd") { Description = "Embedding width (overrides the preset)" };
        var block = new Option<int?>("--block") { Description = "Context length = training sequence length (overrides the preset)" };
        var batch = new Option<int>("--batch") { Description = "Sequences per micro-batch", DefaultValueFactory = _ => d.BatchSize };
        var iters = new Option<int?>("--iters") { Description = $"Optimizer steps (default: {BuiltinIterations} on built-in data, {d.Iterations} otherwise)" };
        var lr = new Option<float>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => d.LearningRate };
        var minLr = new Option<float>("--min-lr") { Description = "Learning-rate floor of the cosine decay", DefaultValueFactory = _ => d.MinLearningRate };
        var warmup = new Option<int>("--warmup") { Description = "Linear warm-up steps", DefaultValueFactory = _ => d.WarmupIterations };
        var decay = new Option<int>("--lr-decay-iters") { Description = "Step where the cosine reaches --min-lr (0: --iters)", DefaultValueFactory = _ => d.DecayIterations };
        var wd = new Option<float>("--weight-decay") { Description = "AdamW decoupled weight decay (matrices and embeddings)", DefaultValueFactory = _ => d.WeightDecay };
        var beta1 = new Option<float>("--beta1") { Description = "AdamW beta1", DefaultValueFactory = _ => d.Beta1 };
        var beta2 = new Option<float>("--beta2") { Description = "AdamW beta2", DefaultValueFactory = _ => d.Beta2 };
        var clip = new Option<float>("--grad-clip") { Description = "Global gradient-norm clip (0: off)", DefaultValueFactory = _ => d.GradientClip };
        var accum = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step", DefaultValueFactory = _ => d.GradientAccumulation };
        var dropout = new Option<float>("--dropout") { Description = "Dropout probability", DefaultValueFactory = _ => new GptConfig().Dropout };
        var evalInterval = new Option<int?>("--eval-interval") { Description = $"Evaluate (and checkpoint) every N steps (default: {BuiltinEvalInterval} on built-in data, {d.EvalInterval} otherwise; 0: at the end only)" };
        var evalIters = new Option<int>("--eval-iters")
        {
            Description = "Validation batches per evaluation (at most Iterations x grad-accum, and no more than cover the split once)",
            DefaultValueFactory = _ => d.EvalIterations,
        };
        var ckptInterval = new Option<int>("--checkpoint-interval") { Description = "Checkpoint every N steps (0: at evaluations)", DefaultValueFactory = _ => d.CheckpointInterval };
        var seed = new Option<ulong>("--seed") { Description = "Seed for init, batches and dropout", DefaultValueFactory = _ => d.Seed };
        var order = new Option<BatchOrder>("--order") { Description = "Batch windows: Random (nanoGPT) or Sequential (llm.c)", DefaultValueFactory = _ => d.Order };
        var positions = new Option<PositionEncoding?>("--positions") { Description = "Learned, Sinusoidal or Rotary (overrides the preset)" };
        var norm = new Option<NormPlacement?>("--norm") { Description = "Pre (GPT-2) or Post (GPT-1) LayerNorm (overrides the preset)" };
        var noBias = new Option<bool>("--no-bias") { Description = "Linear layers and LayerNorms without biases" };
        var untied = new Option<bool>("--untied") { Description = "Separate output projection instead of the tied token embedding" };
        var output = new Option<string>("--out") { Description = "Checkpoint directory (also log.jsonl and loss.png)", DefaultValueFactory = _ => Path.Combine("runs", "default") };
        var resume = new Option<string?>("--resume")
        {
            Description = "Continue the run in DIR (default: --out) exactly where it stopped, with its saved data, model and options;\n" +
                          "a flag that disagrees with them is an error, except --iters (to train further)",
            Arity = ArgumentArity.ZeroOrOne,
            HelpName = "DIR",
        };
        var json = new Option<bool>("--json") { Description = "Last stdout line: a JSON summary (final_train_loss, best_val_loss, tokens_per_second, wall_seconds, iters)" };
        var imageWords = new Option<bool?>("--image-word-tokens") { Description = "builtin:shapes: word tokens (a BPE of the task's text) instead of characters (default true; false: characters)" };
        var imageQuestions = new Option<int?>("--image-questions") { Description = "builtin:shapes: questions about one image packed into a training row (one per type, up to N; default 6, 1: one per row)" };
        var imageHidden = new Option<int?>("--image-projector-hidden") { Description = "builtin:shapes / image JSONL: hidden width of the MLP image projector (LLaVA-1.5: Linear, GELU, Linear; default 256); 0: one linear layer (Fuyu)" };
        var image2d = new Option<bool?>("--image-positions-2d") { Description = "builtin:shapes / image JSONL: learned row and column vectors added to the patches (2-D positions) on top of the model's 1-D positions" };
        var imageWeight = new Option<bool?>("--image-weight-per-question") { Description = "builtin:shapes: every answer weighs the same in the loss (its tokens share a weight of 1) instead of every answer token" };
        var imageCaptionLast = new Option<bool?>("--image-caption-last") { Description = "builtin:shapes: in a row of several questions the caption comes last (it names every shape, so the questions after it could be read from the text)" };
        var imageWhere = new Option<bool?>("--image-where") { Description = "builtin:shapes: end each training row with an auxiliary \"where is the C K?\" (answered \"top left\" ... \"bottom right\"; not scored) instead of the where-pair question" };
        var imageWherePairs = new Option<bool?>("--image-where-pairs") { Description = "builtin:shapes: end each training row with an auxiliary \"where are the C1 K1 and the C2 K2?\" (answered \"top left and bottom right\"; not scored): both halves of a relation (default true)" };
        var imageBalance = new Option<bool?>("--image-balance-relations") { Description = "builtin:shapes: train left/above with \"yes\" and \"no\" equally often (\"no\" is twice as common among the pairs); evaluation unchanged" };
        var imageWhereSecond = new Option<bool?>("--image-where-second") { Description = "builtin:shapes, with --image-where-pairs: every other row's auxiliary question is \"where in the whole image is the C K?\" (the shape named where a relation names its second)" };
        var imageReadouts = new Option<int?>("--image-readouts") { Description = "builtin:shapes / image JSONL: learned readout positions between the patches and the image-end vector (default 0)" };
        var imageQuestionWeight = new Option<float?>("--image-question-weight") { Description = "builtin:shapes, image after the question: loss weight of the question's own tokens (default 0.2; 0: answers only)" };
        var imagePack = new Option<bool?>("--image-pack-scenes") { Description = "builtin:shapes, image after the question: pack the question documents of many scenes into each row (each with its own image) instead of one scene per row and padding (default true)" };
        var imageRowLength = new Option<int?>("--image-row-length") { Description = "builtin:shapes with --image-pack-scenes: positions per training row (default 120 with merged image tokens, 192 without)" };
        var imageMerge = new Option<int?>("--image-merge") { Description = "builtin:shapes / image JSONL: merge each m x m block of patch vectors into one image token after the ViT (pixel shuffle; default 2: one token per grid cell; 0: none)" };
        var imageRelations = new Option<int?>("--image-relation-questions") { Description = "builtin:shapes: left and above questions per training scene, each about a different pair (default 2)" };
        var imageGrounding = new Option<float?>("--image-grounding-weight") { Description = "builtin:shapes with --image-pack-scenes: loss weight of grounding targets (each image token says whether its cell holds the first, the second or no shape the question names; default 0.2)" };
        var imageTypes = new Option<string?>("--image-types") { Description = "builtin:shapes: train and score only these question types, comma-separated (colour, shape, count, left, above, caption, where, where2, where3): a probe of one skill on its own" };
        var imageEncoder = new Option<int?>("--image-encoder-layers") { Description = "builtin:shapes / image JSONL: layers of a small ViT (bidirectional attention over the patches) between the projector and the decoder (default 1; 0: none)" };
        var imageAfter = new Option<bool?>("--image-after-question") { Description = "builtin:shapes / image JSONL: the image after the question (question, image, answer; each question of a row its own document), so the patches read the question" };
        var imagePatch = new Option<int?>("--image-patch") { Description = "builtin:shapes / image JSONL: side of an image patch in pixels (default 8; must divide the 32-pixel image)" };
        var evalImages = new Option<int>("--eval-images") { Description = "builtin:shapes: held-out images scored after training (one question of each type per image)", DefaultValueFactory = _ => 200 };
        var samples = new Option<int>("--eval-samples") { Description = "Sentences sampled at temperature 1 and parsed after training on the grammar corpus (1,000 take under a second; 200 gave readings 3 points apart for two models of the same true rate)", DefaultValueFactory = _ => 1000 };
        var threads = ThreadsOption.Create();

        var cmd = new Command("train", "Pre-train a GPT. With no arguments: a small model on the built-in grammar corpus for 3000 steps, then the share of\n" +
                                       "sampled sentences that parse is reported. loss.png is drawn from log.jsonl when the run ends (also on Ctrl-C).\n" +
                                       "Example: nexttoken train --data data/shakespeare --layers 4 --heads 4 --embd 128 --block 64 --batch 12 --iters 2000\n" +
                                       "         nexttoken train --resume runs/shakespeare --iters 3000");
        foreach (var o in new Option[] { data, preset, layers, heads, embd, block, batch, iters, lr, minLr, warmup, decay, wd, beta1, beta2, clip, accum, dropout,
                                         evalInterval, evalIters, ckptInterval, seed, order, positions, norm, noBias, untied, output, resume, json, samples, evalImages, imagePatch, imageWords, imageQuestions, imageHidden, image2d, imageWeight, imageCaptionLast, imageWhere, imageWherePairs, imageWhereSecond, imageBalance, imageReadouts, imageQuestionWeight, imagePack, imageRowLength, imageMerge, imageRelations, imageGrounding, imageTypes, imageEncoder, imageAfter, threads })
            cmd.Options.Add(o);

        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            string outDir = pr.GetValue(output)!;
            bool resuming = pr.GetResult(resume) is not null;
            if (resuming && pr.GetValue(resume) is { } resumeDir)
            {
                if (pr.GetResult(output) is { Implicit: false } && !SamePath(resumeDir, outDir))
                    throw new ArgumentException($"--resume {resumeDir} and --out {outDir} name different directories; a resumed run continues in its own directory (drop --out)");
                outDir = resumeDir;
            }
            if (pr.GetValue(samples) < 0) throw new ArgumentException($"--eval-samples must be at least 0 (got {pr.GetValue(samples)})");
            if (!resuming && (pr.GetValue(data) == TrainShapes.DataName || TrainShapes.IsImageJsonl(pr.GetValue(data)!)))
            {
                // The multimodal task trains its own loop (image prefix, answer-only loss) and reports exact match per type.
                var v = new NextToken.Vision.VisionTrainOptions();
                v = v with
                {
                    Layers = pr.GetValue(layers) ?? v.Layers, Heads = pr.GetValue(heads) ?? v.Heads, Embedding = pr.GetValue(embd) ?? v.Embedding,
                    Iterations = pr.GetValue(iters) ?? v.Iterations, TextOnlyIterations = Math.Max(1, Math.Min(v.TextOnlyIterations, (pr.GetValue(iters) ?? v.Iterations) / 4)),
                    BatchSize = pr.GetResult(batch) is { Implicit: false } ? pr.GetValue(batch) : v.BatchSize,
                    LearningRate = pr.GetResult(lr) is { Implicit: false } ? pr.GetValue(lr) : v.LearningRate,
                    Seed = pr.GetResult(seed) is { Implicit: false } ? pr.GetValue(seed) : v.Seed,
                    EvalImages = pr.GetValue(evalImages), PatchSize = pr.GetValue(imagePatch) ?? v.PatchSize,
                    ProjectorHidden = pr.GetValue(imageHidden) ?? v.ProjectorHidden,
                    WordTokens = pr.GetValue(imageWords) ?? v.WordTokens, QuestionsPerRow = pr.GetValue(imageQuestions) ?? v.QuestionsPerRow,
                    Positions2D = pr.GetValue(image2d) ?? v.Positions2D, Positions = pr.GetValue(positions) ?? v.Positions,
                    WeightPerQuestion = pr.GetValue(imageWeight) ?? v.WeightPerQuestion, CaptionLast = pr.GetValue(imageCaptionLast) ?? v.CaptionLast,
                    WhereQuestions = pr.GetValue(imageWhere) ?? v.WhereQuestions, WherePairs = pr.GetValue(imageWherePairs) ?? v.WherePairs,
                    BalanceRelations = pr.GetValue(imageBalance) ?? v.BalanceRelations, WhereSecond = pr.GetValue(imageWhereSecond) ?? v.WhereSecond,
                    Readouts = pr.GetValue(imageReadouts) ?? v.Readouts, QuestionWeight = pr.GetValue(imageQuestionWeight) ?? v.QuestionWeight, EncoderLayers = pr.GetValue(imageEncoder) ?? v.EncoderLayers,
                    ImageAfterQuestion = pr.GetValue(imageAfter) ?? v.ImageAfterQuestion,
                    // The default merge (2 × 2) applies where the patch grid has a side of 4 or more that 2 divides (8-pixel patches: one token per cell).
                    Merge = pr.GetValue(imageMerge) ?? (NextToken.Vision.ShapesTask.ImageSize / Math.Max(1, pr.GetValue(imagePatch) ?? v.PatchSize) is var side && side >= 4 && side % 2 == 0 ? v.Merge : 0), RelationQuestions = pr.GetValue(imageRelations) ?? v.RelationQuestions,
                    GroundingWeight = pr.GetValue(imageGrounding) ?? v.GroundingWeight, PackScenes = pr.GetValue(imagePack) ?? v.PackScenes, RowLength = pr.GetValue(imageRowLength) ?? v.RowLength,
                    Types = pr.GetValue(imageTypes) is { } typeList ? typeList.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : null,
                };
                if (v.WhereSecond && !v.WherePairs) throw new ArgumentException("--image-where-second alternates with the where-pair question: it needs --image-where-pairs true");
                if (v.QuestionWeight < 0 || !float.IsFinite(v.QuestionWeight)) throw new ArgumentException($"--image-question-weight must be 0 or more (got {v.QuestionWeight})");
                if (v.Merge < 0 || (v.Merge > 1 && NextToken.Vision.ShapesTask.ImageSize / Math.Max(1, v.PatchSize) % v.Merge != 0))
                    throw new ArgumentException($"--image-merge must divide the patch grid's side ({NextToken.Vision.ShapesTask.ImageSize / Math.Max(1, v.PatchSize)}) (got {v.Merge})");
                if (v.RelationQuestions < 1) throw new ArgumentException($"--image-relation-questions must be at least 1 (got {v.RelationQuestions})");
                if (v.GroundingWeight < 0 || !float.IsFinite(v.GroundingWeight)) throw new ArgumentException($"--image-grounding-weight must be 0 or more (got {v.GroundingWeight})");
                if (v.RowLength < 0) throw new ArgumentException($"--image-row-length must be at least 0 (got {v.RowLength})");
                if (v.Readouts < 0) throw new ArgumentException($"--image-readouts must be at least 0 (got {v.Readouts})");
                if (v.ProjectorHidden < 0) throw new ArgumentException($"--image-projector-hidden must be at least 0 (got {v.ProjectorHidden})");
                if (v.EncoderLayers < 0) throw new ArgumentException($"--image-encoder-layers must be at least 0 (got {v.EncoderLayers})");
                if (v.QuestionsPerRow < 1) throw new ArgumentException($"--image-questions must be at least 1 (got {v.QuestionsPerRow})");
                if (v.PatchSize < 1 || NextToken.Vision.ShapesTask.ImageSize % v.PatchSize != 0)
                    throw new ArgumentException($"--image-patch must divide the {NextToken.Vision.ShapesTask.ImageSize}-pixel image (got {v.PatchSize})");
                foreach (string type in v.Types ?? [])
                    if (!NextToken.Vision.ShapesTask.Types.Contains(type) && type is not ("where" or "where2" or "where3"))
                        throw new ArgumentException($"--image-types: unknown question type '{type}' (expected {string.Join(", ", NextToken.Vision.ShapesTask.Types)}, where, where2 or where3)");
                if (v.Types is { Count: 0 }) throw new ArgumentException("--image-types names no question type");
                if (v.EvalImages < 0) throw new ArgumentException($"--eval-images must be at least 0 (got {v.EvalImages})");
                TrainShapes.Run(v, pr.GetResult(output) is { Implicit: false } ? outDir : Path.Combine("runs", "shapes"), pr.GetValue(json),
                                pr.GetValue(data) == TrainShapes.DataName ? null : pr.GetValue(data));
                return 0;
            }
            bool quietJson = pr.GetValue(json);
            var log = quietJson ? Console.Error : Console.Out;
            Checkpoint.Loaded? loaded = null;
            TrainOptions options;
            GptModel model;
            PreparedData prepared;
            string? builtin;
            if (resuming)
            {
                loaded = Checkpoint.LoadFull(outDir, withOptimizer: true);
                if (loaded.State?.Options is null || loaded.State.DataDirectory is null || loaded.Optimizer is null)
                    throw new InvalidDataException($"the checkpoint in '{outDir}' has no training state to resume from (it holds weights only)");
                prepared = LoadData(loaded.State.DataDirectory);
                builtin = BuiltinDatasets.NameOf(prepared);
                model = loaded.Model;
                var saved = loaded.State.Options;
                CheckResumeFlags(saved, model.Config);
                options = saved;
                if (pr.GetValue(iters) is int more && more != saved.Iterations)
                {
                    options = (saved with { Iterations = more }).Validate();
                    log.WriteLine($"resuming with --iters {more} (the run was set for {saved.Iterations} steps)");
                }
            }
            else
            {
                string dataSpec = pr.GetValue(data)!;
                if (BuiltinDatasets.TryParse(dataSpec, out var name))
                {
                    builtin = name;
                    prepared = BuiltinDatasets.PrepareBuiltin(name, Path.Combine(outDir, "data"), 1337);
                }
                else
                {
                    builtin = null;
                    if (File.Exists(dataSpec))
                        throw new ArgumentException($"--data '{dataSpec}' is a text file, not a prepared data directory: run 'nexttoken prepare --input {dataSpec} --out DIR' first, then train with --data DIR");
                    prepared = LoadData(dataSpec);
                }
                var cfg = GptPresets.Get(pr.GetValue(preset) ?? (builtin is not null ? "default" : "char-tiny"));
                // builtin:icl's recipe (docs/evaluation.md), unless a flag or a preset says otherwise: 2 layers × 128 wide,
                // rotary positions, 10,000 steps of 32 × 64 tokens at lr 2e-3 without weight decay (≈ 9 min on 2 cores),
                // the budget in which the induction lookup forms (3,000 steps stay at copying any recent label).
                bool icl = builtin == BuiltinDatasets.Icl && pr.GetValue(preset) is null;
                T Recipe<T>(Option<T> o, T iclValue) => icl && pr.GetResult(o) is null or { Implicit: true } ? iclValue : pr.GetValue(o)!;
                if (icl) cfg = cfg with { Layers = 2, Heads = 4, EmbeddingSize = 128, ContextLength = 64, Positions = PositionEncoding.Rotary };
                cfg = cfg with
                {
                    VocabSize = prepared.VocabSize,
                    Layers = pr.GetValue(layers) ?? cfg.Layers,
                    Heads = pr.GetValue(heads) ?? cfg.Heads,
                    EmbeddingSize = pr.GetValue(embd) ?? cfg.EmbeddingSize,
                    ContextLength = pr.GetValue(block) ?? cfg.ContextLength,
                    Dropout = pr.GetValue(dropout),
                    Positions = pr.GetValue(positions) ?? cfg.Positions,
                    Norm = pr.GetValue(norm) ?? cfg.Norm,
                    Bias = !pr.GetValue(noBias) && cfg.Bias,
                    TiedEmbeddings = !pr.GetValue(untied) && cfg.TiedEmbeddings,
                };
                cfg.Validate();
                options = new TrainOptions
                {
                    BatchSize = Recipe(batch, 32), SequenceLength = cfg.ContextLength,
                    Iterations = pr.GetValue(iters) ?? (icl ? 10_000 : builtin is not null ? BuiltinIterations : d.Iterations),
                    LearningRate = Recipe(lr, 2e-3f), MinLearningRate = pr.GetValue(minLr), WarmupIterations = pr.GetValue(warmup),
                    DecayIterations = pr.GetValue(decay), WeightDecay = Recipe(wd, 0f), Beta1 = pr.GetValue(beta1), Beta2 = pr.GetValue(beta2),
                    GradientClip = pr.GetValue(clip), GradientAccumulation = pr.GetValue(accum),
                    EvalInterval = pr.GetValue(evalInterval) ?? (builtin is not null ? BuiltinEvalInterval : d.EvalInterval),
                    EvalIterations = pr.GetValue(evalIters), CheckpointInterval = pr.GetValue(ckptInterval), Seed = pr.GetValue(seed), Order = pr.GetValue(order),
                }.Validate();
                model = new GptModel(cfg, options.Seed);
            }

            log.WriteLine($"model: {model.ParameterCount:N0} parameters");
            log.WriteLine(model.Config.ToJson());
            log.WriteLine($"training: {JsonSerializer.Serialize(options)}");
            log.WriteLine($"data: {prepared}");

            using var trainFile = prepared.OpenTrain();
            using var valFile = prepared.OpenVal();
            var loader = new BatchLoader(trainFile, options.BatchSize, options.SequenceLength, options.Order, options.Seed);
            var trainer = new Trainer(model, loader, valFile.Count > options.SequenceLength ? valFile : null, options, outDir, prepared.Tokenizer,
                                      Path.GetFullPath(prepared.Directory), loaded);
            if (resuming && trainer.Step >= options.Iterations)
                log.WriteLine($"the run in {outDir} already finished its {options.Iterations} steps; its summary follows (--iters N trains further)");
            // builtin:icl: probe the model every IclProbeInterval steps (held-out-task loss by position, ICL score, best
            // induction score) into icl_probe.jsonl, so the phase change can be drawn beside the loss curve.
            if (builtin == BuiltinDatasets.Icl) IclTraining.Track(trainer, model, prepared, outDir);
            var result = TrainingDisplay.RunWithCtrlC(trainer, options, log, quietJson, outDir, out bool cancelled);
            log.WriteLine($"done: {result.Iterations} steps, train loss {result.FinalTrainLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "n/a"}, " +
                          $"best val loss {result.BestValLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "n/a"}, " +
                          $"{result.TokensPerSecond:F0} tokens/s, {result.WallSeconds:F1} s; checkpoint in {outDir}");

            var summary = JsonSerializer.SerializeToNode(result)!.AsObject();
            if (result.BestValLoss is double bestVal && prepared.BitsPerCharacter(bestVal) is double bpc)
            {
                // Bits per character compare tokenizers fairly (a BPE token spans several characters).
                log.WriteLine($"best val loss in bits per character: {bpc:F4} ({prepared.ValTokens:N0} val tokens over {prepared.ValCharacters:N0} characters)");
                summary["best_val_bits_per_char"] = bpc;
            }
            if (builtin is not null && !result.Interrupted)
            {
                if (builtin is BuiltinDatasets.Grammar or BuiltinDatasets.GrammarRepeats)
                {
                    if (pr.GetValue(samples) > 0)
                    {
                        var examples = new List<string>();
                        var report = BuiltinTaskEvaluator.Grammar(model, prepared.Tokenizer, pr.GetValue(samples), options.Seed, examples);
                        foreach (var s in examples.Take(5)) log.WriteLine($"  sample: {s}");
                        log.WriteLine($"grammatical samples: {report.Grammatical}/{report.Total} = {report.Share:P1} (target ≥ 95%)");
                        summary["grammatical_share"] = report.Share;
                    }
                }
                else if (builtin == BuiltinDatasets.Icl)
                {
                    var curve = IclTraining.Finish(model, prepared, outDir, log);
                    summary["accuracy_by_shots"] = System.Text.Json.Nodes.JsonNode.Parse(JsonSerializer.Serialize(curve.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => kv.Value)));
                }
                else
                {
                    var problems = AdditionTask.HeldOutProblems(BuiltinDatasets.AdditionDigits, 1337, BuiltinDatasets.AdditionHeldOutFraction);
                    double acc = BuiltinTaskEvaluator.Addition(model, prepared.Tokenizer, problems);
                    log.WriteLine($"held-out addition exact match: {acc:P1} over {problems.Count} problems (target ≥ 99%)");
                    summary["exact_match"] = acc;
                }
            }
            if (quietJson) Console.WriteLine(summary.ToJsonString());
            return result.Interrupted ? 130 : 0;

            // A resumed run takes its data, model and options from the checkpoint; a flag given beside --resume must
            // agree with the saved value (--iters excepted), never be silently ignored.
            void CheckResumeFlags(TrainOptions saved, GptConfig cfg)
            {
                var conflicts = new List<string>();
                void Check<T>(Option<T> option, T savedValue)
                {
                    if (pr.GetResult(option) is not { Implicit: false }) return;
                    T given = pr.GetValue(option)!;
                    if (!EqualityComparer<T>.Default.Equals(given, savedValue)) conflicts.Add($"{option.Name} {Show(given)} (saved: {Show(savedValue)})");
                }
                if (pr.GetResult(data) is { Implicit: false })
                {
                    string spec = pr.GetValue(data)!;
                    bool same = BuiltinDatasets.TryParse(spec, out var name) ? name == builtin : builtin is null && SamePath(spec, prepared.Directory);
                    if (!same) conflicts.Add($"--data {spec} (saved: {(builtin is null ? prepared.Directory : BuiltinDatasets.Prefix + builtin)})");
                }
                if (pr.GetValue(preset) is { } presetName)
                {
                    var p = GptPresets.Get(presetName);
                    var described = p with
                    {
                        VocabSize = cfg.VocabSize, Dropout = cfg.Dropout,
                        Layers = pr.GetValue(layers) ?? p.Layers, Heads = pr.GetValue(heads) ?? p.Heads, EmbeddingSize = pr.GetValue(embd) ?? p.EmbeddingSize,
                        ContextLength = pr.GetValue(block) ?? p.ContextLength, Positions = pr.GetValue(positions) ?? p.Positions, Norm = pr.GetValue(norm) ?? p.Norm,
                        Bias = !pr.GetValue(noBias) && p.Bias, TiedEmbeddings = !pr.GetValue(untied) && p.TiedEmbeddings,
                    };
                    if (described != cfg) conflicts.Add($"--preset {presetName} (the saved model is another shape: {cfg.Layers} layers, {cfg.Heads} heads, {cfg.EmbeddingSize} wide, context {cfg.ContextLength})");
                }
                Check(layers, (int?)cfg.Layers);
                Check(heads, (int?)cfg.Heads);
                Check(embd, (int?)cfg.EmbeddingSize);
                Check(block, (int?)cfg.ContextLength);
                Check(positions, (PositionEncoding?)cfg.Positions);
                Check(norm, (NormPlacement?)cfg.Norm);
                Check(noBias, !cfg.Bias);
                Check(untied, !cfg.TiedEmbeddings);
                Check(dropout, cfg.Dropout);
                Check(batch, saved.BatchSize);
                Check(lr, saved.LearningRate);
                Check(minLr, saved.MinLearningRate);
                Check(warmup, saved.WarmupIterations);
                Check(decay, saved.DecayIterations);
                Check(wd, saved.WeightDecay);
                Check(beta1, saved.Beta1);
                Check(beta2, saved.Beta2);
                Check(clip, saved.GradientClip);
                Check(accum, saved.GradientAccumulation);
                Check(evalInterval, (int?)saved.EvalInterval);
                Check(evalIters, saved.EvalIterations);
                Check(ckptInterval, saved.CheckpointInterval);
                Check(seed, saved.Seed);
                Check(order, saved.Order);
                if (conflicts.Count > 0)
                    throw new ArgumentException($"--resume continues the run in {outDir} with its saved data, model and options, but {string.Join(", ", conflicts)}: " +
                                                "drop those flags (only --iters may change), or start a new run with another --out");
            }
        });
        return cmd;
    }

    private static bool SamePath(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)),
                      OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    private static string Show<T>(T value) => value switch
    {
        null => "none",
        bool b => b ? "given" : "not given",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    // The library names the directory and what is missing; the CLI adds how to make one.
    internal static PreparedData LoadData(string directory)
    {
        try { return PreparedData.Load(directory); }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            throw new InvalidDataException($"{e.Message} ('nexttoken prepare --input FILE --out DIR' writes a prepared data directory)", e);
        }
    }
}
