// ChatCommand: `nexttoken chat` — multi-turn chat with a model through its chat template, streamed; with piped standard
// input one user turn per line (scriptable).
using System.CommandLine;
using NextToken.Chat;
using NextToken.Generation;
using NextToken.Interop;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken chat --checkpoint DIR [--system TEXT] [--max-new-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S]</c>.</summary>
internal sealed class ChatCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Model: a NextToken checkpoint (e.g. from nexttoken finetune), a Hugging Face directory or an llm.c .bin", Required = true };
        var system = new Option<string?>("--system") { Description = "System message at the start of the conversation" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Tokens per reply at most", DefaultValueFactory = _ => 256 };
        var temperature = new Option<float>("--temperature") { Description = "Softmax temperature (0: greedy)", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass in (0, 1]", DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens (0: off)", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong>("--seed") { Description = "Sampler seed (turn i uses seed + i)", DefaultValueFactory = _ => 1337 };
        var threads = ThreadsOption.Create();
        var cmd = new Command("chat", "Chat with a model: type a message, the reply streams; /reset clears the history, /exit (or end of input) quits;\n" +
                                      "/image PATH shows a multimodal model a picture for the next questions.\n" +
                                      "With piped input each line is one user turn and each reply is printed on its own line.\n" +
                                      "Example: echo \"make it plural: the cat sees a dog.\" | nexttoken chat --checkpoint runs/finetune");
        var adapter = FineTuningCli.AdapterOption();
        foreach (var o in new Option[] { checkpoint, system, maxNew, temperature, topP, topK, seed, threads, adapter }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            string dir = pr.GetValue(checkpoint)!;
            var (model, tokenizer) = ModelFiles.LoadModel(dir);
            FineTuningCli.ApplyAdapter(model, pr.GetValue(adapter));
            if (tokenizer is null) throw new InvalidDataException($"the checkpoint '{dir}' has no tokenizer: chat needs one");
            // Adapters (--adapter, issue 11 item 5) attach to `model` here, before the generator is built.
            var template = ChatTemplate.For(tokenizer, out string? note);
            if (note is not null) Console.Error.WriteLine($"note: {note}");
            var generator = new Generator(model, tokenizer);
            float temp = pr.GetValue(temperature);
            var baseOptions = new GenerationOptions
            {
                Strategy = temp == 0 ? DecodingStrategy.Greedy : DecodingStrategy.Sample, Temperature = temp == 0 ? 1f : temp, TopP = pr.GetValue(topP),
                TopK = pr.GetValue(topK), MaxNewTokens = pr.GetValue(maxNew), StopStrings = template.StopStrings,
            }.Validate();
            bool interactive = !Console.IsInputRedirected;
            var history = new List<ChatMessage>();
            if (pr.GetValue(system) is { Length: > 0 } sys) history.Add(ChatMessage.System(sys));
            int systemCount = history.Count;
            if (interactive) Console.Error.WriteLine($"chatting with {dir} (template {template.Name}); /reset clears the history, /exit quits");
            int turn = 0;
            float[]? image = null;
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            try
            {
                while (true)
                {
                    if (interactive) Console.Write("> ");
                    string? line = Console.ReadLine();
                    if (line is null || line.Trim() == "/exit") break;
                    if (line.Trim() == "/reset") { history.RemoveRange(systemCount, history.Count - systemCount); if (interactive) Console.Error.WriteLine("(history cleared)"); continue; }
                    if (line.Trim().Length == 0) continue;
                    if (line.TrimStart().StartsWith("/image", StringComparison.Ordinal))
                    {
                        // /image PATH: the picture the next questions are about (multimodal models, docs/multimodal.md).
                        string path = line.TrimStart()["/image".Length..].Trim();
                        if (!model.Config.Multimodal) { Console.Error.WriteLine("error: this model is text-only: /image needs a multimodal model (e.g. trained with nexttoken train --data builtin:shapes)"); continue; }
                        try { image = NextToken.Vision.ImageFiles.Load(path, model.Config.ImageSize); if (interactive) Console.Error.WriteLine($"(image {path})"); }
                        catch (Exception e) when (e is IOException or InvalidDataException) { Console.Error.WriteLine($"error: {e.Message}"); }
                        continue;
                    }
                    if (model.Config.Multimodal)
                    {
                        // A multimodal model answers one question about the current image at a time (its training format).
                        Console.Out.WriteLine(NextToken.Vision.VisionTraining.Answer(model, tokenizer, image, line, pr.GetValue(maxNew)));
                        continue;
                    }
                    history.Add(ChatMessage.User(line));
                    int[] prompt = tokenizer.Encode(template.Render(history));
                    // Oldest turns (after the system message) go first when the conversation outgrows the context.
                    while (prompt.Length + 1 > model.ContextLength && history.Count - systemCount > 1)
                    {
                        history.RemoveAt(systemCount);
                        prompt = tokenizer.Encode(template.Render(history));
                    }
                    var result = generator.Generate(prompt, baseOptions with { Seed = baseOptions.Seed + (ulong)turn++ }, piece => Console.Out.Write(piece), cts.Token);
                    Console.Out.WriteLine();
                    history.Add(ChatMessage.Assistant(result.Best.Text));
                    if (cts.IsCancellationRequested) break;
                }
            }
            finally { Console.CancelKeyPress -= onCancel; }
            return 0;
        });
        return cmd;
    }
}
