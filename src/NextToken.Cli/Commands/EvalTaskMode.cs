// EvalTaskMode: `nexttoken eval --task FILE.jsonl|builtin:NAME` — zero/few-shot evaluation with lm-eval's semantics.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NextToken.Evaluation.Tasks;
using NextToken.Interop;
using NextToken.Data;

namespace NextToken.Cli.Commands;

/// <summary>Maps the task options of <c>nexttoken eval</c> onto <see cref="TaskEvaluator"/>.</summary>
internal static class EvalTaskMode
{
    /// <summary>Loads the tasks named by <paramref name="spec"/> (a JSONL file or builtin:NAME).</summary>
    public static IReadOnlyList<EvalTask> LoadTasks(string spec, string? trainFile, TaskFileFormat format)
    {
        if (BuiltinDatasets.TryParse(spec, out string name)) return BuiltinTasks.Create(name);
        return [TaskFile.Load(spec, trainFile, format)];
    }

    /// <summary>Runs the evaluation and prints the report (or, with <paramref name="json"/>, one JSON line).</summary>
    public static int Run(string checkpoint, string spec, string? trainFile, TaskFileFormat format, TaskEvalOptions options, bool json)
    {
        var loaded = ModelFiles.Load(checkpoint);
        var tokenizer = loaded.Tokenizer ?? throw new ArgumentException($"the checkpoint '{checkpoint}' has no tokenizer: task evaluation needs one to encode the text");
        var tasks = LoadTasks(spec, trainFile, format);
        var clock = Stopwatch.StartNew();
        long last = 0;
        var result = TaskEvaluator.RunAll(loaded.Model, tokenizer, tasks, options, (done, total) =>
        {
            if (json || clock.ElapsedMilliseconds - last < 2000) return;
            last = clock.ElapsedMilliseconds;
            Console.Error.WriteLine($"  {done:N0}/{total:N0} documents");
        });
        var doc = ToJson(result);
        if (json) Console.WriteLine(JsonSerializer.Serialize(doc));
        else
        {
            Console.WriteLine($"task {result.Task}: {result.Examples:N0} documents, {result.NumFewShot}-shot");
            foreach (var (k, v) in doc)
                if (v is double d && k is not ("examples" or "num_fewshot")) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {k,-18} {d:F4}"));
            if (result.Truncated > 0) Console.WriteLine($"  {result.Truncated} requests left-truncated to the model's context of {loaded.Model.ContextLength} tokens");
        }
        return 0;
    }

    /// <summary>The --json object: lm-eval's metric names, null metrics left out.</summary>
    public static Dictionary<string, object?> ToJson(TaskResult r)
    {
        var doc = new Dictionary<string, object?> { ["task"] = r.Task };
        void Put(string key, double? v) { if (v is double d) doc[key] = d; }
        Put("acc", r.Acc); Put("acc_norm", r.AccNorm); Put("acc_mutual_info", r.AccMutualInfo); Put("exact_match", r.ExactMatch);
        Put("perplexity", r.Perplexity); Put("bits_per_byte", r.BitsPerByte); Put("byte_perplexity", r.BytePerplexity); Put("word_perplexity", r.WordPerplexity);
        doc["num_fewshot"] = r.NumFewShot;
        doc["examples"] = r.Examples;
        doc["truncated"] = r.Truncated;
        doc["seconds"] = Math.Round(r.Seconds, 3);
        doc["examples_per_second"] = Math.Round(r.ExamplesPerSecond, 3);
        return doc;
    }
}
