// OpenAiRequest: parses and validates the body of /v1/completions and /v1/chat/completions into GenerationOptions.
using System.Text;
using System.Globalization;
using System.Text.Json;
using NextToken.Chat;
using NextToken.Generation;

namespace NextToken.Server;

/// <summary>One prompt of a completion request: text or token ids, and the request field it came from (for errors).</summary>
internal sealed record PromptInput(string? Text, int[]? Ids, string Param);

/// <summary>One parsed completion or chat request: the prompts, the options and the response choices.</summary>
internal sealed class OpenAiRequest
{
    public string? Model;
    public List<PromptInput> Prompts = []; // completions: one or more (a batch); chat: none (see Messages)
    public List<ChatMessage>? Messages;
    public byte[]? Image;        // chat: the one image_url part's bytes (a base64 data URL), for multimodal models
    public string? ImageParam;   // where it was: messages[i].content[j]
    public GenerationOptions Options = new();
    public int N = 1;
    public bool Stream;
    public bool IncludeUsage;
    public bool Echo;
    public int Logprobs = -1; // completions: top alternatives (≥ 0) or -1 for none; chat: top_logprobs or -1 for logprobs off
    public bool Chat;

    static ServingException Bad(string message, string param) => new(400, message, param: param);

    static double Number(JsonElement e, string name)
    {
        if (e.ValueKind != JsonValueKind.Number) throw Bad($"'{name}' must be a number (got {e.ValueKind.ToString().ToLowerInvariant()})", name);
        return e.GetDouble();
    }

    static int Integer(JsonElement e, string name)
    {
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long v)) throw Bad($"'{name}' must be an integer", name);
        return (int)Math.Clamp(v, int.MinValue, int.MaxValue);
    }

    static float Range(JsonElement e, string name, double lo, double hi)
    {
        double v = Number(e, name);
        if (!(v >= lo && v <= hi)) throw Bad($"'{name}' must be between {lo.ToString(CultureInfo.InvariantCulture)} and {hi.ToString(CultureInfo.InvariantCulture)} (got {v.ToString(CultureInfo.InvariantCulture)})", name);
        return (float)v;
    }

    /// <summary>Parses <paramref name="body"/>; throws <see cref="ServingException"/> (400) naming the field at fault.</summary>
    public static OpenAiRequest Parse(JsonElement body, bool chat, ServeOptions serve)
    {
        if (body.ValueKind != JsonValueKind.Object) throw Bad("the request body must be a JSON object", "body");
        var r = new OpenAiRequest { Chat = chat };
        var o = new GenerationOptions { MaxNewTokens = chat ? int.MaxValue : 16, Seed = (ulong)Random.Shared.NextInt64() };
        bool logprobsOn = false;
        int topLogprobs = 0;
        foreach (var p in body.EnumerateObject())
        {
            var v = p.Value;
            if (v.ValueKind == JsonValueKind.Null) continue;
            switch (p.Name)
            {
                case "model": r.Model = v.ValueKind == JsonValueKind.String ? v.GetString() : throw Bad("'model' must be a string", "model"); break;
                case "prompt" when !chat: r.Prompts = ParsePrompts(v); break;
                case "messages" when chat: r.Messages = ParseMessages(v, r); break;
                case "max_tokens" or "max_completion_tokens":
                    int max = Integer(v, p.Name);
                    if (max < 0) throw Bad($"'{p.Name}' must be ≥ 0 (got {max})", p.Name);
                    o = o with { MaxNewTokens = max };
                    break;
                case "temperature": o = o with { Temperature = Range(v, "temperature", 0, 2) }; break;
                case "top_p":
                    float tp = Range(v, "top_p", 0, 1);
                    o = o with { TopP = tp == 0 ? 1e-6f : tp }; // 0 means "only the most likely token", as vLLM reads it
                    break;
                case "n":
                    r.N = Integer(v, "n");
                    if (r.N < 1 || r.N > serve.MaxChoices) throw Bad($"'n' must be between 1 and {serve.MaxChoices} (got {r.N})", "n");
                    break;
                case "stop":
                    string[] stops = v.ValueKind == JsonValueKind.String ? [v.GetString()!]
                        : v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String) ? v.EnumerateArray().Select(x => x.GetString()!).ToArray()
                        : throw Bad("'stop' must be a string or a list of strings", "stop");
                    if (stops.Length > 4) throw Bad($"'stop' takes at most 4 sequences (got {stops.Length})", "stop");
                    if (stops.Any(string.IsNullOrEmpty)) throw Bad("'stop' sequences must not be empty", "stop");
                    o = o with { StopStrings = stops };
                    break;
                case "seed":
                    if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long seed)) throw Bad("'seed' must be an integer", "seed");
                    o = o with { Seed = unchecked((ulong)seed) };
                    break;
                case "presence_penalty": o = o with { PresencePenalty = Range(v, "presence_penalty", -2, 2) }; break;
                case "frequency_penalty": o = o with { FrequencyPenalty = Range(v, "frequency_penalty", -2, 2) }; break;
                case "repetition_penalty":
                    float rp = (float)Number(v, "repetition_penalty");
                    if (!(rp > 0) || float.IsInfinity(rp)) throw Bad($"'repetition_penalty' must be > 0 (got {rp}); 1 turns it off", "repetition_penalty");
                    o = o with { RepetitionPenalty = rp };
                    break;
                case "top_k":
                    int k = Integer(v, "top_k");
                    if (k < -1) throw Bad($"'top_k' must be ≥ 0, or -1 for off (got {k})", "top_k");
                    o = o with { TopK = Math.Max(0, k) };
                    break;
                case "min_p": o = o with { MinP = Range(v, "min_p", 0, 1) }; break;
                case "logit_bias":
                    if (v.ValueKind != JsonValueKind.Object) throw Bad("'logit_bias' must be an object mapping token ids to biases", "logit_bias");
                    var bias = new Dictionary<int, float>();
                    foreach (var b in v.EnumerateObject())
                    {
                        if (!int.TryParse(b.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int id)) throw Bad($"'logit_bias' key '{b.Name}' is not a token id", "logit_bias");
                        bias[id] = Range(b.Value, "logit_bias", -100, 100);
                    }
                    o = o with { LogitBias = bias };
                    break;
                case "logprobs" when chat:
                    if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw Bad("'logprobs' must be true or false", "logprobs");
                    logprobsOn = v.GetBoolean();
                    break;
                case "logprobs":
                    r.Logprobs = Integer(v, "logprobs");
                    if (r.Logprobs < 0 || r.Logprobs > 20) throw Bad($"'logprobs' must be between 0 and 20 (got {r.Logprobs})", "logprobs");
                    break;
                case "top_logprobs" when chat:
                    topLogprobs = Integer(v, "top_logprobs");
                    if (topLogprobs < 0 || topLogprobs > 20) throw Bad($"'top_logprobs' must be between 0 and 20 (got {topLogprobs})", "top_logprobs");
                    break;
                case "echo" when !chat:
                    if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw Bad("'echo' must be true or false", "echo");
                    r.Echo = v.GetBoolean();
                    break;
                case "stream":
                    if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw Bad("'stream' must be true or false", "stream");
                    r.Stream = v.GetBoolean();
                    break;
                case "stream_options":
                    if (v.ValueKind != JsonValueKind.Object) throw Bad("'stream_options' must be an object", "stream_options");
                    if (v.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True) r.IncludeUsage = true;
                    break;
                case "ignore_eos": // vLLM's extra: generate past end-of-text (benchmarks)
                    if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw Bad("'ignore_eos' must be true or false", "ignore_eos");
                    o = o with { StopAtEndOfText = !v.GetBoolean() };
                    break;
                default: break; // user, suffix, response_format, tools, …: accepted and ignored (documented)
            }
        }
        if (chat)
        {
            if (r.Messages is null) throw Bad("'messages' is required: a list of {role, content}", "messages");
            if (topLogprobs > 0 && !logprobsOn) throw Bad("'top_logprobs' needs 'logprobs': true", "top_logprobs");
            r.Logprobs = logprobsOn ? topLogprobs : -1;
        }
        else if (r.Prompts.Count == 0) throw Bad("'prompt' is required", "prompt");
        // Every prompt × n is its own sequence in the scheduler; more than the server admits at once could never run.
        int sequences = Math.Max(1, r.Prompts.Count) * r.N, capacity = serve.MaxBatch + serve.MaxQueue;
        if (sequences > capacity)
            throw r.Prompts.Count > 1
                ? Bad($"{r.Prompts.Count} prompts × n = {r.N} is {sequences} sequences but this server admits at most {capacity} at once (--max-batch + --max-queue); send fewer prompts per request", "prompt")
                : Bad($"'n' = {r.N} is more sequences than this server admits at once ({capacity}: --max-batch + --max-queue)", "n");
        r.Options = o with { TopLogprobs = Math.Max(0, r.Logprobs) };
        return r;
    }

    // OpenAI's four prompt shapes: "text", ["text", …], [id, …] (one prompt as token ids), [[id, …], …].
    static List<PromptInput> ParsePrompts(JsonElement v)
    {
        if (v.ValueKind == JsonValueKind.String) return [new PromptInput(v.GetString()!, null, "prompt")];
        if (v.ValueKind != JsonValueKind.Array)
            throw Bad("'prompt' must be a string, a list of strings, a list of token ids or a list of token-id lists", "prompt");
        if (v.GetArrayLength() == 0) throw Bad("'prompt' is an empty list: send a string, a list of strings, a list of token ids or a list of token-id lists", "prompt");
        if (v[0].ValueKind == JsonValueKind.Number) return [new PromptInput(null, TokenIds(v, "prompt"), "prompt")];
        var prompts = new List<PromptInput>(v.GetArrayLength());
        foreach (var e in v.EnumerateArray())
        {
            string at = $"prompt[{prompts.Count}]";
            prompts.Add(e.ValueKind switch
            {
                JsonValueKind.String => new PromptInput(e.GetString()!, null, at),
                JsonValueKind.Array => new PromptInput(null, TokenIds(e, at), at),
                _ => throw Bad($"{at} must be a string or a list of token ids (got {Kind(e)}); a batch is a list of strings or of token-id lists", at),
            });
        }
        return prompts;
    }

    static int[] TokenIds(JsonElement v, string at)
    {
        if (v.GetArrayLength() == 0) throw Bad($"{at} is an empty list of token ids", at);
        var ids = new int[v.GetArrayLength()];
        int i = 0;
        foreach (var e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out ids[i]))
                throw Bad($"{at}[{i}] must be a token id, a non-negative integer (got {(e.ValueKind == JsonValueKind.Number ? e.GetRawText() : Kind(e))})", $"{at}[{i}]");
            i++;
        }
        return ids;
    }

    static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object", JsonValueKind.Array => "a list", JsonValueKind.String => "a string", JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean", _ => "null",
    };

    static List<ChatMessage> ParseMessages(JsonElement v, OpenAiRequest r)
    {
        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() == 0) throw Bad("'messages' must be a non-empty list of {role, content}", "messages");
        var list = new List<ChatMessage>();
        int i = 0;
        foreach (var m in v.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw Bad($"{at} must be an object with 'role' and 'content'", at);
            string role = m.TryGetProperty("role", out var rl) && rl.ValueKind == JsonValueKind.String ? rl.GetString()! : throw Bad($"{at}.role must be a string", at + ".role");
            if (role == "developer") role = "system";
            if (!ChatMessage.Roles.Contains(role)) throw Bad($"{at}.role '{role}' is not supported (expected system, developer, user or assistant)", at + ".role");
            var content = new StringBuilder();
            if (m.TryGetProperty("content", out var c))
            {
                if (c.ValueKind == JsonValueKind.String) content.Append(c.GetString());
                else if (c.ValueKind == JsonValueKind.Array)
                {
                    int j = 0;
                    foreach (var part in c.EnumerateArray())
                    {
                        string pat = $"{at}.content[{j++}]";
                        string? type = part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                        if (type == "text" && part.TryGetProperty("text", out var tx) && tx.ValueKind == JsonValueKind.String) content.Append(tx.GetString());
                        else if (type == "image_url")
                        {
                            if (role != "user") throw Bad($"{pat}: images are accepted in user messages only", pat);
                            if (r.Image is not null) throw Bad($"{pat}: one image per request (the model answers about one picture at a time; {r.ImageParam} was the first)", pat);
                            r.Image = DataUrl(part, pat);
                            r.ImageParam = pat;
                        }
                        else throw Bad($"{pat}: expected a text part {{\"type\":\"text\",\"text\"}} or an image_url part", pat);
                    }
                }
                else if (c.ValueKind != JsonValueKind.Null) throw Bad($"{at}.content must be a string or a list of text and image_url parts", at + ".content");
            }
            list.Add(new ChatMessage(role, content.ToString()));
        }
        return list;
    }

    // {"type":"image_url","image_url":{"url":"data:image/png;base64,…"}} (or the url as a plain string): the decoded bytes.
    static byte[] DataUrl(JsonElement part, string at)
    {
        string? url = part.TryGetProperty("image_url", out var iu) ? iu.ValueKind == JsonValueKind.String ? iu.GetString()
            : iu.ValueKind == JsonValueKind.Object && iu.TryGetProperty("url", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null : null;
        if (url is null) throw Bad($"{at}.image_url.url must be a string", at + ".image_url.url");
        if (!url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            throw Bad($"{at}.image_url.url: only base64 data URLs (data:image/png;base64,…) are accepted; the server downloads nothing", at + ".image_url.url");
        int comma = url.IndexOf(',');
        if (comma < 0 || !url[..comma].EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            throw Bad($"{at}.image_url.url: expected data:<type>;base64,<data>", at + ".image_url.url");
        try { return Convert.FromBase64String(url[(comma + 1)..]); }
        catch (FormatException) { throw Bad($"{at}.image_url.url: the data is not valid base64", at + ".image_url.url"); }
    }
}
