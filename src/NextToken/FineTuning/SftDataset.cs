// SftDataset: supervised fine-tuning data — JSONL of {"text"}, {"prompt","completion"} or {"messages"} — tokenized with
// a per-token "trained" flag (the loss mask).
using System.Text.Json;
using NextToken.Chat;
using NextToken.Tokenization;

namespace NextToken.FineTuning;

/// <summary>
/// One tokenized example: token ids and, per token, whether it is a training target (completion and assistant tokens,
/// the end-of-text after a completion, the chat template's end marker after each reply).
/// </summary>
public sealed record SftExample(int[] Tokens, bool[] Trained)
{
    /// <summary>Targets the loss counts: tokens after the first that are flagged.</summary>
    public int TrainedTargets => Trained.Skip(1).Count(t => t);
}

/// <summary>What <see cref="SftDataset.Read"/> produced: the examples and what it had to cut.</summary>
public sealed record SftData(IReadOnlyList<SftExample> Examples, string Format, int Truncated, int Skipped, IReadOnlyList<string> Lines);

/// <summary>
/// Reads fine-tuning JSONL. One JSON object per line, all lines of one of three shapes:
/// <c>{"text"}</c> (every token trained, an end-of-text appended when the vocabulary has one),
/// <c>{"prompt","completion"}</c> (the completion and the end-of-text trained; with <c>trainOnPrompt</c> the prompt too),
/// <c>{"messages":[{"role":"system|user|assistant","content"}]}</c> (rendered with the chat template; assistant replies
/// and their end markers trained). Prompt and completion (and the template's segments) are tokenized separately and
/// joined, so the mask falls on token boundaries. An example longer than <c>maxTokens</c> (the context + 1) loses tokens
/// from the left of its untrained prefix (the prompt); when the trained part alone is too long (or a {"text"} example is)
/// it keeps its first <c>maxTokens</c> tokens — both counted in <see cref="SftData.Truncated"/>. Examples without any
/// trained target are skipped and counted.
/// </summary>
public static class SftDataset
{
    /// <summary>Reads <paramref name="path"/>; every error names the file and line.</summary>
    public static SftData Read(string path, ITokenizer tokenizer, ChatTemplate template, bool trainOnPrompt, int maxTokens)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"fine-tuning data '{path}' does not exist", path);
        return Parse(File.ReadLines(path), path, tokenizer, template, trainOnPrompt, maxTokens);
    }

    /// <summary>As <see cref="Read"/> on lines already in memory (built-in data); <paramref name="name"/> names them in errors.</summary>
    public static SftData Parse(IEnumerable<string> lines, string name, ITokenizer tokenizer, ChatTemplate template, bool trainOnPrompt, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(template);
        if (maxTokens < 2) throw new ArgumentException($"examples need room for at least 2 tokens (got {maxTokens})");
        var examples = new List<SftExample>();
        var kept = new List<string>();
        string? format = null;
        int n = 0, truncated = 0, skipped = 0;
        foreach (string line in lines)
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement root;
            try { root = JsonDocument.Parse(line).RootElement; }
            catch (JsonException e) { throw new InvalidDataException($"{name}:{n}: not valid JSON ({e.Message.Split(". ")[0]})", e); }
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{name}:{n}: expected a JSON object");
            string shape = root.TryGetProperty("messages", out _) ? "messages" : root.TryGetProperty("prompt", out _) || root.TryGetProperty("completion", out _) ? "prompt-completion"
                : root.TryGetProperty("text", out _) ? "text"
                : throw new InvalidDataException($"{name}:{n}: expected {{\"text\"}}, {{\"prompt\",\"completion\"}} or {{\"messages\"}}, found the fields {string.Join(", ", root.EnumerateObject().Select(p => p.Name))}");
            if (format is not null && format != shape) throw new InvalidDataException($"{name}:{n}: this line is {shape} but earlier lines are {format}: one file holds one shape");
            format = shape;
            var segments = Segments(root, shape, name, n, template, tokenizer);
            List<int> tokens;
            List<bool> trained;
            try { (tokens, trained) = Tokenize(segments, tokenizer, trainOnPrompt); }
            catch (ArgumentException e) { throw new InvalidDataException($"{name}:{n}: {e.Message}", e); }
            if (tokens.Count > maxTokens)
            {
                truncated++;
                int firstTrained = trained.IndexOf(true);
                int excess = tokens.Count - maxTokens;
                if (firstTrained >= excess) { tokens.RemoveRange(0, excess); trained.RemoveRange(0, excess); }
                else { tokens.RemoveRange(maxTokens, excess); trained.RemoveRange(maxTokens, excess); }
            }
            var ex = new SftExample([.. tokens], [.. trained]);
            if (ex.TrainedTargets == 0) { skipped++; continue; }
            examples.Add(ex);
            kept.Add(line);
        }
        if (examples.Count == 0)
            throw new InvalidDataException($"{name}: no examples{(skipped > 0 ? $" ({skipped} had nothing to train on)" : "")} (expected JSONL lines: {{\"text\"}}, {{\"prompt\",\"completion\"}} or {{\"messages\"}})");
        return new SftData(examples, format!, truncated, skipped, kept);
    }

    private static List<(string Text, bool Trained)> Segments(JsonElement root, string shape, string name, int n, ChatTemplate template, ITokenizer tokenizer)
    {
        string Field(JsonElement e, string field, string where) => e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
            : throw new InvalidDataException($"{name}:{n}: {where}missing string field \"{field}\"");
        string eot = tokenizer.EndOfTextId is int id ? tokenizer.Decode([id]) : "";
        switch (shape)
        {
            case "text":
                return [(Field(root, "text", ""), true), (eot, true)];
            case "prompt-completion":
                return [(Field(root, "prompt", ""), false), (Field(root, "completion", ""), true), (eot, true)];
            default:
                if (root.GetProperty("messages") is not { ValueKind: JsonValueKind.Array } list || list.GetArrayLength() == 0)
                    throw new InvalidDataException($"{name}:{n}: \"messages\" must be a non-empty array of {{\"role\",\"content\"}}");
                var messages = new List<ChatMessage>();
                int i = 0;
                foreach (var m in list.EnumerateArray())
                {
                    if (m.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{name}:{n}: message {i} is not an object with \"role\" and \"content\"");
                    string role = Field(m, "role", $"message {i}: ");
                    if (!ChatMessage.Roles.Contains(role)) throw new InvalidDataException($"{name}:{n}: message {i} has unknown role '{role}' (expected system, user or assistant)");
                    messages.Add(new ChatMessage(role, Field(m, "content", $"message {i}: ")));
                    i++;
                }
                return [.. template.Segments(messages).Select(s => (s.Text, s.Trainable))];
        }
    }

    private static (List<int> Tokens, List<bool> Trained) Tokenize(List<(string Text, bool Trained)> segments, ITokenizer tokenizer, bool trainOnPrompt)
    {
        var tokens = new List<int>();
        var trained = new List<bool>();
        foreach (var (text, t) in segments)
        {
            if (text.Length == 0) continue;
            int[] ids = tokenizer.Encode(text);
            tokens.AddRange(ids);
            for (int k = 0; k < ids.Length; k++) trained.Add(t || trainOnPrompt);
        }
        return (tokens, trained);
    }
}
