// TrainShapes: `nexttoken train --data builtin:shapes` — the multimodal model, its text-only baseline, exact match per
// question type on held-out images, the loss plot and a grid of held-out images with the model's answers.
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NextToken.Training;
using NextToken.Vision;
using SkiaSharp;

namespace NextToken.Cli.Commands;

internal static class TrainShapes
{
    public const string DataName = "builtin:shapes";

    /// <summary>True for a .jsonl file whose first line has an "image" field (image-text data).</summary>
    public static bool IsImageJsonl(string path) =>
        path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) && File.Exists(path)
        && File.ReadLines(path).FirstOrDefault(l => !string.IsNullOrWhiteSpace(l)) is { } first && first.Contains("\"image\"", StringComparison.Ordinal);

    /// <summary>`eval --data FILE.jsonl` on a multimodal checkpoint: exact match overall and per "type".</summary>
    public static void Evaluate(Checkpoint.Loaded loaded, string checkpoint, string jsonl, bool json)
    {
        var tokenizer = loaded.Tokenizer ?? throw new InvalidDataException($"the checkpoint '{checkpoint}' has no tokenizer");
        var examples = ImageTextDataset.Read(jsonl);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var results = ImageTextDataset.Evaluate(loaded.Model, tokenizer, examples);
        var (em, byType) = ShapesTask.Score(results);
        var log = json ? Console.Error : Console.Out;
        log.WriteLine($"exact match on {results.Count} examples of {jsonl}: {em:P1} ({sw.Elapsed.TotalSeconds:F1} s)");
        foreach (var (type, acc) in byType.OrderBy(p => p.Key, StringComparer.Ordinal)) log.WriteLine($"  {type,-8} {acc,7:P1}");
        if (json)
            Console.Out.WriteLine(new JsonObject
            {
                ["exact_match"] = em, ["exact_match_by_type"] = new JsonObject(byType.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
                ["examples"] = results.Count, ["seconds"] = sw.Elapsed.TotalSeconds,
            }.ToJsonString());
    }

    public static void Run(VisionTrainOptions options, string outDir, bool json, string? jsonl = null)
    {
        var log = json ? Console.Error : Console.Out;
        Directory.CreateDirectory(outDir);
        string logPath = Path.Combine(outDir, TrainingLog.FileName);
        File.WriteAllText(logPath, "");
        using (var writer = new StreamWriter(logPath, append: true) { AutoFlush = true })
        {
            log.WriteLine($"builtin:shapes: {options.Layers} layers x {options.Embedding} wide ({options.Heads} heads), {ShapesTask.ImageSize}x{ShapesTask.ImageSize} images in " +
                          $"{options.PatchSize}x{options.PatchSize} patches, {options.Iterations} steps of {options.BatchSize} " +
                          (options.PackScenes && options.ImageAfterQuestion ? "rows" : options.QuestionsPerRow > 1 ? $"rows of up to {options.QuestionsPerRow} questions about one image" : "questions") +
                          (options.ImageAfterQuestion ? " (the image after each question)" : "") +
                          $"{(options.WordTokens ? " in word tokens" : "")}, {options.Positions.ToString().ToLowerInvariant()} positions{(options.Positions2D ? " + 2-D patch positions" : "")}{(options.EncoderLayers > 0 ? $", a {options.EncoderLayers}-layer ViT over the patches" : "")}" +
                          (options.Merge > 1 ? $", {options.Merge}x{options.Merge} patches merged into one image token" : "") +
                          (options.PackScenes && options.ImageAfterQuestion ? ", the questions of many scenes packed into each row" : "") +
                          (options.RelationQuestions > 1 ? $", {options.RelationQuestions} left and above questions per scene" : "") +
                          (options.GroundingWeight > 0 && options.PackScenes && options.ImageAfterQuestion ? string.Create(CultureInfo.InvariantCulture, $", grounding targets weighted {options.GroundingWeight:0.###}") : "") +
                          (options.WherePairs && options.QuestionsPerRow > 1 ? ", an auxiliary where-pair question per row" : "") +
                          (options.QuestionWeight > 0 && options.ImageAfterQuestion ? string.Create(CultureInfo.InvariantCulture, $", question tokens weighted {options.QuestionWeight:0.###}") : "") + ", " +
                          $"then a text-only baseline ({options.TextOnlyIterations} steps)");
            void Progress(TrainProgress p)
            {
                writer.WriteLine(TrainingLog.Format(p));
                if (p.Step % 100 == 0 || p.Step == p.TotalSteps)
                {
                    double eta = p.ElapsedSeconds / p.Step * (p.TotalSteps - p.Step);
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"step {p.Step,5}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:E2}  {p.TokensPerSecond:F0} tokens/s  ETA {eta:F0} s"));
                }
            }
            var (model, tok, report) = jsonl is null ? VisionTraining.Run(options, Progress) : VisionTraining.RunFile(options, jsonl, Progress);
            Checkpoint.Save(outDir, model, tokenizer: tok);
            log.WriteLine($"exact match on {report.Questions} held-out questions: {report.ExactMatch:P1} (text-only baseline {report.TextOnlyExactMatch:P1})");
            foreach (string type in options.Types ?? ShapesTask.Types)
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {type,-8} {report.ExactMatchByType.GetValueOrDefault(type, double.NaN),7:P1}   text-only {report.TextOnlyByType.GetValueOrDefault(type, double.NaN),7:P1}"));
            log.WriteLine($"checkpoint in {outDir}; {report.WallSeconds:F0} s");
            TryDrawGrid(report, Path.Combine(outDir, "heldout.png"), log);
            var summary = new JsonObject
            {
                ["exact_match"] = report.ExactMatch,
                ["exact_match_by_type"] = new JsonObject(report.ExactMatchByType.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
                ["text_only_exact_match"] = double.IsFinite(report.TextOnlyExactMatch) ? report.TextOnlyExactMatch : null,
                ["text_only_exact_match_by_type"] = new JsonObject(report.TextOnlyByType.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
                ["questions"] = report.Questions, ["parameters"] = report.Parameters, ["iters"] = options.Iterations, ["word_tokens"] = options.WordTokens, ["questions_per_row"] = options.QuestionsPerRow, ["projector_hidden"] = options.ProjectorHidden,
                ["positions_2d"] = options.Positions2D, ["image_after_question"] = options.ImageAfterQuestion, ["encoder_layers"] = options.EncoderLayers, ["weight_per_question"] = options.WeightPerQuestion, ["caption_last"] = options.CaptionLast, ["where_questions"] = options.WhereQuestions, ["where_pairs"] = options.WherePairs, ["balance_relations"] = options.BalanceRelations, ["where_second"] = options.WhereSecond, ["readouts"] = options.Readouts, ["question_weight"] = options.QuestionWeight, ["pack_scenes"] = options.PackScenes, ["merge"] = options.Merge, ["relation_questions"] = options.RelationQuestions, ["grounding_weight"] = options.GroundingWeight, ["row_length"] = options.RowLength,
                ["types"] = options.Types is { } types ? new JsonArray([.. types.Select(t => (JsonNode?)t)]) : null, ["positions"] = options.Positions.ToString().ToLowerInvariant(),
                ["wall_seconds"] = report.WallSeconds, ["checkpoint"] = outDir,
            };
            if (json) Console.Out.WriteLine(summary.ToJsonString());
        }
        LossPlot.TryDraw(outDir, Console.Error);
    }

    // A grid of held-out images (scaled 4x, nearest neighbour) with each question, the expected and the model's answer.
    private static void TryDrawGrid(VisionReport report, string path, TextWriter log)
    {
        try
        {
            const int scale = 4, cellW = 300, cellH = 180, cols = 4;
            int n = Math.Min(report.Samples.Count, 16), rows = (n + cols - 1) / cols;
            if (n == 0) return;
            using var surface = SKSurface.Create(new SKImageInfo(cols * cellW, rows * cellH));
            var canvas = surface.Canvas;
            canvas.Clear(SKColors.White);
            using var font = new SKFont { Size = 12 };
            using var black = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            using var green = new SKPaint { Color = new SKColor(0, 130, 0), IsAntialias = true };
            using var red = new SKPaint { Color = new SKColor(200, 0, 0), IsAntialias = true };
            for (int i = 0; i < n; i++)
            {
                var (scene, q, answer) = report.Samples[i];
                float x0 = i % cols * cellW + 8, y0 = i / cols * cellH + 8;
                int S = ShapesTask.ImageSize;
                using var bmp = new SKBitmap(S, S);
                for (int y = 0; y < S; y++)
                    for (int x = 0; x < S; x++)
                    {
                        int k = (y * S + x) * 3;
                        bmp.SetPixel(x, y, new SKColor((byte)(scene.Pixels[k] * 255), (byte)(scene.Pixels[k + 1] * 255), (byte)(scene.Pixels[k + 2] * 255)));
                    }
                using var img = SKImage.FromBitmap(bmp);
                canvas.DrawImage(img, SKRect.Create(x0, y0, S * scale, S * scale), new SKSamplingOptions(SKFilterMode.Nearest));
                float ty = y0 + S * scale + 14;
                foreach (string line in Wrap(q.Question, 44)) { canvas.DrawText(line, x0, ty, font, black); ty += 14; }
                bool ok = answer.Trim() == q.Answer;
                foreach (string line in Wrap("model: " + answer, 44)) { canvas.DrawText(line, x0, ty, font, ok ? green : red); ty += 14; }
                if (!ok) canvas.DrawText("expected: " + q.Answer, x0, ty, font, black);
            }
            using var data = surface.Snapshot().Encode(SKEncodedImageFormat.Png, 100);
            using var fs = File.Create(path);
            data.SaveTo(fs);
            log.WriteLine($"held-out images with the model's answers: {path}");
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or TypeInitializationException or DllNotFoundException)
        {
            Console.Error.WriteLine($"warning: could not draw {path} ({e.Message})");
        }
    }

    private static IEnumerable<string> Wrap(string text, int width)
    {
        var line = "";
        foreach (string word in text.Split(' '))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width) { yield return line; line = word; }
            else line = line.Length == 0 ? word : line + " " + word;
        }
        if (line.Length > 0) yield return line;
    }
}
