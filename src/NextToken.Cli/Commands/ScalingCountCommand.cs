// ScalingCountCommand: `nexttoken scaling count` — parameters, training FLOPs per token and memory of a shape; --table
// reproduces the GPT papers' model tables beside our counts.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NextToken.Model;
using NextToken.Scaling;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken scaling count</c>.</summary>
internal sealed class ScalingCountCommand : IScalingSubcommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var preset = new Option<string?>("--preset") { Description = $"Model preset ({string.Join(", ", GptPresets.All.Keys)}); default: gpt2" };
        var layers = new Option<int?>("--layers") { Description = "Transformer blocks (overrides the preset)" };
        var embd = new Option<int?>("--embd") { Description = "Embedding width (overrides the preset)" };
        var heads = new Option<int?>("--heads") { Description = "Attention heads (overrides the preset)" };
        var kvHeads = new Option<int?>("--kv-heads") { Description = "Key/value heads (overrides the preset; 0: as many as heads)" };
        var vocab = new Option<int?>("--vocab") { Description = "Vocabulary size (overrides the preset)" };
        var block = new Option<int?>("--block") { Description = "Context length (overrides the preset)" };
        var seq = new Option<int?>("--seq") { Description = "Sequence length T for the attention FLOPs and activations (default: the context length)" };
        var batch = new Option<int>("--batch") { Description = "Sequences per batch B for the activation memory", DefaultValueFactory = _ => 1 };
        var table = new Option<string?>("--table") { Description = "Print a paper's model table beside our counts: gpt3 (Table 2.1), gpt2, gpt1" };
        var json = new Option<bool>("--json") { Description = "Last stdout line: one JSON object (params, non_embedding_params, flops_per_token_6n, flops_per_token, train_memory_bytes, …)" };
        var cmd = new Command("count", "Parameters (total, non-embedding, per part), training FLOPs per token (6N; 6N + 6·L·T·C; Chinchilla Appendix F; this\n" +
                                       "model's own products) and memory (training fp32/16-bit at B × T, inference weights, KV cache per token).\n" +
                                       "Example: nexttoken scaling count --preset gpt2 --seq 1024 --batch 8\n" +
                                       "         nexttoken scaling count --table gpt3");
        foreach (var o in new Option[] { preset, layers, embd, heads, kvHeads, vocab, block, seq, batch, table, json }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            bool asJson = pr.GetValue(json);
            if (pr.GetValue(table) is { } name)
            {
                PrintTable(name, asJson);
                return 0;
            }
            var cfg = GptPresets.Get(pr.GetValue(preset) ?? "gpt2");
            cfg = cfg with
            {
                Layers = pr.GetValue(layers) ?? cfg.Layers,
                EmbeddingSize = pr.GetValue(embd) ?? cfg.EmbeddingSize,
                Heads = pr.GetValue(heads) ?? cfg.Heads,
                KvHeads = pr.GetValue(kvHeads) ?? cfg.KvHeads,
                VocabSize = pr.GetValue(vocab) ?? cfg.VocabSize,
                ContextLength = pr.GetValue(block) ?? cfg.ContextLength,
            };
            int? t = pr.GetValue(seq);
            if (t is < 1) throw new ArgumentException($"--seq must be at least 1 (got {t})");
            var c = ScalingAccounting.Count(cfg, t ?? 0, pr.GetValue(batch));
            if (asJson)
            {
                var node = JsonSerializer.SerializeToNode(c)!.AsObject();
                node["config"] = JsonNode.Parse(cfg.ToJson());
                Console.WriteLine(node.ToJsonString());
                return 0;
            }
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine($"parameters: {c.Parameters.ToString("N0", inv)} (non-embedding {c.NonEmbeddingParameters.ToString("N0", inv)})");
            foreach (var (part, n) in c.Breakdown) if (part != "total") Console.WriteLine($"  {part,-20} {n.ToString("N0", inv),16}");
            Console.WriteLine($"training FLOPs per token at T = {c.SequenceLength}:");
            Console.WriteLine($"  6N (Kaplan)             {c.FlopsPerToken6N.ToString("0.0000E+00", inv)}");
            Console.WriteLine($"  6N + 6·L·T·C (Kaplan)   {c.FlopsPerTokenKaplan.ToString("0.0000E+00", inv)}");
            Console.WriteLine($"  Chinchilla Appendix F   {c.FlopsPerTokenChinchilla.ToString("0.0000E+00", inv)}");
            Console.WriteLine($"  this model's products   {c.FlopsPerToken.ToString("0.0000E+00", inv)}");
            Console.WriteLine($"memory, training at {c.BatchSize} x {c.SequenceLength}: fp32 {Bytes(c.TrainMemoryBytes)}, 16-bit {Bytes(c.TrainMemoryBytes16)} " +
                              $"(weights+gradients+AdamW 16 bytes/parameter, activations {c.ActivationFloats.ToString("N0", inv)} values)");
            Console.WriteLine($"memory, inference: weights fp32 {Bytes(c.InferenceWeightsBytes)}, 16-bit {Bytes(c.InferenceWeightsBytes16)}; " +
                              $"KV cache per token fp32 {Bytes(c.KvCacheBytesPerToken)}, 16-bit {Bytes(c.KvCacheBytesPerToken16)}");
            return 0;
        });
        return cmd;
    }

    private static string Bytes(long b) => b switch
    {
        >= 1L << 30 => (b / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (b / (double)(1L << 20)).ToString("F2", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (b / (double)(1L << 10)).ToString("F2", CultureInfo.InvariantCulture) + " KiB",
        _ => b.ToString(CultureInfo.InvariantCulture) + " B",
    };

    private static void PrintTable(string name, bool asJson)
    {
        var rows = PublishedTables.Get(name);
        var inv = CultureInfo.InvariantCulture;
        var jsonRows = new JsonArray();
        if (!asJson) Console.WriteLine($"{"model",-14} {"preset",-12} {"L",3} {"d_model",7} {"heads",5} {"paper",10} {"ours",16} {"vs paper",9} {"6N FLOPs/token",15}");
        foreach (var r in rows)
        {
            var cfg = GptPresets.Get(r.Preset);
            var c = ScalingAccounting.Count(cfg);
            double rel = c.Parameters / r.PaperParameters - 1;
            if (asJson)
            {
                jsonRows.Add(new JsonObject
                {
                    ["model"] = r.Name, ["preset"] = r.Preset, ["paper_params"] = r.PaperParameters, ["params"] = c.Parameters,
                    ["non_embedding_params"] = c.NonEmbeddingParameters, ["relative_difference"] = rel, ["exact_params"] = r.ExactParameters,
                    ["layers"] = cfg.Layers, ["d_model"] = cfg.EmbeddingSize, ["heads"] = cfg.Heads,
                    ["flops_per_token_6n"] = c.FlopsPerToken6N, ["flops_per_token"] = c.FlopsPerToken, ["note"] = r.Note,
                });
                continue;
            }
            Console.WriteLine($"{r.Name,-14} {r.Preset,-12} {cfg.Layers,3} {cfg.EmbeddingSize,7} {cfg.Heads,5} {Short(r.PaperParameters),10} " +
                              $"{c.Parameters.ToString("N0", inv),16} {(rel * 100).ToString("+0.00;-0.00", inv) + "%",9} {c.FlopsPerToken6N.ToString("0.000E+00", inv),15}" +
                              (r.ExactParameters is long exact ? $"  released: {exact.ToString("N0", inv)}{(exact == c.Parameters ? " (equal)" : " (differs)")}" : ""));
        }
        if (asJson) { Console.WriteLine(new JsonObject { ["table"] = name, ["rows"] = jsonRows }.ToJsonString()); return; }
        Console.WriteLine("notes:");
        foreach (var r in rows)
        {
            if (r.Note is not null) Console.WriteLine($"  {r.Name}: {r.Note}");
            var cfg = GptPresets.Get(r.Preset);
            if (cfg.Layers != r.Layers || cfg.EmbeddingSize != r.Width || cfg.Heads != r.Heads)
                Console.WriteLine($"  {r.Name}: the paper prints {r.Layers} x {r.Width}, {r.Heads} heads; the preset is {cfg.Layers} x {cfg.EmbeddingSize}, {cfg.Heads} heads");
        }
    }

    private static string Short(double n) => n >= 1e9 ? (n / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "B" : (n / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M";
}
