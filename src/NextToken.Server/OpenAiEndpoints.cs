// OpenAiEndpoints: /v1/models, /v1/completions and /v1/chat/completions in OpenAI's JSON and server-sent-event layouts.
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using NextToken.Generation;

namespace NextToken.Server;

/// <summary>The OpenAI-compatible handlers. Every error leaves as <c>{"error":{…}}</c> (see <see cref="NextTokenServer"/>).</summary>
internal static class OpenAiEndpoints
{
    static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public static async Task Models(HttpContext http, ServingEngine engine)
    {
        http.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(http.Response.Body);
        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        w.WriteStartObject();
        w.WriteString("id", engine.Options.ModelName);
        w.WriteString("object", "model");
        w.WriteNumber("created", Now);
        w.WriteString("owned_by", "nexttoken");
        w.WriteNumber("context_length", engine.ContextLength);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        await w.FlushAsync(http.RequestAborted);
    }

    static string Finish(FinishReason r) => r is FinishReason.Stop or FinishReason.EndOfText ? "stop" : "length";

    // One sequence of a request: choice `Index` = prompt index × n + i, generated from `Prompt` with `Options`; `Echo` is
    // the prompt text shown before it when echo is on.
    sealed record Job(int Index, int[] Prompt, GenerationOptions Options, string Echo, float[]? Prefix = null);

    public static async Task Completions(HttpContext http, ServingEngine engine, bool chat)
    {
        JsonDocument doc;
        try { doc = await JsonDocument.ParseAsync(http.Request.Body, default, http.RequestAborted); }
        catch (JsonException e) { throw new ServingException(400, $"the request body is not valid JSON: {e.Message}", param: "body"); }
        using var _ = doc;
        var req = OpenAiRequest.Parse(doc.RootElement, chat, engine.Options);
        if (req.Model is { } m && m != engine.Options.ModelName)
            throw new ServingException(404, $"the model '{m}' does not exist; this server serves '{engine.Options.ModelName}' (GET /v1/models)", "invalid_request_error", "model", "model_not_found");
        // Every prompt is checked (encoding, vocabulary, context) before any runs: a bad one fails the whole request.
        // A chat with an image (multimodal models): the image as the embedding prefix, the last user message as the question.
        float[]? prefix = null;
        int[][] prompts;
        if (chat && req.Image is not null)
        {
            var (question, image) = engine.EncodeImageChat(req.Messages!, req.Image, req.ImageParam!);
            prompts = [question];
            prefix = image;
        }
        else prompts = chat ? [engine.EncodeChat(req.Messages!)]
            : req.Prompts.Select(p => p.Ids is { } ids ? engine.CheckIds(ids, p.Param) : engine.Encode(p.Text!, p.Param)).ToArray();
        var jobs = new List<Job>(prompts.Length * req.N);
        for (int p = 0; p < prompts.Length; p++)
        {
            var options = engine.Fit(prompts[p], req.Options, chat ? "messages" : req.Prompts[p].Param, engine.PrefixLength(prefix));
            if (prefix is not null) options = options with { StopStrings = [.. options.StopStrings, "\n"] }; // one answer line, as the model was trained
            else if (chat) options = options with { StopStrings = [.. options.StopStrings, .. engine.Template.StopStrings] };
            try { options.Validate(); }
            catch (ArgumentException e) { throw new ServingException(400, e.Message); }
            string echo = !chat && req.Echo ? req.Prompts[p].Text ?? engine.Generator.PromptText(prompts[p]) : "";
            for (int i = 0; i < req.N; i++) jobs.Add(new Job(p * req.N + i, prompts[p], ForChoice(options, i), echo, prefix));
        }
        if (!engine.TryAdmit(jobs.Count))
        {
            http.Response.Headers.RetryAfter = "1";
            throw new ServingException(429, $"the server is busy ({engine.Options.MaxBatch} running, {engine.Options.MaxQueue} queued); retry after a second", "rate_limit_exceeded", code: "queue_full");
        }
        try
        {
            string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
            int promptTokens = prompts.Sum(p => p.Length); // each prompt counted once, whatever n (as OpenAI does)
            if (req.Stream) await StreamAsync(http, engine, req, jobs, promptTokens, id);
            else await CompleteAsync(http, engine, req, jobs, promptTokens, id);
        }
        finally { engine.Release(jobs.Count); }
    }

    static GenerationOptions ForChoice(GenerationOptions o, int i) => i == 0 ? o : o with { Seed = o.Seed + (ulong)i };

    static async Task CompleteAsync(HttpContext http, ServingEngine engine, OpenAiRequest req, List<Job> jobs, int promptTokens, string id)
    {
        var runs = jobs.Select(async job =>
        {
            GeneratedSequence? done = null;
            await foreach (var e in engine.RunAsync(job.Prompt, job.Options, job.Prefix, http.RequestAborted)) done ??= e.Done;
            return done!;
        }).ToArray();
        var seqs = await Task.WhenAll(runs);
        http.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(http.Response.Body);
        w.WriteStartObject();
        Header(w, id, req.Chat ? "chat.completion" : "text_completion", engine);
        w.WriteStartArray("choices");
        for (int i = 0; i < seqs.Length; i++)
        {
            var (s, job) = (seqs[i], jobs[i]);
            w.WriteStartObject();
            w.WriteNumber("index", job.Index);
            if (req.Chat)
            {
                w.WriteStartObject("message");
                w.WriteString("role", "assistant");
                w.WriteString("content", s.Text);
                w.WriteEndObject();
            }
            else w.WriteString("text", job.Echo + s.Text);
            w.WritePropertyName("logprobs");
            WriteLogprobs(w, engine, req, s.Logprobs, job.Echo.Length);
            w.WriteString("finish_reason", Finish(s.FinishReason));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        WriteUsage(w, promptTokens, seqs.Sum(s => s.Tokens.Count));
        w.WriteEndObject();
        await w.FlushAsync(http.RequestAborted);
    }

    static void Header(Utf8JsonWriter w, string id, string kind, ServingEngine engine)
    {
        w.WriteString("id", id);
        w.WriteString("object", kind);
        w.WriteNumber("created", Now);
        w.WriteString("model", engine.Options.ModelName);
        w.WriteString("system_fingerprint", "nexttoken");
    }

    static void WriteUsage(Utf8JsonWriter w, int prompt, int completion)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", prompt);
        w.WriteNumber("completion_tokens", completion);
        w.WriteNumber("total_tokens", prompt + completion);
        w.WriteEndObject();
    }

    // Chat: {"content":[{token, logprob, bytes, top_logprobs:[{token, logprob, bytes}]}]}.
    // Completions: {tokens, token_logprobs, top_logprobs:[{token: logprob}], text_offset}, offsets counted from offset0.
    // The end-of-text token is left out. Returns the text offset after the last token, where the next chunk's tokens start
    // (offsets matter only when logprobs are written).
    static int WriteLogprobs(Utf8JsonWriter w, ServingEngine engine, OpenAiRequest req, IEnumerable<TokenLogprob> lps, int offset0)
    {
        if (req.Logprobs < 0) { w.WriteNullValue(); return offset0; }
        var list = lps.Where(t => t.Token != engine.Generator.EndOfTextId).ToList();
        int end = offset0 + list.Sum(t => engine.TokenText(t.Token).Length);
        if (req.Chat)
        {
            w.WriteStartObject();
            w.WriteStartArray("content");
            foreach (var t in list)
            {
                w.WriteStartObject();
                WriteToken(w, engine, t.Token, t.Logprob);
                w.WriteStartArray("top_logprobs");
                foreach (var a in t.TopLogprobs) { w.WriteStartObject(); WriteToken(w, engine, a.Token, a.Logprob); w.WriteEndObject(); }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            return end;
        }
        w.WriteStartObject();
        w.WriteStartArray("tokens");
        foreach (var t in list) w.WriteStringValue(engine.TokenText(t.Token));
        w.WriteEndArray();
        w.WriteStartArray("token_logprobs");
        foreach (var t in list) w.WriteNumberValue(t.Logprob);
        w.WriteEndArray();
        w.WriteStartArray("top_logprobs");
        foreach (var t in list)
        {
            w.WriteStartObject();
            foreach (var a in t.TopLogprobs) w.WriteNumber(engine.TokenText(a.Token), a.Logprob);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("text_offset");
        int offset = offset0;
        foreach (var t in list) { w.WriteNumberValue(offset); offset += engine.TokenText(t.Token).Length; }
        w.WriteEndArray();
        w.WriteEndObject();
        return end;
    }

    static void WriteToken(Utf8JsonWriter w, ServingEngine engine, int token, float logprob)
    {
        w.WriteString("token", engine.TokenText(token));
        w.WriteNumber("logprob", logprob);
        w.WriteStartArray("bytes");
        foreach (byte b in engine.TokenBytes(token)) w.WriteNumberValue(b);
        w.WriteEndArray();
    }

    // Server-sent events: for chat a role chunk per choice, with echo the prompt text per choice; then one chunk per decoded
    // text piece and choice, carrying (when asked for) the logprobs of exactly the tokens behind that piece; then one chunk
    // per choice with finish_reason and the logprobs of tokens no piece carried (those completing a stop string), or null;
    // the usage chunk when stream_options.include_usage; then [DONE]. Concatenating the chunks' logprobs per choice gives
    // the non-streamed response's logprobs (text_offset runs on across chunks).
    static async Task StreamAsync(HttpContext http, ServingEngine engine, OpenAiRequest req, List<Job> jobs, int promptTokens, string id)
    {
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
        var gate = new SemaphoreSlim(1, 1);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        string kind = req.Chat ? "chat.completion.chunk" : "text_completion";
        var started = DateTime.UtcNow;
        bool first = true;
        async Task Send(Action<Utf8JsonWriter> body)
        {
            await gate.WaitAsync(http.RequestAborted);
            try
            {
                buffer.Clear();
                using (var w = new Utf8JsonWriter(buffer))
                {
                    w.WriteStartObject();
                    body(w);
                    w.WriteEndObject();
                }
                await http.Response.Body.WriteAsync("data: "u8.ToArray(), http.RequestAborted);
                await http.Response.Body.WriteAsync(buffer.WrittenMemory, http.RequestAborted);
                await http.Response.Body.WriteAsync("\n\n"u8.ToArray(), http.RequestAborted);
                await http.Response.Body.FlushAsync(http.RequestAborted);
            }
            finally { gate.Release(); }
        }
        // One chunk of one choice; `tokens` (null: "logprobs": null) start at text offset `offset`; returns the offset after them.
        int Choice(Utf8JsonWriter w, int index, string? text, bool role, IReadOnlyList<TokenLogprob>? tokens, int offset, FinishReason? finish)
        {
            Header(w, id, kind, engine);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", index);
            if (req.Chat)
            {
                w.WriteStartObject("delta");
                if (role) w.WriteString("role", "assistant");
                if (text is not null) w.WriteString("content", text);
                w.WriteEndObject();
            }
            else w.WriteString("text", text ?? "");
            w.WritePropertyName("logprobs");
            int end = offset;
            if (tokens is null) w.WriteNullValue(); else end = WriteLogprobs(w, engine, req, tokens, offset);
            if (finish is { } f) w.WriteString("finish_reason", Finish(f)); else w.WriteNull("finish_reason");
            w.WriteEndObject();
            w.WriteEndArray();
            if (req.IncludeUsage) w.WriteNull("usage");
            return end;
        }
        await http.Response.StartAsync(http.RequestAborted);
        if (req.Chat)
            foreach (var job in jobs) await Send(w => Choice(w, job.Index, "", true, null, 0, null));
        if (req.Echo)
            foreach (var job in jobs) await Send(w => Choice(w, job.Index, job.Echo, false, null, 0, null));
        var runs = jobs.Select(async job =>
        {
            int sent = 0, offset = job.Echo.Length; // tokens that went out with pieces; text offset of the next token
            await foreach (var e in engine.RunAsync(job.Prompt, job.Options, job.Prefix, http.RequestAborted))
            {
                if (e.Done is { } done)
                {
                    var rest = done.Logprobs.Skip(sent).Where(t => t.Token != engine.Generator.EndOfTextId).ToArray();
                    await Send(w => Choice(w, job.Index, null, false, rest.Length > 0 ? rest : null, offset, done.FinishReason));
                    return done.Tokens.Count;
                }
                if (first) { first = false; engine.Metrics.TimeToFirstTokenSeconds.Observe((DateTime.UtcNow - started).TotalSeconds); }
                sent += e.Tokens.Count;
                await Send(w => offset = Choice(w, job.Index, e.Text, false, e.Tokens, offset, null));
            }
            return 0;
        }).ToArray();
        var counts = await Task.WhenAll(runs);
        if (req.IncludeUsage)
            await Send(w =>
            {
                Header(w, id, kind, engine);
                w.WriteStartArray("choices");
                w.WriteEndArray();
                WriteUsage(w, promptTokens, counts.Sum());
            });
        await http.Response.Body.WriteAsync("data: [DONE]\n\n"u8.ToArray(), http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }
}
