// VisionTraining: trains a multimodal GPT on builtin:shapes (image prefix + question → answer, loss on the answer only),
// a text-only baseline on the same questions, and scores both by exact match per question type on held-out images.
using System.Diagnostics;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Vision;

/// <summary>Options of <see cref="VisionTraining"/> (defaults: the recipe measured in docs/multimodal.md).</summary>
public sealed record VisionTrainOptions
{
    /// <summary>Transformer layers.</summary>
    public int Layers { get; init; } = 4;
    /// <summary>Attention heads (8 of 16 dimensions: a patch gathers several words of the question side by side).</summary>
    public int Heads { get; init; } = 8;
    /// <summary>Model width.</summary>
    public int Embedding { get; init; } = 128;
    /// <summary>Patch side in pixels (32 / 8 = 4 × 4 patches).</summary>
    public int PatchSize { get; init; } = 8;
    /// <summary>Optimizer steps of the multimodal model (about 8 minutes on 2 cores with the other defaults).</summary>
    public int Iterations { get; init; } = 4000;
    /// <summary>Optimizer steps of the text-only baseline (0: none; the CLI gives it a quarter of the steps, at most this many).</summary>
    public int TextOnlyIterations { get; init; } = 300;
    /// <summary>Questions per batch.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Peak learning rate (cosine decay to a tenth after a linear warm-up).</summary>
    public float LearningRate { get; init; } = 2e-3f;
    /// <summary>Warm-up steps.</summary>
    public int Warmup { get; init; } = 100;
    /// <summary>Seed of the model, the training scenes and the question choice.</summary>
    public ulong Seed { get; init; } = 1337;
    /// <summary>Held-out images scored after training (one question of every type each image has).</summary>
    public int EvalImages { get; init; } = 200;
    /// <summary>
    /// builtin:shapes in word tokens (a byte-level BPE trained on the task's text, every word one token) instead of
    /// characters (default): a question is about 10 tokens instead of 45 characters. User image-text files keep characters.
    /// </summary>
    public bool WordTokens { get; init; } = true;
    /// <summary>
    /// Questions about the same image packed into one training row (one of each type the scene has, in random order, as
    /// many as fit), each answer trained: more supervision per image and per forward pass. 1: one question per row.
    /// builtin:shapes only (a user's file trains one question per row).
    /// </summary>
    public int QuestionsPerRow { get; init; } = 6;
    /// <summary>Hidden width of the MLP image projector (LLaVA-1.5; default 256, measured better than linear); 0: one linear layer (Fuyu).</summary>
    public int ProjectorHidden { get; init; } = 256;
    /// <summary>
    /// Layers of the ViT between the projector and the decoder (<see cref="GptConfig.ImageEncoderLayers"/>; default 1: every
    /// patch sees its whole shape before the decoder reads it; 0: none).
    /// </summary>
    public int EncoderLayers { get; init; } = 1;
    /// <summary>
    /// Learned row and column vectors added to the patches (<see cref="GptConfig.ImagePositions2D"/>; default true: with the
    /// image after a question of varying length, the 1-D position of a patch no longer tells its place).
    /// </summary>
    public bool Positions2D { get; init; } = true;
    /// <summary>
    /// Each question's answer weighs the same in the loss (each answer token and its newline 1/(tokens + 1)) instead of each
    /// token: a caption of 20 tokens no longer outweighs a yes/no twenty to one.
    /// </summary>
    public bool WeightPerQuestion { get; init; }
    /// <summary>
    /// Each training row ends with one auxiliary "where is the C K?" (<see cref="VisionTraining.SampleShapesWithWhere"/>)
    /// instead of the default where-pair question.
    /// </summary>
    public bool WhereQuestions { get; init; }
    /// <summary>
    /// Each training row ends with one auxiliary "where are the C1 K1 and the C2 K2?" (<see cref="ShapesTask.WherePairQuestions"/>;
    /// "where is the C K?" when the scene names fewer than two shapes): the place of both shapes of a relation, the second
    /// one's words where left/above have them. Default true; never scored.
    /// </summary>
    public bool WherePairs { get; init; } = true;
    /// <summary>
    /// Left/above training questions drawn with "yes" and "no" equally often (when the scene has both) instead of uniformly
    /// among the pairs, where "no" is twice as common: the majority answer is then worth nothing. Evaluation is unchanged.
    /// </summary>
    public bool BalanceRelations { get; init; }
    /// <summary>
    /// With <see cref="WherePairs"/>: every other row's auxiliary question is "where in the whole image is the C K?"
    /// (<see cref="ShapesTask.WhereSecondQuestions"/>) instead of the pair: one shape named where a relation names its
    /// second, its place answered at the image's end, where a relation is answered.
    /// </summary>
    public bool WhereSecond { get; init; }
    /// <summary>
    /// Patches merged into one image token per m × m block after the ViT (<see cref="GptConfig.ImageMerge"/>, nanoVLM's pixel
    /// shuffle; default 2; 0: none): with 8-pixel patches, m = 2 gives one token per grid cell, 6 image positions instead of 18.
    /// </summary>
    public int Merge { get; init; } = 2;
    /// <summary>
    /// Left (and above) questions per training scene, about different pairs (default 2; as many as the scene has when
    /// fewer): more of the supervision on the relations, the last skill learned. Evaluation is unchanged.
    /// </summary>
    public int RelationQuestions { get; init; } = 2;
    /// <summary>
    /// Loss weight of grounding targets with <see cref="PackScenes"/> (default 0.2; 0: none; without packing, none): each image token of a question that names
    /// shapes predicts "what" where its grid cell holds the first shape named, "how" the second, "describe" elsewhere (words
    /// that only open questions, so never otherwise a target)
    /// (<see cref="VisionQuestion.Referents"/>) — a referring-expression signal, as grounded VLMs (Kosmos-2, Shikra) train
    /// with boxes, on the binding of names to places that the relations need. Word tokens only (none with characters).
    /// </summary>
    public float GroundingWeight { get; init; } = 0.2f;
    /// <summary>Learned readout positions between the patches and img.end (<see cref="GptConfig.ImageReadouts"/>; 0: none).</summary>
    public int Readouts { get; init; }
    /// <summary>
    /// Loss weight of the question's own tokens, each predicted from the ones before it (default 0.2; 0: the loss is on the
    /// answers only). With the image after the question only. Predicting the question teaches its structure — whether a
    /// word names the first shape of a relation or the second (after "the red circle" comes "left", after "the blue
    /// square" the question mark) — which the patches need to tell the two shapes apart (docs/multimodal.md).
    /// </summary>
    public float QuestionWeight { get; init; } = 0.2f;
    /// <summary>
    /// Train and score only these question types (of <see cref="ShapesTask.Types"/>, and "where" for the auxiliary
    /// question); null: all six. A probe: can the model learn one relation on its own?
    /// </summary>
    public IReadOnlyList<string>? Types { get; init; }
    /// <summary>In a row of several questions the caption comes last (<see cref="VisionTraining.SampleShapesCaptionLast"/>).</summary>
    public bool CaptionLast { get; init; }
    /// <summary>
    /// The image after the question (<see cref="GptConfig.ImageAfterPrompt"/>): each question of a row becomes its own
    /// document, <c>question "\n" [image] answer "\n"</c>, packed into the row with attention kept inside each.
    /// Default true: measured 87.8% against 67.2% for the image first at 2,000 steps (docs/multimodal.md).
    /// </summary>
    public bool ImageAfterQuestion { get; init; } = true;
    /// <summary>
    /// With the image after the question: the question documents of a stream of scenes packed one after another into the
    /// rows (<see cref="VisionTraining.ScenePacker"/>), each with its own scene's image, instead of one scene per row with
    /// the rest of the row padding (default true). Every question of every scene is still trained, in the scene's order. builtin:shapes only.
    /// </summary>
    public bool PackScenes { get; init; } = true;
    /// <summary>
    /// Positions per training row with <see cref="PackScenes"/> (0: 6 image spans and 84 text positions, about as many
    /// questions per step as one scene per row had: 120 with merged image tokens, 192 without).
    /// </summary>
    public int RowLength { get; init; }
    /// <summary>The model's own positions (learned, sinusoidal or rotary) for the prefix and the text.</summary>
    public PositionEncoding Positions { get; init; } = PositionEncoding.Learned;
}

/// <summary>What <see cref="VisionTraining.Run"/> measured.</summary>
public sealed record VisionReport(double ExactMatch, IReadOnlyDictionary<string, double> ExactMatchByType, double TextOnlyExactMatch,
                                  IReadOnlyDictionary<string, double> TextOnlyByType, int Questions, long Parameters, double WallSeconds,
                                  IReadOnlyList<(ShapesScene Scene, VisionQuestion Question, string Answer)> Samples);

/// <summary>
/// Training and evaluation for builtin:shapes. A row is [img.start, 16 patches, img.end] + question + "\n" + answer + "\n"
/// in characters; the loss counts only the answer and its closing newline (per-target weights). The text-only baseline
/// is the same model without the image prefix, trained on the same question stream.
/// </summary>
public static class VisionTraining
{
    /// <summary>Held-out scenes come from this seed offset (never used for training).</summary>
    public const ulong HeldOutSeed = 0x5EED_0F_1AB5UL;
    /// <summary>Characters of question + answer (with their newlines) a builtin:shapes row has room for.</summary>
    public const int TextLength = 104;

    /// <summary>The character vocabulary of the task.</summary>
    public static CharTokenizer Tokenizer() => CharTokenizer.FromText(ShapesTask.Alphabet);

    /// <summary>
    /// The task's word vocabulary: a byte-level BPE trained on every question and answer of 2,000 scenes, merged until
    /// each word (with its leading space) is one token; text outside the templates still encodes, byte by byte.
    /// </summary>
    public static ITokenizer WordTokenizer(bool where = false)
    {
        var rng = new Rng(0x0_D5, 3);
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < 2000; i++)
        {
            var shapes = ShapesTask.Sample(ref rng).Shapes;
            foreach (var q in ShapesTask.Questions(shapes).Concat(where ? ShapesTask.AuxiliaryQuestions(shapes) : []))
                text.Append(q.Question).Append('\n').Append(q.Answer).Append('\n');
        }
        return BpeTrainer.Train(text.ToString(), new BpeTrainerOptions { VocabSize = 512, MinFrequency = 1, Threads = 1, SpecialTokens = [] }).Tokenizer;
    }

    /// <summary>The model configuration for <paramref name="o"/> (multimodal, or text-only for the baseline).</summary>
    public static GptConfig Config(VisionTrainOptions o, int vocab, bool images, int context = 128) => new GptConfig
    {
        VocabSize = vocab, ContextLength = context, Layers = o.Layers, Heads = o.Heads, EmbeddingSize = o.Embedding,
        ImageSize = images ? ShapesTask.ImageSize : 0, ImagePatchSize = images ? o.PatchSize : 0, ImageProjectorHidden = images ? o.ProjectorHidden : 0,
        ImagePositions2D = images && o.Positions2D, ImageEncoderLayers = images ? o.EncoderLayers : 0, Positions = o.Positions,
        ImageAfterPrompt = images && o.ImageAfterQuestion, ImageReadouts = images ? o.Readouts : 0, ImageMerge = images ? o.Merge : 0,
    }.Validate();

    /// <summary>A training example: the image (S × S × 3) and questions about it with their answers (the first is always used).</summary>
    public delegate (float[] Image, IReadOnlyList<VisionQuestion> Questions) Sampler(ref Rng rng);

    /// <summary>builtin:shapes' endless stream: a fresh scene and one of its questions (types drawn uniformly).</summary>
    public static (float[] Image, IReadOnlyList<VisionQuestion> Questions) SampleShapes(ref Rng rng)
    {
        var scene = ShapesTask.Sample(ref rng);
        return (scene.Pixels, [ShapesTask.PickQuestion(ShapesTask.Questions(scene.Shapes), ref rng)]);
    }

    /// <summary>A fresh scene and one question of each type it has, in random order.</summary>
    public static (float[] Image, IReadOnlyList<VisionQuestion> Questions) SampleShapesPerType(ref Rng rng) => PerType(ref rng, captionLast: false, out _);

    /// <summary>
    /// As <see cref="SampleShapesPerType"/>, but the caption comes last: it names every shape, so an earlier caption would
    /// let the questions after it be answered from the text instead of the image.
    /// </summary>
    public static (float[] Image, IReadOnlyList<VisionQuestion> Questions) SampleShapesCaptionLast(ref Rng rng) => PerType(ref rng, captionLast: true, out _);

    /// <summary>
    /// As <see cref="SampleShapesPerType"/>, then one auxiliary "where is the C K?" (<see cref="ShapesTask.WhereQuestions"/>)
    /// last, so that no scored question can read its answer.
    /// </summary>
    public static (float[] Image, IReadOnlyList<VisionQuestion> Questions) SampleShapesWithWhere(ref Rng rng)
    {
        var (image, questions) = PerType(ref rng, captionLast: false, out var shapes);
        var where = ShapesTask.WhereQuestions(shapes);
        return where.Count == 0 ? (image, questions) : (image, [.. questions, where[rng.NextInt(where.Count)]]);
    }

    /// <summary>
    /// Scenes with at least one question of <paramref name="types"/> ("where" included), and one question of each of those
    /// types the scene has, in random order (the probe of <see cref="VisionTrainOptions.Types"/>).
    /// </summary>
    public static Sampler SampleTypes(IReadOnlyList<string> types)
    {
        var order = ShapesTask.Types.Append("where").Append("where2").Append("where3").Where(types.Contains).ToArray();
        return (ref Rng rng) =>
        {
            while (true)
            {
                var scene = ShapesTask.Sample(ref rng);
                var picked = OnePerType([.. ShapesTask.Questions(scene.Shapes), .. ShapesTask.AuxiliaryQuestions(scene.Shapes)], order, ref rng, captionLast: false);
                if (picked.Length > 0) return (scene.Pixels, picked);
            }
        };
    }

    /// <summary>
    /// As <see cref="SampleShapesPerType"/>, then one auxiliary "where are the C1 K1 and the C2 K2?"
    /// (<see cref="ShapesTask.WherePairQuestions"/>; "where is the C K?" when the scene names only one shape) last.
    /// </summary>
    public static (float[] Image, IReadOnlyList<VisionQuestion> Questions) SampleShapesWithWherePair(ref Rng rng) => WithWherePair(ref rng, balance: false, second: false);

    /// <summary>
    /// As <see cref="SampleShapesWithWherePair"/>, but every other row (at random) ends with "where in the whole image is the
    /// C K?" (<see cref="ShapesTask.WhereSecondQuestions"/>) instead of the pair.
    /// </summary>
    public static (float[] Image, IReadOnlyList<VisionQuestion> Questions) SampleShapesWithWhereSecond(ref Rng rng) => WithWherePair(ref rng, balance: false, second: true);

    private static (float[] Image, IReadOnlyList<VisionQuestion> Questions) WithWherePair(ref Rng rng, bool balance, bool second, int relations = 1)
    {
        var (image, questions) = PerType(ref rng, captionLast: false, out var shapes, balance, relations);
        var where = second && rng.NextInt(2) == 0 ? ShapesTask.WhereSecondQuestions(shapes) : ShapesTask.WherePairQuestions(shapes);
        if (where.Count == 0) where = ShapesTask.WhereQuestions(shapes);
        return where.Count == 0 ? (image, questions) : (image, [.. questions, where[rng.NextInt(where.Count)]]);
    }

    /// <summary>
    /// As <see cref="SampleShapesPerType"/> with left/above questions drawn "yes" or "no" with equal chance when the scene
    /// has both (<see cref="VisionTrainOptions.BalanceRelations"/>).
    /// </summary>
    public static (float[] Image, IReadOnlyList<VisionQuestion> Questions) SampleShapesBalanced(ref Rng rng) => PerType(ref rng, captionLast: false, out _, balance: true);

    /// <summary>The training stream of <paramref name="o"/> for builtin:shapes (null: one question per row, <see cref="SampleShapes"/>).</summary>
    public static Sampler? ShapesSampler(VisionTrainOptions o)
    {
        if (o.WhereSecond && !o.WherePairs) throw new ArgumentException("WhereSecond alternates with the where-pair question: it needs WherePairs", nameof(o));
        if (o.Types is { } only) return SampleTypes(only);
        if (o.QuestionsPerRow <= 1) return null;
        if (o.WhereQuestions) return SampleShapesWithWhere; // asked for explicitly, it replaces the default where pair
        if (o.RelationQuestions < 1) throw new ArgumentException($"RelationQuestions must be at least 1 (got {o.RelationQuestions})", nameof(o));
        if (o.WherePairs)
            return o.BalanceRelations || o.RelationQuestions > 1 ? (ref Rng rng) => WithWherePair(ref rng, o.BalanceRelations, o.WhereSecond, o.RelationQuestions)
                 : o.WhereSecond ? SampleShapesWithWhereSecond : SampleShapesWithWherePair;
        if (o.RelationQuestions > 1) return (ref Rng rng) => PerType(ref rng, o.CaptionLast, out _, o.BalanceRelations, o.RelationQuestions);
        if (o.CaptionLast) return SampleShapesCaptionLast;
        return o.BalanceRelations ? SampleShapesBalanced : SampleShapesPerType;
    }

    private static (float[] Image, IReadOnlyList<VisionQuestion> Questions) PerType(ref Rng rng, bool captionLast, out IReadOnlyList<Shape> shapes, bool balance = false,
                                                                                    int relations = 1)
    {
        var scene = ShapesTask.Sample(ref rng);
        shapes = scene.Shapes;
        return (scene.Pixels, OnePerType(ShapesTask.Questions(scene.Shapes), ShapesTask.Types, ref rng, captionLast, balance, relations));
    }

    // One question of each of `types` that `all` has (drawn in the order of `types`), then shuffled; with captionLast the
    // last one (the caption, last of ShapesTask.Types) stays in place. With balance, a left/above question is "yes" or "no"
    // with equal chance when the scene has both.
    // With relations > 1, up to that many different left (and above) questions, the first drawn as with one.
    private static VisionQuestion[] OnePerType(IReadOnlyList<VisionQuestion> all, IReadOnlyList<string> types, ref Rng rng, bool captionLast, bool balance = false,
                                               int relations = 1)
    {
        var picked = new List<VisionQuestion>();
        foreach (string type in types)
        {
            var ofType = all.Where(q => q.Type == type).ToList();
            if (balance && type is ("left" or "above"))
            {
                var yes = ofType.Where(q => q.Answer == "yes").ToList();
                if (yes.Count > 0 && yes.Count < ofType.Count && rng.NextInt(2) == 0) ofType = yes;
                else if (yes.Count > 0 && yes.Count < ofType.Count) ofType = [.. ofType.Where(q => q.Answer != "yes")];
            }
            if (ofType.Count > 0)
            {
                int first = rng.NextInt(ofType.Count);
                picked.Add(ofType[first]);
                if (relations > 1 && type is ("left" or "above"))
                {
                    ofType.RemoveAt(first);
                    for (int extra = 1; extra < relations && ofType.Count > 0; extra++)
                    {
                        int i = rng.NextInt(ofType.Count);
                        picked.Add(ofType[i]);
                        ofType.RemoveAt(i);
                    }
                }
            }
        }
        var order = picked.ToArray();
        rng.Shuffle(order.AsSpan(0, captionLast ? Math.Max(0, order.Length - 1) : order.Length));
        return order;
    }

    /// <summary>
    /// Text tokens of a builtin:shapes training row: room for the longest question and answer (a caption of four shapes:
    /// 26 words and marks, 84 characters), or for about six of them with <see cref="VisionTrainOptions.QuestionsPerRow"/>.
    /// </summary>
    public static int RowTextLength(VisionTrainOptions o) => (o.WordTokens, o.QuestionsPerRow > 1) switch
    {
        (true, false) => 32,
        (true, true) => o.WherePairs || (o.Types?.Any(t => t is "where2" or "where3") ?? false) ? 116 : Where(o) ? 108 : 96,
        (false, false) => TextLength,
        (false, true) => 256,
    };

    /// <summary>The tokenizer <see cref="Run"/> trains builtin:shapes with (<see cref="VisionTrainOptions.WordTokens"/>).</summary>
    public static ITokenizer TokenizerFor(VisionTrainOptions o) => o.WordTokens ? WordTokenizer(Where(o)) : Tokenizer();

    private static bool Where(VisionTrainOptions o) => o.WhereQuestions || o.WherePairs || (o.Types?.Any(t => t.StartsWith("where", StringComparison.Ordinal)) ?? false);

    /// <summary>Trains the multimodal model and the baseline, evaluates both, and returns the figures (and the model).</summary>
    public static (GptModel Model, ITokenizer Tokenizer, VisionReport Report) Run(VisionTrainOptions o, Action<TrainProgress>? progress = null,
                                                                                 CancellationToken cancellation = default)
    {
        var sw = Stopwatch.StartNew();
        var tok = TokenizerFor(o);
        var sampler = ShapesSampler(o);
        int textLength = RowTextLength(o);
        var model = Train(o, tok, images: true, o.Iterations, progress, cancellation, sampler, textLength);
        var results = Evaluate(model, tok, o.EvalImages, out var samples, o.Types);
        var (em, byType) = ShapesTask.Score(results);
        double textEm = double.NaN;
        IReadOnlyDictionary<string, double> textByType = new Dictionary<string, double>();
        if (o.TextOnlyIterations > 0 && !cancellation.IsCancellationRequested)
        {
            var baseline = Train(o, tok, images: false, o.TextOnlyIterations, null, cancellation, sampler, textLength);
            (textEm, textByType) = ShapesTask.Score(Evaluate(baseline, tok, o.EvalImages, out _, o.Types));
        }
        return (model, tok, new VisionReport(em, byType, textEm, textByType, results.Count, model.ParameterCount, sw.Elapsed.TotalSeconds, samples));
    }

    /// <summary>
    /// Trains on a user's image-text JSONL (<see cref="ImageTextDataset"/>): the images are loaded and resized once, the
    /// character vocabulary is the file's, examples are drawn uniformly; the report scores every example of the file
    /// (exact match per "type") beside the text-only baseline. A held-out set is the user's: evaluate one with
    /// <c>nexttoken eval --data</c>.
    /// </summary>
    public static (GptModel Model, CharTokenizer Tokenizer, VisionReport Report) RunFile(VisionTrainOptions o, string jsonl, Action<TrainProgress>? progress = null,
                                                                                        CancellationToken cancellation = default)
    {
        var sw = Stopwatch.StartNew();
        var examples = ImageTextDataset.Read(jsonl);
        var images = examples.Select(e => ImageFiles.Load(e.ImagePath, ShapesTask.ImageSize)).ToArray();
        var tok = CharTokenizer.FromText(string.Concat(examples.Select(e => e.Prompt + e.Answer)) + "\n");
        int textLength = examples.Max(e => tok.Encode(e.Prompt + "\n").Length + tok.Encode(e.Answer + "\n").Length);
        (float[], IReadOnlyList<VisionQuestion>) Sample(ref Rng rng)
        {
            int i = rng.NextInt(examples.Count);
            return (images[i], [new VisionQuestion(examples[i].Type, examples[i].Prompt, examples[i].Answer)]);
        }
        o = o with { QuestionsPerRow = 1, PackScenes = false, GroundingWeight = 0 }; // a file's example is one question about its image, one per row
        var model = Train(o, tok, images: true, o.Iterations, progress, cancellation, Sample, textLength);
        List<(string, string, string)> Score(GptModel m) =>
            [.. examples.Select((e, i) => (e.Type, e.Answer, Answer(m, tok, m.Config.Multimodal ? images[i] : null, e.Prompt)))];
        var results = Score(model);
        var (em, byType) = ShapesTask.Score(results);
        double textEm = double.NaN;
        IReadOnlyDictionary<string, double> textByType = new Dictionary<string, double>();
        if (o.TextOnlyIterations > 0 && !cancellation.IsCancellationRequested)
            (textEm, textByType) = ShapesTask.Score(Score(Train(o, tok, images: false, o.TextOnlyIterations, null, cancellation, Sample, textLength)));
        return (model, tok, new VisionReport(em, byType, textEm, textByType, results.Count, model.ParameterCount, sw.Elapsed.TotalSeconds, []));
    }

    /// <summary>Trains one model (with or without images) for <paramref name="iterations"/> steps.</summary>
    public static GptModel Train(VisionTrainOptions o, ITokenizer tok, bool images, int iterations, Action<TrainProgress>? progress = null,
                                 CancellationToken cancellation = default, Sampler? sampler = null, int textLength = TextLength)
    {
        sampler ??= SampleShapes;
        int prefixLength = images ? new GptConfig { ImageSize = ShapesTask.ImageSize, ImagePatchSize = o.PatchSize, ImageReadouts = o.Readouts, ImageMerge = o.Merge }.ImagePrefixLength : 0;
        bool after = images && o.ImageAfterQuestion;
        int most = Math.Max(1, o.QuestionsPerRow) + ((o.WhereQuestions || o.WherePairs) && o.QuestionsPerRow > 1 ? 1 : 0); // questions per row
        bool pack = after && o.PackScenes;
        int rowLength = pack ? (o.RowLength > 0 ? o.RowLength : 6 * prefixLength + 84) : prefixLength * (after ? most : 1) + textLength;
        // Image copies per row: one per question document when after; packed, as many as the shortest documents (a
        // one-token question and answer, each with its newline) would need.
        int K = pack ? Math.Max(1, rowLength / (prefixLength + 4)) : after ? most : 1;
        var cfg = Config(o, tok.VocabSize, images, Math.Max(128, (rowLength + 15) / 16 * 16));
        var model = new GptModel(cfg, o.Seed);
        int B = o.BatchSize, P = cfg.ImagePrefixLength, T = rowLength, NP = cfg.ImagePatches, D = cfg.ImagePatchDim, C = cfg.EmbeddingSize;
        var inputs = new int[B * T];
        var targets = new int[B * T];
        var weights = new float[B * T];
        var docs = after ? new int[B * T] : [];
        var starts = after ? new int[B * K] : [];
        int maxImages = pack ? B * K + 2 : B; // packed: at most one scene per document, one carried into the step, one drawn at its end
        var patches = new float[Math.Max(1, maxImages * NP * D)];
        var prefix = new float[Math.Max(1, maxImages * P * C)];
        var spans = after ? new float[B * K * P * C] : prefix; // each image encoded once, copied into the spans of its documents
        var dprefix = after ? new float[maxImages * P * C] : [];
        var spanImage = pack ? new int[B * K] : [];
        var packer = pack ? new ScenePacker(sampler, tok, P, T, K, o.WeightPerQuestion, o.QuestionWeight, cfg.ImageTokens, o.WordTokens ? o.GroundingWeight : 0f) : null;
        var optimizer = new AdamW(model.Layout, model.GradientLayout, new AdamWOptions { Beta2 = 0.99f, WeightDecay = 0.1f });
        var rng = new Rng(o.Seed ^ 0x7EA1_11UL, images ? 3UL : 5UL);
        model.EnableGradients();
        model.ZeroGradients();
        model.Training = true;
        var sw = Stopwatch.StartNew();
        long tokens = 0;
        for (int step = 0; step < iterations && !cancellation.IsCancellationRequested; step++)
        {
            int imageCount = B;
            if (packer is not null)
            {
                packer.Fill(ref rng, B, inputs, targets, weights, docs, starts, spanImage);
                imageCount = packer.Images.Count;
                for (int i = 0; i < imageCount; i++) ImageEncoder.Patches(packer.Images[i], ShapesTask.ImageSize, o.PatchSize, patches.AsSpan(i * NP * D, NP * D));
            }
            else Array.Clear(weights); // the packer clears its own rows
            for (int b = 0; b < B && packer is null; b++)
            {
                var (image, qs) = sampler(ref rng);
                if (after)
                {
                    FillRowAfterQuestion(tok, qs, K, o.WeightPerQuestion, P, T, inputs.AsSpan(b * T, T), targets.AsSpan(b * T, T), weights.AsSpan(b * T, T),
                                         docs.AsSpan(b * T, T), starts.AsSpan(b * K, K), o.QuestionWeight);
                }
                else FillRow(tok, qs, most, o.WeightPerQuestion, P, T, inputs.AsSpan(b * T, T), targets.AsSpan(b * T, T), weights.AsSpan(b * T, T));
                if (images) ImageEncoder.Patches(image, ShapesTask.ImageSize, o.PatchSize, patches.AsSpan(b * NP * D, NP * D));
            }
            LossSum loss;
            if (images)
            {
                ImageEncoder.Forward(model, patches, prefix, imageCount);
                if (after)
                    for (int n = 0; n < B * K; n++)
                    {
                        int image = pack ? spanImage[n] : n / K;
                        if (image >= 0) prefix.AsSpan(image * P * C, P * C).CopyTo(spans.AsSpan(n * P * C, P * C));
                    }
                loss = model.ForwardSum(inputs, targets, B, T, computeGradients: true, 1f, weights,
                                        new BatchLayout { PrefixEmbeddings = spans, PrefixLength = P, PrefixStarts = starts, DocumentIds = docs });
                model.Backward();
                var dspans = model.PrefixGradient;
                if (after)
                {
                    Array.Clear(dprefix);
                    for (int n = 0; n < B * K; n++)
                    {
                        int image = pack ? spanImage[n] : n / K;
                        if (image < 0) continue;
                        var d = dprefix.AsSpan(image * P * C, P * C);
                        System.Numerics.Tensors.TensorPrimitives.Add(d, dspans.Slice(n * P * C, P * C), d);
                    }
                    dspans = dprefix;
                }
                ImageEncoder.Backward(model, patches, dspans, imageCount);
            }
            else
            {
                loss = model.ForwardSum(inputs, targets, B, T, computeGradients: true, 1f, weights);
                model.Backward();
            }
            float mean = loss.Weight > 0 ? (float)(1.0 / loss.Weight) : 0f;
            float lr = LearningRateSchedule.At(step, o.LearningRate, o.LearningRate / 10, o.Warmup, iterations);
            float norm = GradientClipping.GlobalNorm(model.Gradients!) * mean;
            optimizer.Update(model.Parameters, model.Gradients!, lr, GradientClipping.ClipScale(norm, 1f) * mean, clearGradients: true);
            tokens += (long)B * T;
            progress?.Invoke(new TrainProgress(step + 1, iterations, (float)loss.Mean, lr, norm, tokens / Math.Max(1e-9, sw.Elapsed.TotalSeconds), sw.Elapsed.TotalSeconds, null));
        }
        model.Training = false;
        return model;
    }

    // Row: P prefix positions (token ids unused), then question + "\n" + answer + "\n" for the first question and for as
    // many of the next ones (up to `most` in all) as fit; weights on every answer's targets (its tokens and newline): 1 each,
    // or 1/(answer tokens + newline) with perQuestion.
    internal static void FillRow(ITokenizer tok, IReadOnlyList<VisionQuestion> qs, int most, bool perQuestion, int P, int T, Span<int> inputs, Span<int> targets, Span<float> weights)
    {
        inputs.Clear();
        targets.Clear();
        var text = new List<int>(T);
        var answerStarts = new List<(int From, int To)>();
        for (int k = 0; k < qs.Count && k < most; k++)
        {
            int[] prompt = tok.Encode(qs[k].Question + "\n"), answer = tok.Encode(qs[k].Answer + "\n");
            int L = prompt.Length + answer.Length;
            if (P + text.Count + L > T)
            {
                if (k == 0) throw new InvalidOperationException($"question and answer take {L} tokens, more than the {T - P} a row has");
                break;
            }
            text.AddRange(prompt);
            answerStarts.Add((text.Count, text.Count + answer.Length));
            text.AddRange(answer);
        }
        // Sequence s: s[P + i] = text[i]. Input at t is s[t], target s[t + 1].
        for (int i = 0; i < text.Count; i++) inputs[P + i] = text[i];
        for (int t = Math.Max(P - 1, 0); t < P + text.Count - 1; t++)
        {
            int next = t + 1 - P; // index into text of the target
            targets[t] = text[next];
            foreach (var (from, to) in answerStarts)
                if (next >= from && next < to) weights[t] = perQuestion ? 1f / (to - from) : 1f;
        }
    }

    // Row with the image after each question: up to K documents `question "\n" [P image positions] answer "\n"` packed
    // from position 0 (docs[t] = k, starts[k] = where document k's image starts), then one document of P unused image
    // positions for each of the K spans left over (weight 0), then padding. Weights on every answer's targets (its tokens
    // and newline; the last image position predicts the first answer token): 1 each, or 1/(answer tokens + newline).
    internal static void FillRowAfterQuestion(ITokenizer tok, IReadOnlyList<VisionQuestion> qs, int K, bool perQuestion, int P, int T,
                                              Span<int> inputs, Span<int> targets, Span<float> weights, Span<int> docs, Span<int> starts,
                                              float questionWeight = 0f)
    {
        inputs.Clear();
        targets.Clear();
        weights.Clear();
        int t = 0, k = 0;
        for (; k < qs.Count && k < K; k++)
        {
            int[] prompt = tok.Encode(qs[k].Question + "\n"), answer = tok.Encode(qs[k].Answer + "\n");
            int L = prompt.Length + P + answer.Length;
            if (t + L + (K - k - 1) * P > T)
            {
                if (k == 0) throw new InvalidOperationException($"question, image and answer take {L} positions, more than the {T - (K - 1) * P} a row has");
                break;
            }
            starts[k] = WriteDocument(prompt, answer, P, t, k, perQuestion, questionWeight, inputs, targets, weights, docs);
            t += L;
        }
        for (int j = k; j < K; j++, t += P)
        {
            starts[j] = t;
            docs.Slice(t, P).Fill(j);
        }
        docs[t..].Fill(K);
    }

    // One document `prompt [P image positions] answer` at position t of a row (document id k): its tokens, its targets
    // (each next token, none inside the image; the image's last position predicts the first answer token) and weights
    // (questionWeight on the question's, 1 — or 1/(answer tokens) with perQuestion — on the answer's). Returns where the
    // image starts.
    private static int WriteDocument(int[] prompt, int[] answer, int P, int t, int k, bool perQuestion, float questionWeight,
                                     Span<int> inputs, Span<int> targets, Span<float> weights, Span<int> docs)
    {
        int image = t + prompt.Length, answerAt = image + P, end = answerAt + answer.Length;
        docs[t..end].Fill(k);
        prompt.CopyTo(inputs[t..]);
        answer.CopyTo(inputs[answerAt..]);
        for (int u = t; u < end - 1; u++)
        {
            int next = u + 1;
            if (next >= image && next < answerAt) continue;
            targets[u] = inputs[next];
            weights[u] = next < image ? questionWeight : perQuestion ? 1f / answer.Length : 1f;
        }
        return image;
    }

    /// <summary>
    /// Packs the question documents of a stream of scenes into training rows: <c>question "\n" [P image positions] answer
    /// "\n"</c> one after another from position 0 of each row (document k of a row has id k, its image span starts at
    /// starts[k], spanImage[k] names its scene in <see cref="Images"/>), until the next document does not fit or K spans are
    /// used; the row's unused spans get start −1, its rest is padding (id = documents in the row). A scene's questions are
    /// placed in the sampler's order and may continue in the next row, or the next step. Weights as
    /// <see cref="FillRowAfterQuestion"/>.
    /// </summary>
    internal sealed class ScenePacker(Sampler sampler, ITokenizer tok, int P, int T, int K, bool perQuestion, float questionWeight,
                                      int imageTokens = 0, float groundingWeight = 0f)
    {
        // Grounding targets (groundingWeight > 0): image token k of a question with referents predicts one of GroundingWords
        // — whether its grid cell holds no shape the question names, the first, or the second.
        private readonly int[] _labels = groundingWeight > 0 ? LabelTokens(tok) : [];
        private readonly int _grid = (int)Math.Round(Math.Sqrt(imageTokens));

        private float[]? _image;
        private IReadOnlyList<VisionQuestion> _questions = [];
        private int _next;

        private static int[] LabelTokens(ITokenizer tok)
        {
            // Words that only ever open a question, so never a target otherwise: no answer's logits are shared with them.
            var ids = GroundingWords.Select(w => tok.Encode(w)).ToArray();
            if (ids.Any(i => i.Length != 1)) throw new ArgumentException($"grounding targets need \"{string.Join("\", \"", GroundingWords)}\" to be one token each (word tokens)");
            return [.. ids.Select(i => i[0])];
        }

        /// <summary>The grounding labels' words: no shape named, the first, the second.</summary>
        public static readonly string[] GroundingWords = ["describe", "what", "how"];

        /// <summary>The images of the last <see cref="Fill"/>, indexed by its spanImage.</summary>
        public List<float[]> Images { get; } = [];

        /// <summary>Fills B rows of T positions (inputs, targets, weights, docs: B·T; starts, spanImage: B·K).</summary>
        public void Fill(ref Rng rng, int B, Span<int> inputs, Span<int> targets, Span<float> weights, Span<int> docs, Span<int> starts, Span<int> spanImage)
        {
            Images.Clear();
            inputs.Clear();
            targets.Clear();
            weights.Clear();
            if (_image is not null && _next < _questions.Count) Images.Add(_image); // carried over from the last step
            for (int b = 0; b < B; b++)
            {
                int t = 0, k = 0;
                var row = inputs.Slice(b * T, T);
                for (; k < K; k++)
                {
                    if (_image is null || _next == _questions.Count)
                    {
                        (_image, _questions) = sampler(ref rng);
                        _next = 0;
                        Images.Add(_image);
                    }
                    var q = _questions[_next];
                    int[] prompt = tok.Encode(q.Question + "\n"), answer = tok.Encode(q.Answer + "\n");
                    int L = prompt.Length + P + answer.Length;
                    if (L > T) throw new InvalidOperationException($"question, image and answer take {L} positions, more than the {T} a row has");
                    if (t + L > T) break;
                    int image = WriteDocument(prompt, answer, P, t, k, perQuestion, questionWeight, row, targets.Slice(b * T, T), weights.Slice(b * T, T), docs.Slice(b * T, T));
                    starts[b * K + k] = image;
                    spanImage[b * K + k] = Images.Count - 1;
                    if (_labels.Length > 0 && q.Referents.Length == 4)
                        for (int j = 0; j < imageTokens; j++)
                        {
                            // Token j of the nt × nt token grid lies in grid cell (row, column) = (j / nt · 2 / nt, j % nt · 2 / nt).
                            int cell = j / _grid * 2 / _grid * 2 + j % _grid * 2 / _grid;
                            targets[b * T + image + 1 + j] = _labels[q.Referents[cell] - '0'];
                            weights[b * T + image + 1 + j] = groundingWeight;
                        }
                    t += L;
                    _next++;
                }
                for (int j = k; j < K; j++) { starts[b * K + j] = -1; spanImage[b * K + j] = -1; }
                docs.Slice(b * T + t, T - t).Fill(k);
            }
        }
    }

    /// <summary>
    /// Greedy answer of <paramref name="model"/> to <paramref name="question"/> about <paramref name="image"/>
    /// (S × S × 3 in [0, 1], or null for a text-only model), with the KV cache: the image prefix, then the question and
    /// a newline, then tokens until a newline or <paramref name="maxTokens"/>.
    /// </summary>
    public static string Answer(GptModel model, ITokenizer tok, float[]? image, string question, int maxTokens = 100)
    {
        var cfg = model.Config;
        if (image is not null && !cfg.Multimodal) throw new InvalidOperationException("this model is text-only: it cannot take an image");
        var cache = model.CreateCache();
        var logits = new float[cfg.VocabSize];
        model.Prefill(cache, tok.Encode(question + "\n"), image is null ? default : ImageEncoder.Prefix(model, image), logits);
        var output = new List<int>();
        int newline = tok.Encode("\n")[0];
        while (output.Count < maxTokens && cache.Length < cfg.ContextLength)
        {
            int next = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);
            if (next == newline) break;
            output.Add(next);
            if (cache.Length >= cfg.ContextLength) break;
            model.Forward(cache, [next], logits);
        }
        return tok.Decode(output.ToArray());
    }

    /// <summary>
    /// Exact match on <paramref name="images"/> held-out scenes, one question of each type the scene has (chosen with a
    /// fixed seed; only <paramref name="types"/> when given, "where" included). A text-only model gets the same questions
    /// without the image.
    /// </summary>
    public static List<(string Type, string Expected, string Got)> Evaluate(GptModel model, ITokenizer tok, int images,
                                                                           out List<(ShapesScene Scene, VisionQuestion Question, string Answer)> samples,
                                                                           IReadOnlyList<string>? types = null)
    {
        var rng = new Rng(HeldOutSeed, 7);
        var results = new List<(string, string, string)>();
        samples = [];
        for (int i = 0; i < images; i++)
        {
            var scene = ShapesTask.Sample(ref rng);
            IReadOnlyList<VisionQuestion> questions = types?.Any(t => t.StartsWith("where", StringComparison.Ordinal)) == true
                ? [.. ShapesTask.Questions(scene.Shapes), .. ShapesTask.AuxiliaryQuestions(scene.Shapes)]
                : ShapesTask.Questions(scene.Shapes);
            foreach (var type in types ?? ShapesTask.Types)
            {
                var ofType = questions.Where(q => q.Type == type).ToList();
                if (ofType.Count == 0) continue;
                var q = ofType[rng.NextInt(ofType.Count)];
                string got = Answer(model, tok, model.Config.Multimodal ? scene.Pixels : null, q.Question);
                results.Add((q.Type, q.Answer, got));
                if (samples.Count < 24 && (q.Type == "caption" || samples.Count % 3 == 0)) samples.Add((scene, q, got));
            }
        }
        return results;
    }
}
