// TaskFile: reads task JSONL files (our schema, HellaSwag's and LAMBADA's published files) with errors naming file and line.
using System.Text.Json;
using System.Text.RegularExpressions;

namespace NextToken.Evaluation.Tasks;

/// <summary>
/// Reads task files. Every error is one line: "FILE:LINE: field 'F' ...: expected ...". Our schema (docs/evaluation.md):
/// one JSON object per line, <c>{"context","choices","gold"}</c> (multiple choice), <c>{"context","continuation"}</c>
/// (log-likelihood), <c>{"text"}</c> (rolling), <c>{"context","answer","until"}</c> (generate-until), each with an optional
/// <c>"split"</c> ("train" goes to the few-shot pool, anything else is scored); one optional line
/// <c>{"description": "..."}</c> gives the text put before the few-shot examples.
/// </summary>
public static partial class TaskFile
{
    /// <summary>
    /// Loads <paramref name="path"/> as a task. Lines with split "train" form the few-shot pool; when
    /// <paramref name="trainPath"/> is given its documents are the pool instead (and every line of
    /// <paramref name="path"/> is scored).
    /// </summary>
    public static EvalTask Load(string path, string? trainPath = null, TaskFileFormat format = TaskFileFormat.Auto)
    {
        var (docs, description) = Read(path, format);
        if (trainPath is null)
            return new EvalTask(Path.GetFileNameWithoutExtension(path), description,
                docs.Where(d => d.Split == "train").ToList(), docs.Where(d => d.Split != "train").ToList());
        var (train, trainDescription) = Read(trainPath, format);
        return new EvalTask(Path.GetFileNameWithoutExtension(path), description ?? trainDescription, train, docs);
    }

    /// <summary>Reads every document of one file (and its description line, if any).</summary>
    public static (List<TaskDocument> Documents, string? Description) Read(string path, TaskFileFormat format = TaskFileFormat.Auto)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"task file '{path}' does not exist", path);
        var docs = new List<TaskDocument>();
        string? description = null;
        int lineNo = 0;
        foreach (string raw in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(raw)) continue;
            JsonDocument json;
            try { json = JsonDocument.Parse(raw); }
            catch (JsonException e) { throw Error(path, lineNo, $"not valid JSON ({e.Message.Split('.')[0]}): expected one JSON object per line"); }
            using (json)
            {
                var o = json.RootElement;
                if (o.ValueKind != JsonValueKind.Object) throw Error(path, lineNo, $"a JSON {o.ValueKind.ToString().ToLowerInvariant()}: expected one JSON object per line");
                var f = format;
                if (f == TaskFileFormat.Auto)
                    f = o.TryGetProperty("ctx_a", out _) || o.TryGetProperty("endings", out _) ? TaskFileFormat.HellaSwag
                      : Path.GetFileName(path).Contains("lambada", StringComparison.OrdinalIgnoreCase) ? TaskFileFormat.Lambada
                      : TaskFileFormat.NextToken;
                if (f == TaskFileFormat.NextToken && o.TryGetProperty("description", out var desc) && CountProperties(o) == 1)
                {
                    if (description is not null) throw Error(path, lineNo, "field 'description' given twice: expected at most one description line");
                    description = String(o, "description", path, lineNo);
                    continue;
                }
                docs.Add(f switch
                {
                    TaskFileFormat.HellaSwag => HellaSwag(o, path, lineNo),
                    TaskFileFormat.Lambada => Lambada(o, path, lineNo),
                    _ => Ours(o, path, lineNo),
                });
            }
        }
        return (docs, description);
    }

    private static int CountProperties(JsonElement o) { int n = 0; foreach (var _ in o.EnumerateObject()) n++; return n; }

    private static TaskDocument Ours(JsonElement o, string path, int line)
    {
        string? split = o.TryGetProperty("split", out _) ? String(o, "split", path, line).ToLowerInvariant() : null;
        bool has(string k) => o.TryGetProperty(k, out var v) && v.ValueKind != JsonValueKind.Null;
        if (has("choices") || has("gold"))
        {
            var choices = Strings(o, "choices", path, line);
            if (choices.Count < 2) throw Error(path, line, $"field 'choices' has {choices.Count} entries: expected at least 2");
            int gold = Int(o, "gold", path, line);
            if (gold < 0 || gold >= choices.Count) throw Error(path, line, $"field 'gold' is {gold}: expected an index from 0 to {choices.Count - 1} (there are {choices.Count} choices)");
            return new TaskDocument(TaskKind.MultipleChoice, path, line) { Context = String(o, "context", path, line), Choices = choices, Gold = gold, Split = split };
        }
        if (has("continuation"))
        {
            string cont = String(o, "continuation", path, line);
            if (cont.Length == 0) throw Error(path, line, "field 'continuation' is empty: expected the text to score");
            return new TaskDocument(TaskKind.Loglikelihood, path, line) { Context = String(o, "context", path, line), Continuation = cont, Split = split };
        }
        if (has("answer") || has("until"))
        {
            var until = o.TryGetProperty("until", out var u) && u.ValueKind == JsonValueKind.String ? [u.GetString()!] : Strings(o, "until", path, line);
            if (until.Any(s => s.Length == 0)) throw Error(path, line, "field 'until' has an empty string: expected non-empty stop sequences");
            return new TaskDocument(TaskKind.GenerateUntil, path, line) { Context = String(o, "context", path, line), Answer = String(o, "answer", path, line), Until = until, Split = split };
        }
        if (has("text"))
        {
            string text = String(o, "text", path, line);
            if (text.Length == 0) throw Error(path, line, "field 'text' is empty: expected a document to score");
            return new TaskDocument(TaskKind.Rolling, path, line) { Text = text, Split = split };
        }
        throw Error(path, line, "no task fields: expected {\"context\",\"choices\",\"gold\"}, {\"context\",\"continuation\"}, {\"text\"} or {\"context\",\"answer\",\"until\"} (docs/evaluation.md)");
    }

    // lm-eval's hellaswag task: query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()),
    // choices = preprocess(each ending), gold = int(label).
    private static TaskDocument HellaSwag(JsonElement o, string path, int line)
    {
        string ctxB = String(o, "ctx_b", path, line);
        string ctx = String(o, "ctx_a", path, line) + " " + Capitalize(ctxB);
        string query = HellaSwagPreprocess(String(o, "activity_label", path, line) + ": " + ctx);
        var endings = Strings(o, "endings", path, line);
        if (endings.Count < 2) throw Error(path, line, $"field 'endings' has {endings.Count} entries: expected at least 2");
        if (!o.TryGetProperty("label", out var lab) || lab.ValueKind == JsonValueKind.Null || lab.ValueKind == JsonValueKind.String && lab.GetString() == "")
            throw Error(path, line, "field 'label' is missing: expected the index of the correct ending (HellaSwag's test split has no labels; use hellaswag_val.jsonl)");
        int gold = lab.ValueKind == JsonValueKind.Number && lab.TryGetInt32(out int g) ? g
                 : lab.ValueKind == JsonValueKind.String && int.TryParse(lab.GetString(), out g) ? g
                 : throw Error(path, line, $"field 'label' is {lab.GetRawText()}: expected an integer");
        if (gold < 0 || gold >= endings.Count) throw Error(path, line, $"field 'label' is {gold}: expected an index from 0 to {endings.Count - 1} (there are {endings.Count} endings)");
        string? split = o.TryGetProperty("split", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()!.ToLowerInvariant() : null;
        return new TaskDocument(TaskKind.MultipleChoice, path, line)
        {
            Context = query, Choices = endings.Select(HellaSwagPreprocess).ToList(), Gold = gold, Split = split,
        };
    }

    /// <summary>lm-eval's hellaswag preprocess: strip, " [title]" → ". ", drop "[...]" tags, "  " → " ".</summary>
    public static string HellaSwagPreprocess(string text)
    {
        text = text.Trim().Replace(" [title]", ". ", StringComparison.Ordinal);
        text = BracketTag().Replace(text, "");
        return text.Replace("  ", " ", StringComparison.Ordinal);
    }

    // Python's str.capitalize: first character upper case, the rest lower case.
    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    // lm-eval's lambada_openai: context = text up to the last space, continuation = " " + last word.
    private static TaskDocument Lambada(JsonElement o, string path, int line)
    {
        string text = String(o, "text", path, line);
        int cut = text.LastIndexOf(' ');
        if (cut <= 0 || cut == text.Length - 1) throw Error(path, line, "field 'text' has no last word after a space: expected a LAMBADA passage");
        return new TaskDocument(TaskKind.Loglikelihood, path, line) { Context = text[..cut], Continuation = text[cut..] };
    }

    private static string String(JsonElement o, string key, string path, int line)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) throw Error(path, line, $"field '{key}' is missing: expected a string");
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error(path, line, $"field '{key}' is {v.GetRawText()}: expected a string");
    }

    private static int Int(JsonElement o, string key, string path, int line)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) throw Error(path, line, $"field '{key}' is missing: expected an integer");
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw Error(path, line, $"field '{key}' is {v.GetRawText()}: expected an integer");
    }

    private static List<string> Strings(JsonElement o, string key, string path, int line)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) throw Error(path, line, $"field '{key}' is missing: expected an array of strings");
        if (v.ValueKind != JsonValueKind.Array) throw Error(path, line, $"field '{key}' is {v.GetRawText()}: expected an array of strings");
        var list = new List<string>();
        foreach (var e in v.EnumerateArray())
            list.Add(e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Error(path, line, $"field '{key}' has {e.GetRawText()}: expected an array of strings"));
        return list;
    }

    internal static FormatException Error(string path, int line, string what) => new($"{path}:{line}: {what}");

    [GeneratedRegex(@"\[.*?\]")]
    private static partial Regex BracketTag();
}
