// AlignmentCli: what the reward, ppo, dpo and grpo commands share — loading the policy (training the default model
// when the built-in task needs it), the built-in preference pipeline (pairs sampled from the policy, labeled, the reward
// model trained), JSONL logs and the figures.
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NextToken.Alignment;
using NextToken.Data;
using NextToken.Interop;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Cli.Commands;

internal static class AlignmentCli
{
    /// <summary>Pairs of the built-in preference data: training (from the training prompts) and held out (from the held-out prompts).</summary>
    internal const int BuiltinTrainPairs = 4000, BuiltinHeldOutPairs = 600;
    /// <summary>Longest response of the built-in task (sentences have at most 60 characters: about 12 words).</summary>
    internal const int BuiltinMaxNewTokens = 16;
    /// <summary>Responses sampled per held-out prompt when a policy is evaluated (146 prompts × 4).</summary>
    internal const int EvalRepeats = 4;

    internal static readonly JsonSerializerOptions Json = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Loads a policy; for the built-in task a missing default model is trained first (as finetune does).</summary>
    internal static (GptModel Model, ITokenizer Tokenizer) LoadPolicy(string path, bool trainDefaultIfMissing, bool quiet, TextWriter log)
    {
        if (trainDefaultIfMissing && ModelFiles.Detect(path) is null) TrainCommand.TrainDefaultInto(path, "policy", quiet, log);
        var loaded = ModelFiles.Load(path);
        return (loaded.Model, loaded.Tokenizer ?? throw new InvalidDataException($"{path}: the policy has no tokenizer files"));
    }

    /// <summary>The held-out prompts repeated for evaluation.</summary>
    internal static List<string> EvalPrompts() => Enumerable.Repeat(PreferenceTask.HeldOutPrompts, EvalRepeats).SelectMany(p => p).ToList();

    /// <summary>Writes builtin:preferences data sampled from the policy: preferences.jsonl and preferences_heldout.jsonl in <paramref name="dir"/>.</summary>
    internal static (List<LabeledPair> Train, List<LabeledPair> HeldOut, int Unlabeled) CollectBuiltin(GptModel policy, ITokenizer tokenizer, string dir, ulong seed, TextWriter log)
    {
        Directory.CreateDirectory(dir);
        var train = PreferenceCollection.Collect(policy, tokenizer, PreferenceTask.TrainPrompts, BuiltinTrainPairs, seed, BuiltinMaxNewTokens, out int u1);
        var held = PreferenceCollection.Collect(policy, tokenizer, PreferenceTask.HeldOutPrompts, BuiltinHeldOutPairs, seed + 1, BuiltinMaxNewTokens, out int u2);
        WritePairs(Path.Combine(dir, "preferences.jsonl"), train);
        WritePairs(Path.Combine(dir, "preferences_heldout.jsonl"), held);
        double noise = 1 - train.Concat(held).Average(p => p.AgreesWithTruth ? 1.0 : 0.0);
        log.WriteLine($"preference data: {train.Count} training and {held.Count} held-out pairs sampled from the policy ({u1 + u2} unlabeled: equal true reward); " +
                      $"the labeler disagrees with the true reward on {noise:P1} of them");
        return (train, held, u1 + u2);
    }

    private static void WritePairs(string path, IEnumerable<LabeledPair> pairs) =>
        Training.Checkpoint.WriteAtomically(path, s =>
        {
            using var w = new StreamWriter(s, leaveOpen: true);
            foreach (var p in pairs) w.WriteLine(JsonSerializer.Serialize(new { prompt = p.Prompt, chosen = p.Chosen, rejected = p.Rejected }));
        });

    internal static IReadOnlyList<PreferenceExample> ToExamples(IEnumerable<LabeledPair> pairs) =>
        pairs.Select(p => new PreferenceExample(p.Prompt, [p.Chosen, p.Rejected])).ToList();

    /// <summary>Prompts from a file (one per line, or JSONL with "prompt") or the built-in training prompts.</summary>
    internal static IReadOnlyList<string> ReadPrompts(string spec)
    {
        if (spec == PreferenceTask.Name) return PreferenceTask.TrainPrompts;
        if (spec.StartsWith(BuiltinDatasets.Prefix, StringComparison.Ordinal)) throw new ArgumentException($"unknown prompts '{spec}': the built-in prompts are {PreferenceTask.Name}");
        if (!File.Exists(spec)) throw new FileNotFoundException($"prompt file '{spec}' does not exist", spec);
        var prompts = new List<string>();
        int n = 0;
        foreach (var line in File.ReadLines(spec))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (line.TrimStart().StartsWith('{'))
            {
                JsonNode? node;
                try { node = JsonNode.Parse(line); }
                catch (JsonException e) { throw new InvalidDataException($"{spec}:{n}: not valid JSON ({e.Message.Split(". ")[0]})"); }
                prompts.Add(node?["prompt"]?.GetValueKind() == JsonValueKind.String ? node["prompt"]!.GetValue<string>()
                    : throw new InvalidDataException($"{spec}:{n}: missing string field \"prompt\""));
            }
            else prompts.Add(line);
        }
        if (prompts.Count == 0) throw new InvalidDataException($"{spec}: no prompts (one per line, or JSONL with \"prompt\")");
        return prompts;
    }

    /// <summary>Appends one JSON object as a line of <paramref name="path"/>.</summary>
    internal static void AppendLog(string path, object record) => File.AppendAllText(path, JsonSerializer.Serialize(record, Json) + "\n");

    /// <summary>A number for JSON output (NaN becomes null).</summary>
    internal static double? N(double x) => double.IsFinite(x) ? Math.Round(x, 6) : null;

    /// <summary>The policy-evaluation fields of a --json summary.</summary>
    internal static void AddEvaluation(JsonObject o, string suffix, PolicyEvaluation e)
    {
        o["true_reward" + suffix] = N(e.TrueReward);
        o["model_reward" + suffix] = N(e.ModelReward);
        o["grammatical_rate" + suffix] = N(e.GrammaticalRate);
        o["kl_to_reference" + suffix] = N(e.KlPerToken);
        o["kl_per_response" + suffix] = N(e.KlPerSequence);
        o["response_length" + suffix] = N(e.ResponseLength);
    }

    internal static string F(double x) => double.IsFinite(x) ? x.ToString("0.000", CultureInfo.InvariantCulture) : "n/a";

    internal static void PrintEvaluation(TextWriter log, string title, PolicyEvaluation e)
    {
        log.WriteLine($"{title}: true reward {F(e.TrueReward)}, model reward {F(e.ModelReward)}, KL/token {F(e.KlPerToken)}, KL/response {F(e.KlPerSequence)}, " +
                      $"grammatical {F(e.GrammaticalRate)}, length {F(e.ResponseLength)}, finished {F(e.FinishedRate)}");
        foreach (var (p, r) in e.Samples.Take(3)) log.WriteLine($"  {p}|{r.Replace("\n", "\\n", StringComparison.Ordinal)}");
    }
}
