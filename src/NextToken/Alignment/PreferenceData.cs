// PreferenceData: preference JSONL — {"prompt","chosen","rejected"} or {"prompt","responses":[…]} ranked best first —
// read with one-line errors; pairs whose responses are identical are skipped and counted.
using System.Text.Json;

namespace NextToken.Alignment;

/// <summary>One prompt and its responses ranked best first (two for a chosen/rejected pair).</summary>
public sealed record PreferenceExample(string Prompt, IReadOnlyList<string> Responses)
{
    /// <summary>Every ordered pair (better, worse): K(K−1)/2 of them.</summary>
    public IEnumerable<(int Better, int Worse)> Pairs()
    {
        for (int i = 0; i < Responses.Count; i++)
            for (int j = i + 1; j < Responses.Count; j++) yield return (i, j);
    }

    /// <summary>The example as a JSONL line: {"prompt","chosen","rejected"} for two responses, else {"prompt","responses"}.</summary>
    public string ToJsonLine() => Responses.Count == 2
        ? JsonSerializer.Serialize(new { prompt = Prompt, chosen = Responses[0], rejected = Responses[1] })
        : JsonSerializer.Serialize(new { prompt = Prompt, responses = Responses });
}

/// <summary>What <see cref="PreferenceData.Parse"/> read: the examples, and how many lines were skipped because their responses were identical.</summary>
public sealed record PreferenceSet(IReadOnlyList<PreferenceExample> Examples, int SkippedIdentical)
{
    /// <summary>Number of ordered pairs over all examples.</summary>
    public int PairCount => Examples.Sum(e => e.Responses.Count * (e.Responses.Count - 1) / 2);
}

/// <summary>Reads preference data (docs/alignment.md).</summary>
public static class PreferenceData
{
    /// <summary>Reads <paramref name="path"/>; errors name the file and line.</summary>
    public static PreferenceSet Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"preference data '{path}' does not exist", path);
        return Parse(File.ReadLines(path), path);
    }

    /// <summary>
    /// Parses JSONL lines: <c>{"prompt","chosen","rejected"}</c> or <c>{"prompt","responses":[best, …, worst]}</c>. A pair
    /// whose chosen and rejected texts are identical carries no preference: it is skipped and counted; in a ranked list a
    /// repeated response keeps its best rank, and a list left with fewer than two distinct responses is skipped and counted.
    /// </summary>
    public static PreferenceSet Parse(IEnumerable<string> lines, string name)
    {
        var examples = new List<PreferenceExample>();
        int n = 0, skipped = 0;
        foreach (string line in lines)
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement root;
            try { root = JsonDocument.Parse(line).RootElement; }
            catch (JsonException e) { throw new InvalidDataException($"{name}:{n}: not valid JSON ({e.Message.Split(". ")[0]})", e); }
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{name}:{n}: expected a JSON object with \"prompt\" and \"chosen\"/\"rejected\" or \"responses\"");
            string prompt = Text(root, "prompt", name, n);
            List<string> responses;
            if (root.TryGetProperty("responses", out var list))
            {
                if (list.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{name}:{n}: \"responses\" must be an array of strings ranked best first");
                responses = [];
                int i = 0;
                foreach (var r in list.EnumerateArray())
                {
                    if (r.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{name}:{n}: responses[{i}] is not a string");
                    string s = r.GetString()!;
                    if (!responses.Contains(s)) responses.Add(s);
                    i++;
                }
                if (i < 2) throw new InvalidDataException($"{name}:{n}: \"responses\" needs at least two responses (found {i})");
            }
            else
            {
                if (!root.TryGetProperty("chosen", out _) && !root.TryGetProperty("rejected", out _))
                    throw new InvalidDataException($"{name}:{n}: expected \"chosen\" and \"rejected\" (or a ranked \"responses\" list), found the fields {string.Join(", ", root.EnumerateObject().Select(p => p.Name))}");
                string chosen = Text(root, "chosen", name, n), rejected = Text(root, "rejected", name, n);
                responses = chosen == rejected ? [chosen] : [chosen, rejected];
            }
            if (responses.Count < 2) { skipped++; continue; }
            examples.Add(new PreferenceExample(prompt, responses));
        }
        if (examples.Count == 0)
            throw new InvalidDataException($"{name}: no preference pairs{(skipped > 0 ? $" ({skipped} lines had identical responses)" : "")} (expected JSONL lines {{\"prompt\",\"chosen\",\"rejected\"}} or {{\"prompt\",\"responses\"}})");
        return new PreferenceSet(examples, skipped);
    }

    private static string Text(JsonElement root, string field, string name, int n) =>
        root.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
            : throw new InvalidDataException($"{name}:{n}: missing string field \"{field}\"");
}
