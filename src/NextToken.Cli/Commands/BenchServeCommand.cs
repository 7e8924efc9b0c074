// BenchServeCommand: `nexttoken bench serve` — the HTTP server under loopback load: concurrency, latency, overhead, RSS.
using System.CommandLine;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NextToken.Generation;
using NextToken.Interop;
using NextToken.Model;
using NextToken.Server;
using NextToken.Tokenization;

namespace NextToken.Cli.Commands;

/// <summary>
/// Starts the server in-process on a free loopback port and measures: single-client streaming tokens/s against the
/// generator's own greedy tokens/s (server overhead), aggregate tokens/s at 8 concurrent clients, N concurrent
/// streaming clients (errors, time to first token and inter-token latency percentiles), and RSS growth over
/// sequential requests. Bounded: every count is an option; nothing leaves the loopback interface.
/// </summary>
internal sealed class BenchServeCommand : IBenchSubcommand
{
    public Command Build()
    {
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint to serve (NextToken, Hugging Face or llm.c)" };
        var preset = new Option<string?>("--preset") { Description = $"Random-weight model preset instead of a checkpoint ({string.Join(", ", GptPresets.All.Keys)})" };
        var tokens = new Option<int>("--tokens") { Description = "New tokens per request", DefaultValueFactory = _ => 32 };
        var clients = new Option<int>("--clients") { Description = "Concurrent streaming clients of the load test (at most 256)", DefaultValueFactory = _ => 64 };
        var sequential = new Option<int>("--sequential") { Description = "Sequential requests of the RSS test (at most 10000)", DefaultValueFactory = _ => 1000 };
        var maxBatch = new Option<int>("--max-batch") { Description = "Server --max-batch", DefaultValueFactory = _ => 8 };
        var layers = new Option<int?>("--layers") { Description = "Override the preset's layer count (a smaller model for quick runs)" };
        var embd = new Option<int?>("--embd") { Description = "Override the preset's embedding size (heads kept; must divide)" };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON with every figure" };
        var threads = ThreadsOption.Create();
        var cmd = new Command("serve", "Serving throughput and latency on loopback: overhead vs bench generate, 8-client scaling, N streaming clients, RSS over sequential requests.\n" +
                                       "Example: nexttoken bench serve --preset gpt-mini --clients 64 --tokens 32");
        foreach (var o in new Option[] { checkpoint, preset, layers, embd, tokens, clients, sequential, maxBatch, json, threads }) cmd.Options.Add(o);
        cmd.SetAction(pr => Run(pr.GetValue(checkpoint), pr.GetValue(preset), pr.GetValue(layers), pr.GetValue(embd), pr.GetValue(tokens), pr.GetValue(clients), pr.GetValue(sequential), pr.GetValue(maxBatch), pr.GetValue(json), () => ThreadsOption.Apply(pr, threads)));
        return cmd;
    }

    static int Run(string? dir, string? presetName, int? layerCount, int? embdSize, int n, int clientCount, int sequential, int maxBatch, bool asJson, Action applyThreads)
    {
        applyThreads();
        if (n < 1) throw new ArgumentException($"--tokens must be ≥ 1 (got {n})");
        if (clientCount < 1 || clientCount > 256) throw new ArgumentException($"--clients must be between 1 and 256 (got {clientCount})");
        if (sequential < 0 || sequential > 10000) throw new ArgumentException($"--sequential must be between 0 and 10000 (got {sequential})");
        GptModel model;
        ITokenizer? tokenizer = null;
        if (dir is not null) (model, tokenizer) = ModelFiles.LoadModel(dir);
        else if (presetName is not null)
        {
            var config = GptPresets.Get(presetName);
            if (layerCount is int l) config = config with { Layers = l };
            if (embdSize is int e) config = config with { EmbeddingSize = e };
            model = new GptModel(config, 1);
        }
        else throw new ArgumentException("give --checkpoint DIR or --preset NAME");
        // Streaming sends text pieces, so a model without a tokenizer gets one: GPT-2's for its vocabulary, else one symbol per id.
        tokenizer ??= model.VocabSize == 50257 ? TokenizerFactory.Create("gpt2")
            : model.VocabSize < 0xD000 ? new CharTokenizer(Enumerable.Range(0, model.VocabSize).Select(i => ((char)(0x100 + i)).ToString()))
            : throw new ArgumentException($"the model has no tokenizer and {model.VocabSize} ids; give a checkpoint with its tokenizer");
        var log = asJson ? Console.Error : Console.Out;
        int[] prompt = Enumerable.Range(0, Math.Min(16, model.ContextLength / 4)).Select(i => (i * 7 + 3) % model.VocabSize).ToArray();
        if (prompt.Length + n > model.ContextLength) throw new ArgumentException($"--tokens {n} plus a {prompt.Length}-token prompt exceed the context of {model.ContextLength}");
        log.WriteLine($"model: {model.ParameterCount:N0} parameters, context {model.ContextLength}; {n} tokens per request, max batch {maxBatch}; loopback only");

        // Direct generator, as bench generate's greedy row measures it (median of 3 after a warm-up).
        var generator = new Generator(model, tokenizer);
        var direct = new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = n, StopAtEndOfText = false };
        generator.Generate(prompt, direct);
        var runs = new List<double>();
        for (int r = 0; r < 3; r++) { var sw = Stopwatch.StartNew(); generator.Generate(prompt, direct); runs.Add(n / sw.Elapsed.TotalSeconds); }
        double directTps = runs.Order().ElementAt(1);

        var options = new ServeOptions { Port = 0, MaxBatch = maxBatch, MaxQueue = Math.Max(64, clientCount), ModelName = "bench" };
        var server = NextTokenServer.Create(options, () => new ServingEngine(model, tokenizer, options));
        server.StartAsync().GetAwaiter().GetResult();
        server.Loaded.GetAwaiter().GetResult();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 }) { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(10) };
        string body = JsonSerializer.Serialize(new { prompt, max_tokens = n, temperature = 0, ignore_eos = true, stream = true, stream_options = new { include_usage = true } });

        async Task<(int Tokens, double Ttft, List<double> Gaps, bool Ok)> Stream()
        {
            var sw = Stopwatch.StartNew();
            var gaps = new List<double>();
            double last = -1, ttft = -1;
            int tokensOut = 0;
            try
            {
                using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                using var resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
                if (!resp.IsSuccessStatusCode) return (0, 0, gaps, false);
                using var reader = new StreamReader(await resp.Content.ReadAsStreamAsync());
                while (await reader.ReadLineAsync() is { } line)
                {
                    if (!line.StartsWith("data: {", StringComparison.Ordinal)) continue;
                    double t = sw.Elapsed.TotalMilliseconds;
                    using var doc = JsonDocument.Parse(line.AsMemory(6));
                    if (doc.RootElement.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object) { tokensOut = u.GetProperty("completion_tokens").GetInt32(); continue; }
                    var choices = doc.RootElement.GetProperty("choices");
                    if (choices.GetArrayLength() == 0 || choices[0].GetProperty("finish_reason").ValueKind != JsonValueKind.Null) continue;
                    if (ttft < 0) ttft = t; else gaps.Add(t - last);
                    last = t;
                }
                return (tokensOut, ttft, gaps, tokensOut == n);
            }
            catch (HttpRequestException) { return (0, 0, gaps, false); }
        }

        async Task<(double Tps, List<(int Tokens, double Ttft, List<double> Gaps, bool Ok)> Results)> Concurrent(int count)
        {
            var sw = Stopwatch.StartNew();
            var results = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => Task.Run(Stream)));
            return (results.Sum(r => r.Tokens) / sw.Elapsed.TotalSeconds, results.ToList());
        }

        Concurrent(2).GetAwaiter().GetResult(); // warm-up
        // One client and eight clients interleaved, three rounds, medians: the ratio compares the same stretch of a shared machine.
        var single = new List<double>();
        var eight = new List<double>();
        for (int r = 0; r < 3; r++)
        {
            single.Add(Concurrent(1).GetAwaiter().GetResult().Tps);
            eight.Add(Concurrent(8).GetAwaiter().GetResult().Tps);
        }
        double singleTps = single.Order().ElementAt(1);
        double eightTps = eight.Order().ElementAt(1);
        var (loadTps, load) = Concurrent(clientCount).GetAwaiter().GetResult();
        int errors = load.Count(r => !r.Ok);
        var ttfts = load.Where(r => r.Ok).Select(r => r.Ttft).Order().ToArray();
        var gaps = load.SelectMany(r => r.Gaps).Order().ToArray();
        static double P(double[] xs, double q) => xs.Length == 0 ? double.NaN : xs[Math.Min(xs.Length - 1, (int)Math.Ceiling(q * xs.Length) - 1)];

        log.WriteLine($"direct generator greedy      {directTps,10:F1} tokens/s (bench generate's greedy row)");
        log.WriteLine($"HTTP streaming, 1 client     {singleTps,10:F1} tokens/s = {singleTps / directTps:P1} of direct (target ≥ 90%)");
        log.WriteLine($"HTTP streaming, 8 clients    {eightTps,10:F1} tokens/s in all = ×{eightTps / singleTps:F2} one client's (target ≥ ×3)");
        log.WriteLine($"HTTP streaming, {clientCount} clients   {loadTps,10:F1} tokens/s in all, {errors} errors (target 0)");
        log.WriteLine($"  time to first token  p50 {P(ttfts, .5),8:F1} ms  p95 {P(ttfts, .95),8:F1} ms  p99 {P(ttfts, .99),8:F1} ms");
        log.WriteLine($"  inter-token latency  p50 {P(gaps, .5),8:F2} ms  p95 {P(gaps, .95),8:F2} ms  p99 {P(gaps, .99),8:F2} ms");

        double rssBefore = 0, rssAfter = 0;
        if (sequential > 0)
        {
            string small = JsonSerializer.Serialize(new { prompt, max_tokens = Math.Min(n, 8), temperature = 0, ignore_eos = true });
            void One() { using var r = http.PostAsync("/v1/completions", new StringContent(small, Encoding.UTF8, "application/json")).GetAwaiter().GetResult(); r.EnsureSuccessStatusCode(); r.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult(); }
            for (int i = 0; i < Math.Min(100, sequential); i++) One(); // warm-up: pools and JIT settle
            GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
            rssBefore = Environment.WorkingSet / 1048576.0;
            for (int i = 0; i < sequential; i++) One();
            GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
            rssAfter = Environment.WorkingSet / 1048576.0;
            log.WriteLine($"{sequential} sequential requests: RSS {rssBefore:F1} → {rssAfter:F1} MB ({(rssAfter / rssBefore - 1):+0.0%;-0.0%}; target < +5%)");
        }
        server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        if (asJson)
        {
            var summary = new JsonObject
            {
                ["tokens"] = n, ["clients"] = clientCount, ["direct_tokens_per_second"] = directTps, ["single_client_tokens_per_second"] = singleTps,
                ["overhead_ratio"] = singleTps / directTps, ["eight_clients_tokens_per_second"] = eightTps, ["eight_client_scaling"] = eightTps / singleTps,
                ["load_tokens_per_second"] = loadTps, ["errors"] = errors, ["ttft_ms_p50"] = P(ttfts, .5), ["ttft_ms_p95"] = P(ttfts, .95), ["ttft_ms_p99"] = P(ttfts, .99),
                ["itl_ms_p50"] = P(gaps, .5), ["itl_ms_p95"] = P(gaps, .95), ["itl_ms_p99"] = P(gaps, .99),
                ["sequential"] = sequential, ["rss_mb_before"] = rssBefore, ["rss_mb_after"] = rssAfter,
            };
            Console.Out.WriteLine(summary.ToJsonString());
        }
        return errors == 0 ? 0 : 1;
    }
}
