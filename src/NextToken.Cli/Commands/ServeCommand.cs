// ServeCommand: `nexttoken serve` — an OpenAI-compatible HTTP server with continuous batching and a web playground.
using System.CommandLine;
using NextToken.Interop;
using NextToken.Server;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken serve</c>; option names are a contract (issue 15).</summary>
internal sealed class ServeCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var d = new ServeOptions();
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint: a NextToken checkpoint directory, a Hugging Face model directory, or an llm.c .bin model", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "LoRA adapter directory applied on top of --checkpoint" };
        var host = new Option<string>("--host") { Description = "Address to bind (loopback by default; 0.0.0.0 exposes the server to the network)", DefaultValueFactory = _ => d.Host };
        var port = new Option<int>("--port") { Description = "TCP port (0: any free port, printed at start)", DefaultValueFactory = _ => d.Port };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on /v1 (default: the NEXTTOKEN_API_KEY environment variable, else none)" };
        var maxBatch = new Option<int>("--max-batch") { Description = "Sequences decoded together per step", DefaultValueFactory = _ => d.MaxBatch };
        var maxQueue = new Option<int>("--max-queue") { Description = "Requests waiting beyond the batch before 429", DefaultValueFactory = _ => d.MaxQueue };
        var modelName = new Option<string?>("--model-name") { Description = "Model id reported by /v1/models (default: the checkpoint's directory name)" };
        var timeout = new Option<double>("--request-timeout") { Description = "Seconds a request may run before it ends with finish_reason length", DefaultValueFactory = _ => d.RequestTimeout.TotalSeconds };
        var maxBody = new Option<long>("--max-body-bytes") { Description = "Largest request body (413 beyond)", DefaultValueFactory = _ => d.MaxRequestBodyBytes };
        var cors = new Option<bool>("--cors") { Description = "Allow browsers of any origin to call the API (off by default)" };
        var threads = ThreadsOption.Create();
        var cmd = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions, /health, /metrics)\n" +
                                       "with a chat playground at /. Example: nexttoken serve --checkpoint runs/default --port 8080 (docs/serving.md)");
        foreach (var o in new Option[] { checkpoint, adapter, host, port, apiKey, maxBatch, maxQueue, modelName, timeout, maxBody, cors, threads }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            string dir = pr.GetValue(checkpoint)!;
            if (!File.Exists(dir) && !Directory.Exists(dir)) throw new FileNotFoundException($"--checkpoint '{dir}' does not exist");
            if (pr.GetValue(maxBatch) < 1) throw new ArgumentException($"--max-batch must be ≥ 1 (got {pr.GetValue(maxBatch)})");
            if (pr.GetValue(maxQueue) < 0) throw new ArgumentException($"--max-queue must be ≥ 0 (got {pr.GetValue(maxQueue)})");
            if (!(pr.GetValue(timeout) > 0)) throw new ArgumentException($"--request-timeout must be > 0 seconds (got {pr.GetValue(timeout)})");
            string? adapterDir = pr.GetValue(adapter);
            if (adapterDir is not null && !Directory.Exists(adapterDir) && !File.Exists(adapterDir)) throw new FileNotFoundException($"--adapter '{adapterDir}' does not exist");
            var options = new ServeOptions
            {
                Host = pr.GetValue(host)!, Port = pr.GetValue(port), ApiKey = pr.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("NEXTTOKEN_API_KEY"),
                MaxBatch = pr.GetValue(maxBatch), MaxQueue = pr.GetValue(maxQueue),
                ModelName = pr.GetValue(modelName) ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))),
                RequestTimeout = TimeSpan.FromSeconds(pr.GetValue(timeout)), MaxRequestBodyBytes = pr.GetValue(maxBody), EnableCors = pr.GetValue(cors),
            };
            var server = NextTokenServer.Create(options, () =>
            {
                var (model, tokenizer) = ModelFiles.LoadModel(dir);
                // A LoRA adapter (finetune --lora-rank) rides on the base through the linear layers' adapter hook, in
                // batched decoding too; an adapter made for another base is a one-line error.
                FineTuningCli.ApplyAdapter(model, adapterDir);
                var engine = new ServingEngine(model, tokenizer, options);
                Console.Error.WriteLine($"model '{options.ModelName}' ready ({model.VocabSize} ids, context {model.ContextLength})");
                return engine;
            }, line => Console.Error.WriteLine(line));
            server.StartAsync().GetAwaiter().GetResult();
            Console.WriteLine($"listening on {server.Address} (playground: {server.Address}, API: {server.Address}v1; Ctrl+C stops)");
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        });
        return cmd;
    }
}
