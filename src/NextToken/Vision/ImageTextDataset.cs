// ImageTextDataset: user data for multimodal models — JSONL lines {"image": "path.png", "prompt", "answer"} with image
// paths relative to the file.
using System.Text.Json;

namespace NextToken.Vision;

/// <summary>One line of an image-text JSONL file (the image path resolved against the file's folder).</summary>
public sealed record ImageTextExample(string ImagePath, string Prompt, string Answer, string Type, int Line);

/// <summary>
/// Reads <c>{"image": "path.png", "prompt": "…", "answer": "…"}</c> lines (an optional <c>"type"</c> groups the
/// accuracy report). Errors name the file and line: malformed JSON, a missing or non-string field, an image that does not
/// exist.
/// </summary>
public static class ImageTextDataset
{
    /// <summary>Reads and checks every line of <paramref name="path"/> (blank lines skipped).</summary>
    public static IReadOnlyList<ImageTextExample> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"data file '{path}' does not exist", path);
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var list = new List<ImageTextExample>();
        int n = 0;
        foreach (string line in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement root;
            try { root = JsonDocument.Parse(line).RootElement; }
            catch (JsonException e) { throw new InvalidDataException($"{path}:{n}: not valid JSON ({e.Message.Split('.')[0]})", e); }
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}:{n}: expected a JSON object with \"image\", \"prompt\" and \"answer\"");
            string Field(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
                : throw new InvalidDataException($"{path}:{n}: missing string field \"{name}\" (expected \"image\", \"prompt\" and \"answer\")");
            string image = Field("image");
            string full = Path.IsPathRooted(image) ? image : Path.Combine(folder, image);
            if (!File.Exists(full)) throw new InvalidDataException($"{path}:{n}: image '{image}' does not exist (looked for {full})");
            string type = root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "all";
            list.Add(new ImageTextExample(full, Field("prompt"), Field("answer"), type, n));
        }
        if (list.Count == 0) throw new InvalidDataException($"{path}: no examples (expected JSONL lines with \"image\", \"prompt\" and \"answer\")");
        return list;
    }

    /// <summary>
    /// Exact match of <paramref name="model"/>'s greedy answers on every example (images loaded and resized to the model's
    /// resolution). Returns the per-example results for <see cref="ShapesTask.Score"/>.
    /// </summary>
    public static List<(string Type, string Expected, string Got)> Evaluate(Model.GptModel model, Tokenization.ITokenizer tokenizer, IReadOnlyList<ImageTextExample> examples)
    {
        if (!model.Config.Multimodal) throw new InvalidOperationException("this model is text-only: it cannot take the images of this data (train one with images, e.g. nexttoken train --data builtin:shapes)");
        var results = new List<(string, string, string)>(examples.Count);
        foreach (var e in examples)
        {
            float[] image;
            try { image = ImageFiles.Load(e.ImagePath, model.Config.ImageSize); }
            catch (InvalidDataException x) { throw new InvalidDataException($"line {e.Line}: {x.Message}", x); }
            results.Add((e.Type, e.Answer, VisionTraining.Answer(model, tokenizer, image, e.Prompt)));
        }
        return results;
    }
}
