// BenchGenerateCommand: `nexttoken bench generate` — tokens/s per decoding strategy vs the memory-bandwidth bound.
using System.CommandLine;
using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using NextToken.Generation;
using NextToken.Interop;
using NextToken.Model;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Cli.Commands;

/// <summary>
/// <c>nexttoken bench generate</c>: the same prompt and model through greedy, top-p sampling, beam 4, speculative and
/// prompt-lookup decoding (median of repeats after a warm-up), plus raw single-token decode against the bound
/// tokens/s ≤ bandwidth ÷ weight bytes (decoding one token reads every weight once).
/// </summary>
internal sealed class BenchGenerateCommand : IBenchSubcommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var d = new GenerationOptions();
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint to measure (NextToken, Hugging Face or llm.c)" };
        var preset = new Option<string?>("--preset") { Description = $"Random-weight model preset instead of a checkpoint ({string.Join(", ", GptPresets.All.Keys)})" };
        var prompt = new Option<string?>("--prompt") { Description = "Prompt text (needs a checkpoint with a tokenizer; default: a fixed prompt of min(16, context/4) tokens)" };
        var tokens = new Option<int>("--tokens") { Description = "New tokens per run", DefaultValueFactory = _ => 64 };
        var draft = new Option<string?>("--draft") { Description = "Draft checkpoint for speculative decoding (same tokenizer)" };
        var draftPreset = new Option<string?>("--draft-preset") { Description = "Random-weight draft preset (with --preset)" };
        var draftTokens = new Option<int>("--draft-tokens") { Description = "Tokens drafted per verification", DefaultValueFactory = _ => d.DraftTokens };
        var repeats = new Option<int>("--repeats") { Description = "Timed runs per strategy (the median is reported)", DefaultValueFactory = _ => 3 };
        var bandwidth = new Option<double?>("--bandwidth-gbs") { Description = "Memory bandwidth in GB/s (default: measured in-process with a 256 MB read)" };
        var seed = new Option<ulong>("--seed") { Description = "Sampler seed", DefaultValueFactory = _ => d.Seed };
        var batch = new Option<int>("--batch")
        {
            Description = "Also time raw decoding of this many sequences in lockstep (one ForwardBatch per step, each weight read\n" +
                          "once for all of them): aggregate tokens/s and the gain over batch 1",
            DefaultValueFactory = _ => 1,
        };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON (ms_per_step, tokens_per_second, gflops, peak_rss_mb, per-strategy numbers)" };
        var threads = ThreadsOption.Create();
        var cmd = new Command("generate", "Generation throughput per strategy on one prompt and model.\n" +
                                          "Example: nexttoken bench generate --checkpoint runs/target --draft runs/draft --tokens 64 --json");
        foreach (var o in new Option[] { checkpoint, preset, prompt, tokens, draft, draftPreset, draftTokens, repeats, bandwidth, seed, batch, json, threads }) cmd.Options.Add(o);

        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            int n = pr.GetValue(tokens), reps = pr.GetValue(repeats);
            if (n < 1) throw new ArgumentException($"--tokens must be ≥ 1 (got {n})");
            if (reps < 1) throw new ArgumentException($"--repeats must be ≥ 1 (got {reps})");
            int batchSize = pr.GetValue(batch);
            if (batchSize < 1 || batchSize > 64) throw new ArgumentException($"--batch must be between 1 and 64 (got {batchSize})");
            GptModel model;
            ITokenizer? tokenizer = null;
            if (pr.GetValue(checkpoint) is { } dir) (model, tokenizer) = ModelFiles.LoadModel(dir);
            else if (pr.GetValue(preset) is { } name) model = new GptModel(GptPresets.Get(name), 1);
            else throw new ArgumentException("give --checkpoint DIR or --preset NAME");
            GptModel? draftModel = pr.GetValue(draft) is { } dd ? ModelFiles.LoadModel(dd).Model : pr.GetValue(draftPreset) is { } dp ? new GptModel(GptPresets.Get(dp) with { VocabSize = model.VocabSize }, 2) : null;
            var generator = new Generator(model, tokenizer, draftModel);
            int[] ids = pr.GetValue(prompt) is { } text ? generator.Encode(text) : Enumerable.Range(0, Math.Min(16, model.ContextLength / 4)).Select(i => (i * 7 + 3) % model.VocabSize).ToArray();
            if (ids.Length + n > model.ContextLength)
                throw new ArgumentException($"prompt ({ids.Length} tokens) + --tokens {n} exceed the context of {model.ContextLength}; use fewer tokens");
            var log = pr.GetValue(json) ? Console.Error : Console.Out;
            log.WriteLine($"model: {model.ParameterCount:N0} parameters, context {model.ContextLength}, vocabulary {model.VocabSize}" +
                          (draftModel is null ? "" : $"; draft: {draftModel.ParameterCount:N0} parameters") + $"; prompt {ids.Length} tokens, {n} new tokens, {NextToken.Kernels.Threading.MaxThreads} threads");

            var baseOptions = new GenerationOptions { MaxNewTokens = n, Seed = pr.GetValue(seed), StopAtEndOfText = false, DraftTokens = pr.GetValue(draftTokens) };
            var runs = new List<(string Label, GenerationOptions Options)>
            {
                ("greedy", baseOptions with { Strategy = DecodingStrategy.Greedy }),
                ("sample_top_p", baseOptions with { Strategy = DecodingStrategy.Sample, TopP = 0.9f }),
                ("beam4", baseOptions with { Strategy = DecodingStrategy.Beam, Beams = 4 }),
            };
            if (draftModel is not null)
            {
                runs.Add(("speculative_greedy", baseOptions with { Strategy = DecodingStrategy.Speculative, Temperature = 0 }));
                runs.Add(("speculative_sample", baseOptions with { Strategy = DecodingStrategy.Speculative, TopP = 0.9f }));
                runs.Add(("speculative_adaptive", baseOptions with { Strategy = DecodingStrategy.Speculative, Temperature = 0, AdaptiveDraftTokens = true }));
            }
            runs.Add(("prompt_lookup_greedy", baseOptions with { Strategy = DecodingStrategy.PromptLookup, Temperature = 0 }));

            // Raw decode: one Forward per token on a cache, no processors (the engine's own speed).
            var logits = new float[model.VocabSize];
            var prefills = new List<double>();
            double RawDecode()
            {
                var cache = model.CreateCache();
                var pf = Stopwatch.StartNew();
                model.Forward(cache, ids, logits);
                prefills.Add(pf.Elapsed.TotalMilliseconds);
                int[] one = [Sampling.ArgMax(logits)];
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < n - 1; i++) { model.Forward(cache, one, logits); one[0] = Sampling.ArgMax(logits); }
                return (n - 1) / sw.Elapsed.TotalSeconds;
            }

            // Raw batched decode: batchSize caches, each prefilled with the prompt, then one ForwardBatch per step.
            var batchLogits = new float[batchSize * model.VocabSize];
            var batchTokens = new int[batchSize];
            double RawBatchDecode()
            {
                var caches = new KvCache[batchSize];
                for (int b = 0; b < batchSize; b++)
                {
                    caches[b] = model.CreateCache();
                    model.Forward(caches[b], ids, logits);
                    batchTokens[b] = Sampling.ArgMax(logits);
                }
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < n - 1; i++)
                {
                    model.ForwardBatch(caches, batchTokens, batchLogits);
                    for (int b = 0; b < batchSize; b++) batchTokens[b] = Sampling.ArgMax(batchLogits.AsSpan(b * model.VocabSize, model.VocabSize));
                }
                return batchSize * (n - 1) / sw.Elapsed.TotalSeconds;
            }

            // Warm up every path for a while (tiered JIT reaches optimised code), then time the strategies round-robin
            // so a change in machine load hits them all alike; report medians.
            var warm = Stopwatch.StartNew();
            for (int round = 0; round < 2 || warm.Elapsed.TotalSeconds < 2; round++)
            {
                RawDecode();
                if (batchSize > 1) RawBatchDecode();
                foreach (var (_, o) in runs) generator.Generate(ids, o);
            }
            var batchedRates = new List<double>();
            var rates = runs.ToDictionary(r => r.Label, _ => new List<double>());
            var lastResult = new Dictionary<string, GenerationResult>();
            var raws = new List<double>();
            prefills.Clear();
            for (int r = 0; r < reps; r++)
            {
                raws.Add(RawDecode());
                if (batchSize > 1) batchedRates.Add(RawBatchDecode());
                foreach (var (label, o) in runs)
                {
                    var sw = Stopwatch.StartNew();
                    var result = generator.Generate(ids, o);
                    rates[label].Add(result.Best.Tokens.Count / sw.Elapsed.TotalSeconds);
                    lastResult[label] = result;
                }
            }
            static double Median(List<double> xs) { var a = xs.Order().ToArray(); return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }
            double raw = Median(raws);
            double greedy = Median(rates["greedy"]);
            var results = new JsonObject();
            foreach (var (label, _) in runs)
            {
                double tps = Median(rates[label]);
                var last = lastResult[label];
                var entry = new JsonObject { ["tokens_per_second"] = tps, ["ms_per_token"] = 1000 / tps, ["tokens"] = last.Best.Tokens.Count, ["speedup_vs_greedy"] = tps / greedy };
                string extra = "";
                if (last.DraftedTokens > 0)
                {
                    entry["acceptance_rate"] = last.AcceptanceRate;
                    entry["target_forwards"] = last.TargetForwards;
                    extra = $", acceptance {last.AcceptanceRate:P1}, {last.TargetForwards} target forwards";
                }
                results[label] = entry;
                log.WriteLine($"{label,-22} {tps,10:F1} tokens/s {1000 / tps,9:F3} ms/token  ×{tps / greedy:F2} vs greedy{extra}");
            }

            double gbs = pr.GetValue(bandwidth) ?? MeasureBandwidth();
            long weightBytes = model.Parameters.LongLength * sizeof(float);
            double bound = gbs * 1e9 / weightBytes;
            double gflops = 2.0 * model.ParameterCount * greedy / 1e9;
            double rss = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
            log.WriteLine($"prompt prefill         {Median(prefills),10:F2} ms for {ids.Length} tokens (included in the strategies' tokens/s, not in raw decode)");
            log.WriteLine($"raw decode             {raw,10:F1} tokens/s; bandwidth {gbs:F1} GB/s, weights {weightBytes / 1e6:F1} MB → bound {bound:F1} tokens/s ({raw / bound:P1} of it)");
            double batched = batchSize > 1 ? Median(batchedRates) : raw;
            if (batchSize > 1)
                log.WriteLine($"raw decode, batch {batchSize,-3} {batched,10:F1} tokens/s in all ({batched / batchSize:F1} per sequence), ×{batched / raw:F2} the batch-1 rate");
            log.WriteLine($"greedy: {1000 / greedy:F3} ms/token, {gflops:F2} GFLOP/s (2·params per token), peak RSS {rss:F0} MB");
            if (!pr.GetValue(json)) return 0;
            var summary = new JsonObject
            {
                ["ms_per_step"] = 1000 / greedy, ["tokens_per_second"] = greedy, ["gflops"] = gflops, ["peak_rss_mb"] = rss,
                ["raw_decode_tokens_per_second"] = raw, ["prefill_ms"] = Median(prefills), ["bandwidth_gbs"] = gbs, ["weight_bytes"] = weightBytes,
                ["bandwidth_bound_tokens_per_second"] = bound, ["fraction_of_bound"] = raw / bound,
                ["parameters"] = model.ParameterCount, ["draft_parameters"] = draftModel?.ParameterCount, ["prompt_tokens"] = ids.Length, ["new_tokens"] = n,
                ["strategies"] = results,
                ["batch"] = batchSize, ["batched_decode_tokens_per_second"] = batched, ["batched_speedup"] = batched / raw,
            };
            if (results["speculative_greedy"] is JsonObject sg) summary["acceptance_rate"] = sg["acceptance_rate"]?.DeepClone();
            Console.Out.WriteLine(summary.ToJsonString());
            return 0;
        });
        return cmd;
    }

    // Streams a 256 MB array with every core (best of 3 passes): a lower bound on what a decode step can read per second.
    private static double MeasureBandwidth()
    {
        const int floats = 64 << 20;
        var data = new float[floats];
        data.AsSpan().Fill(1f);
        int threads = Environment.ProcessorCount, chunk = floats / threads;
        double best = 0;
        var partial = new float[threads];
        for (int pass = 0; pass < 3; pass++)
        {
            var sw = Stopwatch.StartNew();
            Parallel.For(0, threads, t => partial[t] = TensorPrimitives.Sum(data.AsSpan(t * chunk, t == threads - 1 ? floats - t * chunk : chunk)));
            double s = sw.Elapsed.TotalSeconds;
            if (partial.Sum() != floats) throw new InvalidOperationException("bandwidth probe summed wrongly");
            best = Math.Max(best, floats * 4.0 / s / 1e9);
        }
        return best;
    }
}
