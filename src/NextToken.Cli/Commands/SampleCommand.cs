// SampleCommand: `nexttoken sample` — generates from a checkpoint with any strategy, streaming to the terminal or as JSON.
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using NextToken.Generation;
using NextToken.Interop;
using NextToken.Model;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken sample</c>; option names are a contract (engine and generation issues).</summary>
internal sealed class SampleCommand : ICliCommand
{
    private static readonly Dictionary<string, DecodingStrategy> Strategies = new(StringComparer.Ordinal)
    {
        ["greedy"] = DecodingStrategy.Greedy, ["sample"] = DecodingStrategy.Sample, ["beam"] = DecodingStrategy.Beam,
        ["contrastive"] = DecodingStrategy.Contrastive, ["speculative"] = DecodingStrategy.Speculative, ["prompt-lookup"] = DecodingStrategy.PromptLookup,
    };

    /// <summary>The JSON name of a finish reason.</summary>
    public static string FinishName(FinishReason r) => r switch
    {
        FinishReason.Length => "length", FinishReason.Stop => "stop", FinishReason.EndOfText => "end_of_text", _ => "cancelled",
    };

    /// <inheritdoc/>
    public Command Build()
    {
        var d = new GenerationOptions();
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint: a NextToken checkpoint directory, a Hugging Face model directory (config.json + safetensors), or an llm.c .bin model", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "Prompt text; empty: the model starts from <|endoftext|>, which is not printed (or from a newline for character vocabularies)", DefaultValueFactory = _ => "" };
        var promptIds = new Option<string?>("--prompt-ids") { Description = "Prompt as comma-separated token ids instead of text, e.g. 0,5,12" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Tokens to generate at most", DefaultValueFactory = _ => 200 };
        var temperature = new Option<float>("--temperature") { Description = "Softmax temperature ≥ 0 (0: greedy)", DefaultValueFactory = _ => d.Temperature };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens (0: off)", DefaultValueFactory = _ => d.TopK };
        var topP = new Option<float>("--top-p") { Description = "Nucleus: smallest set with probability ≥ p, in (0,1] (1: off)", DefaultValueFactory = _ => d.TopP };
        var seed = new Option<ulong>("--seed") { Description = "Sampler seed (sample i uses seed + i)", DefaultValueFactory = _ => d.Seed };
        var strategy = new Option<string>("--strategy") { Description = "greedy | sample | beam | contrastive | speculative | prompt-lookup", DefaultValueFactory = _ => "sample" };
        strategy.AcceptOnlyFromAmong([.. Strategies.Keys]);
        var beams = new Option<int>("--beams") { Description = "Beam width (beam search)", DefaultValueFactory = _ => d.Beams };
        var beamGroups = new Option<int>("--beam-groups") { Description = "Diverse beam search groups (divides --beams)", DefaultValueFactory = _ => d.BeamGroups };
        var diversity = new Option<float>("--diversity-penalty") { Description = "Hamming diversity strength between beam groups", DefaultValueFactory = _ => d.DiversityPenalty };
        var lengthPenalty = new Option<float>("--length-penalty") { Description = "Beam score = sum log p / length^alpha", DefaultValueFactory = _ => d.LengthPenalty };
        var earlyStopping = new Option<bool>("--early-stopping") { Description = "Stop beam search once --beams hypotheses finished" };
        var draft = new Option<string?>("--draft") { Description = "Draft checkpoint for --strategy speculative (same tokenizer as --checkpoint)" };
        var draftTokens = new Option<int>("--draft-tokens") { Description = "Tokens drafted per verification (speculative, prompt-lookup)", DefaultValueFactory = _ => d.DraftTokens };
        var adaptive = new Option<bool>("--adaptive-draft") { Description = "Grow the draft length after fully accepted rounds, shrink it after rejections" };
        var stop = new Option<string[]>("--stop") { Description = "Stop string (repeatable); not included in the output" };
        var logprobs = new Option<int>("--logprobs") { Description = "Top alternatives reported per token with --json", DefaultValueFactory = _ => 0 };
        var minP = new Option<float>("--min-p") { Description = "Keep tokens with p ≥ min-p · max p (0: off)", DefaultValueFactory = _ => d.MinP };
        var typicalP = new Option<float>("--typical-p") { Description = "Locally typical sampling mass in (0,1] (1: off)", DefaultValueFactory = _ => d.TypicalP };
        var epsilon = new Option<float>("--epsilon-cutoff") { Description = "Drop tokens with p < epsilon (0: off)", DefaultValueFactory = _ => d.EpsilonCutoff };
        var eta = new Option<float>("--eta-cutoff") { Description = "Eta sampling cutoff (0: off)", DefaultValueFactory = _ => d.EtaCutoff };
        var repetition = new Option<float>("--repetition-penalty") { Description = "CTRL repetition penalty (1: off)", DefaultValueFactory = _ => d.RepetitionPenalty };
        var presence = new Option<float>("--presence-penalty") { Description = "OpenAI presence penalty (0: off)", DefaultValueFactory = _ => d.PresencePenalty };
        var frequency = new Option<float>("--frequency-penalty") { Description = "OpenAI frequency penalty (0: off)", DefaultValueFactory = _ => d.FrequencyPenalty };
        var noRepeat = new Option<int>("--no-repeat-ngram") { Description = "No n-gram of this size repeats (0: off)", DefaultValueFactory = _ => d.NoRepeatNgramSize };
        var minNew = new Option<int>("--min-new-tokens") { Description = "End-of-text is banned before this many tokens", DefaultValueFactory = _ => d.MinNewTokens };
        var contrastiveK = new Option<int>("--contrastive-k") { Description = "Contrastive search candidates", DefaultValueFactory = _ => d.ContrastiveTopK };
        var contrastiveAlpha = new Option<float>("--contrastive-alpha") { Description = "Contrastive search degeneration penalty in [0,1]", DefaultValueFactory = _ => d.ContrastiveAlpha };
        var numSamples = new Option<int>("--num-samples") { Description = "Samples to draw (beam: best beams returned)", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON with tokens, text, logprobs, finish_reason (and every sample under 'sequences')" };
        var chat = new Option<bool>("--chat") { Description = "Treat --prompt as one user turn: render it with the model's chat template (ChatML by default) and stop at the end of the reply" };
        var system = new Option<string?>("--system") { Description = "System message for --chat" };
        var image = new Option<string?>("--image") { Description = "Image file (PNG, JPEG, …) put before the prompt, for a multimodal checkpoint (docs/multimodal.md); answers up to a newline, greedily unless --strategy sample is given" };
        var threads = ThreadsOption.Create();
        var adapter = FineTuningCli.AdapterOption();

        var cmd = new Command("sample", "Generate text from a checkpoint, streamed to the terminal as it is produced.\n" +
                                        "A prompt longer than the model's context keeps its last context-length tokens (a warning goes to stderr);\n" +
                                        "generation past the context slides the window (greedy, sample, contrastive: docs/generation.md).\n" +
                                        "Example: nexttoken sample --checkpoint runs/default --prompt \"the cat\" --max-new-tokens 100 --temperature 0.8 --top-p 0.95");
        foreach (var o in new Option[] { checkpoint, prompt, promptIds, maxNew, temperature, topK, topP, seed, strategy, beams, beamGroups, diversity, lengthPenalty,
                                         earlyStopping, draft, draftTokens, adaptive, stop, logprobs, minP, typicalP, epsilon, eta, repetition, presence, frequency, noRepeat,
                                         minNew, contrastiveK, contrastiveAlpha, numSamples, json, image, chat, system, threads, adapter })
            cmd.Options.Add(o);

        cmd.SetAction(pr =>
        {
            ThreadsOption.Apply(pr, threads);
            var options = new GenerationOptions
            {
                Strategy = Strategies[pr.GetValue(strategy)!], MaxNewTokens = pr.GetValue(maxNew), Seed = pr.GetValue(seed), NumSequences = pr.GetValue(numSamples),
                Temperature = pr.GetValue(temperature), TopK = pr.GetValue(topK), TopP = pr.GetValue(topP), MinP = pr.GetValue(minP), TypicalP = pr.GetValue(typicalP),
                EpsilonCutoff = pr.GetValue(epsilon), EtaCutoff = pr.GetValue(eta), RepetitionPenalty = pr.GetValue(repetition),
                PresencePenalty = pr.GetValue(presence), FrequencyPenalty = pr.GetValue(frequency), NoRepeatNgramSize = pr.GetValue(noRepeat),
                MinNewTokens = pr.GetValue(minNew), StopStrings = pr.GetValue(stop) ?? [], TopLogprobs = pr.GetValue(logprobs), Beams = pr.GetValue(beams),
                BeamGroups = pr.GetValue(beamGroups), DiversityPenalty = pr.GetValue(diversity), LengthPenalty = pr.GetValue(lengthPenalty),
                EarlyStopping = pr.GetValue(earlyStopping), ContrastiveTopK = pr.GetValue(contrastiveK), ContrastiveAlpha = pr.GetValue(contrastiveAlpha),
                DraftTokens = pr.GetValue(draftTokens), AdaptiveDraftTokens = pr.GetValue(adaptive),
            }.Validate();
            if (options.Strategy == DecodingStrategy.Speculative && pr.GetValue(draft) is null)
                throw new ArgumentException("--strategy speculative needs --draft CHECKPOINT (a smaller model trained with the same tokenizer)");

            string dir = pr.GetValue(checkpoint)!;
            var (model, tokenizer) = ModelFiles.LoadModel(dir);
            FineTuningCli.ApplyAdapter(model, pr.GetValue(adapter));
            if (pr.GetValue(image) is { } imagePath)
            {
                // Image + prompt: the image prefix through the KV cache, then the prompt, then the greedy answer.
                if (!model.Config.Multimodal) throw new ArgumentException($"--image: the checkpoint '{dir}' is a text-only model (train a multimodal one, e.g. nexttoken train --data builtin:shapes)");
                if (tokenizer is null) throw new InvalidDataException($"the checkpoint '{dir}' has no tokenizer");
                var pixels = NextToken.Vision.ImageFiles.Load(imagePath, model.Config.ImageSize);
                // Greedy unless --strategy sample is given (then every sampling option applies, one answer per --num-samples).
                bool sampled = pr.GetResult(strategy) is { Implicit: false } && options.Strategy == DecodingStrategy.Sample;
                if (pr.GetResult(strategy) is { Implicit: false } && options.Strategy is not (DecodingStrategy.Greedy or DecodingStrategy.Sample))
                    throw new ArgumentException($"--image works with --strategy greedy or sample (got {pr.GetValue(strategy)})");
                var answers = new List<string>();
                if (!sampled) answers.Add(NextToken.Vision.VisionTraining.Answer(model, tokenizer, pixels, pr.GetValue(prompt)!, pr.GetValue(maxNew)));
                else
                {
                    var cfg = model.Config;
                    var prefix = NextToken.Vision.ImageEncoder.Prefix(model, pixels);
                    int[] question = tokenizer.Encode(pr.GetValue(prompt)! + "\n");
                    int room = cfg.ContextLength - cfg.ImagePrefixLength - question.Length;
                    if (room < 1) throw new ArgumentException($"--prompt: the image's {cfg.ImagePrefixLength} positions and the prompt's {question.Length} tokens fill the context of {cfg.ContextLength}");
                    using var scheduler = new BatchScheduler(new Generator(model, tokenizer));
                    for (int i = 0; i < options.NumSequences; i++)
                    {
                        var one = options with { NumSequences = 1, Seed = options.Seed + (ulong)i, MaxNewTokens = Math.Min(options.MaxNewTokens, room), StopStrings = [.. options.StopStrings, "\n"] };
                        var result = scheduler.GeneratePiecesAsync(question, prefix, one, _ => { }).GetAwaiter().GetResult();
                        answers.Add(result.Best.Text);
                    }
                }
                if (pr.GetValue(json))
                    Console.WriteLine(new System.Text.Json.Nodes.JsonObject
                    {
                        ["text"] = answers[0], ["image"] = imagePath,
                        ["samples"] = new System.Text.Json.Nodes.JsonArray(answers.Select(a => (System.Text.Json.Nodes.JsonNode)System.Text.Json.Nodes.JsonValue.Create(a)!).ToArray()),
                    }.ToJsonString());
                else foreach (var a in answers) Console.WriteLine(a);
                return 0;
            }
            GptModel? draftModel = null;
            if (pr.GetValue(draft) is { } draftDir)
            {
                (draftModel, var draftTokenizer) = ModelFiles.LoadModel(draftDir);
                if (draftModel.VocabSize != model.VocabSize || (tokenizer is not null && draftTokenizer is not null && draftTokenizer.Kind != tokenizer.Kind))
                    throw new ArgumentException($"the draft '{draftDir}' has a different vocabulary ({draftTokenizer?.Kind ?? "?"}, {draftModel.VocabSize} ids) " +
                                                $"from the target ({tokenizer?.Kind ?? "?"}, {model.VocabSize} ids); train the draft on the same prepared data");
            }
            var generator = new Generator(model, tokenizer, draftModel);

            int[] ids;
            if (pr.GetValue(promptIds) is { } idText)
            {
                try { ids = idText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray(); }
                catch (FormatException) { throw new ArgumentException($"--prompt-ids '{idText}' is not a comma-separated list of integers, e.g. 0,5,12"); }
                foreach (int id in ids)
                    if ((uint)id >= (uint)model.VocabSize) throw new ArgumentException($"--prompt-ids: token id {id} is outside the vocabulary (0..{model.VocabSize - 1})");
            }
            else
            {
                string text = pr.GetValue(prompt)!;
                if (text.Length > 0 && tokenizer is null) throw new InvalidDataException($"the checkpoint '{dir}' has no tokenizer: pass the prompt as --prompt-ids");
                if (pr.GetValue(chat))
                {
                    if (tokenizer is null) throw new InvalidDataException($"the checkpoint '{dir}' has no tokenizer: --chat needs one");
                    var template = NextToken.Chat.ChatTemplate.For(tokenizer, out string? note);
                    if (note is not null) Console.Error.WriteLine($"note: {note}");
                    var turn = new List<NextToken.Chat.ChatMessage>();
                    if (pr.GetValue(system) is { Length: > 0 } sys) turn.Add(NextToken.Chat.ChatMessage.System(sys));
                    turn.Add(NextToken.Chat.ChatMessage.User(text));
                    text = template.Render(turn);
                    options = options with { StopStrings = [.. options.StopStrings, .. template.StopStrings] };
                }
                ids = generator.Encode(text);
            }
            if (ids.Length > model.ContextLength)
                Console.Error.WriteLine($"warning: the prompt has {ids.Length} tokens, more than the model's context of {model.ContextLength}; keeping the last {model.ContextLength}");

            bool asJson = pr.GetValue(json);
            bool stream = !asJson && tokenizer is not null && options.Strategy != DecodingStrategy.Beam;
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { if (!cts.IsCancellationRequested) { e.Cancel = true; cts.Cancel(); } };
            Console.CancelKeyPress += onCancel;
            var results = new List<GenerationResult>();
            var clock = Stopwatch.StartNew();
            try
            {
                // Samples run one after the other (sample i with seed + i, as the library does) so each can stream.
                int runs = options.Strategy == DecodingStrategy.Beam ? 1 : options.NumSequences;
                for (int i = 0; i < runs; i++)
                {
                    var o = options.Strategy == DecodingStrategy.Beam ? options : options with { NumSequences = 1, Seed = options.Seed + (ulong)i };
                    if (stream)
                    {
                        if (i > 0) Console.Out.Write("\n---------------\n");
                        if (!pr.GetValue(chat)) Console.Out.Write(generator.PromptText(ids.Length > model.ContextLength ? ids[^model.ContextLength..] : ids));
                    }
                    results.Add(generator.Generate(ids, o, stream ? piece => Console.Out.Write(piece) : null, cts.Token));
                    if (stream) Console.Out.WriteLine();
                    if (cts.IsCancellationRequested) break;
                }
            }
            finally { Console.CancelKeyPress -= onCancel; }
            double seconds = clock.Elapsed.TotalSeconds;
            var sequences = results.SelectMany(r => r.Sequences).ToList();
            if (!asJson && !stream)
            {
                for (int i = 0; i < sequences.Count; i++)
                {
                    if (i > 0) Console.Out.Write("\n---------------\n");
                    Console.Out.WriteLine(tokenizer is null ? string.Join(",", sequences[i].Tokens) : (pr.GetValue(chat) ? "" : generator.PromptText(results[0].PromptTokens)) + sequences[i].Text);
                }
            }
            long generated = sequences.Sum(s => (long)s.Tokens.Count);
            if (!asJson)
            {
                Console.Error.WriteLine($"[{generated} tokens in {seconds:F2} s, {generated / Math.Max(seconds, 1e-9):F1} tokens/s, finish: {FinishName(sequences[0].FinishReason)}" +
                                        (results.Sum(r => r.DraftedTokens) > 0 ? $", draft acceptance {results.Sum(r => r.AcceptedTokens) / (double)results.Sum(r => r.DraftedTokens):P1}" : "") + "]");
                return cts.IsCancellationRequested ? 130 : 0;
            }

            string TokenText(int id) => tokenizer is null ? "" : tokenizer.Decode([id]);
            JsonObject Sequence(GeneratedSequence s) => new()
            {
                ["tokens"] = new JsonArray(s.Tokens.Select(t => JsonValue.Create(t)).ToArray<JsonNode?>()),
                ["text"] = s.Text,
                ["logprobs"] = new JsonArray(s.Logprobs.Select(l => (JsonNode?)new JsonObject
                {
                    ["token"] = l.Token, ["text"] = TokenText(l.Token), ["logprob"] = l.Logprob,
                    ["top_logprobs"] = new JsonArray(l.TopLogprobs.Select(t => (JsonNode?)new JsonObject { ["token"] = t.Token, ["text"] = TokenText(t.Token), ["logprob"] = t.Logprob }).ToArray()),
                }).ToArray()),
                ["finish_reason"] = FinishName(s.FinishReason),
                ["score"] = s.Score,
            };
            var summary = Sequence(sequences[0]);
            summary["sequences"] = new JsonArray(sequences.Select(s => (JsonNode?)Sequence(s)).ToArray());
            summary["prompt_tokens"] = new JsonArray(results[0].PromptTokens.Select(t => JsonValue.Create(t)).ToArray<JsonNode?>());
            summary["prompt_truncated"] = results[0].PromptTruncated;
            summary["strategy"] = pr.GetValue(strategy);
            summary["tokens_per_second"] = generated / Math.Max(seconds, 1e-9);
            long drafted = results.Sum(r => r.DraftedTokens);
            if (drafted > 0) summary["acceptance_rate"] = results.Sum(r => r.AcceptedTokens) / (double)drafted;
            Console.Out.WriteLine(summary.ToJsonString());
            return cts.IsCancellationRequested ? 130 : 0;
        });
        return cmd;
    }
}
