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

    public static async Task Completions(HttpContext http, ServingEngine engine, bool chat)
    {
        JsonDocument doc;
        try { doc = await JsonDocument.ParseAsync(http.Request.Body, default, http.RequestAborted); }
        catch (JsonException e) { throw new ServingException(400, $"the request body is not valid JSON: {e.Message}", param: "body"); }
        using var _ = doc;
        var req = OpenAiRequest.Parse(doc.RootElement, chat, engine.Options);
        if (req.Model is { } m && m != engine.Options.ModelName)
            throw new ServingException(404, $"the model '{m}' does not exist; this server serves '{engine.Options.ModelName}' (GET /v1/models)", "invalid_request_error", "model", "model_not_found");
        int[] prompt = chat ? engine.EncodeChat(req.Messages!) : req.PromptIds ?? engine.Encode(req.PromptText!);
        if (req.PromptIds is { } ids)
            foreach (int id in ids)
                if ((uint)id >= (uint)engine.Generator.Model.VocabSize) throw new ServingException(400, $"prompt token id {id} is outside the vocabulary (0..{engine.Generator.Model.VocabSize - 1})", param: "prompt");
        var options = engine.Fit(prompt, req.Options);
        if (chat) options = options with { StopStrings = [.. options.StopStrings, .. engine.Template.StopStrings] };
        try { options.Validate(); }
        catch (ArgumentException e) { throw new ServingException(400, e.Message); }
        if (!engine.TryAdmit(req.N))
        {
            http.Response.Headers.RetryAfter = "1";
            throw new ServingException(429, $"the server is busy ({engine.Options.MaxBatch} running, {engine.Options.MaxQueue} queued); retry after a second", "rate_limit_exceeded", code: "queue_full");
        }
        try
        {
            string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
            if (req.Stream) await StreamAsync(http, engine, req, prompt, options, id);
            else await CompleteAsync(http, engine, req, prompt, options, id);
        }
        finally { engine.Release(req.N); }
    }

    static GenerationOptions ForChoice(GenerationOptions o, int i) => i == 0 ? o : o with { Seed = o.Seed + (ulong)i };

    static async Task CompleteAsync(HttpContext http, ServingEngine engine, OpenAiRequest req, int[] prompt, GenerationOptions options, string id)
    {
        var runs = Enumerable.Range(0, req.N).Select(async i =>
        {
            GeneratedSequence? done = null;
            await foreach (var e in engine.RunAsync(prompt, ForChoice(options, i), http.RequestAborted)) done ??= e.Done;
            return done!;
        }).ToArray();
        var seqs = await Task.WhenAll(runs);
        http.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(http.Response.Body);
        w.WriteStartObject();
        Header(w, id, req.Chat ? "chat.completion" : "text_completion", engine);
        w.WriteStartArray("choices");
        string echo = req.Echo ? (req.PromptText ?? engine.Generator.PromptText(prompt)) : "";
        for (int i = 0; i < seqs.Length; i++)
        {
            var s = seqs[i];
            w.WriteStartObject();
            w.WriteNumber("index", i);
            if (req.Chat)
            {
                w.WriteStartObject("message");
                w.WriteString("role", "assistant");
                w.WriteString("content", s.Text);
                w.WriteEndObject();
            }
            else w.WriteString("text", echo + s.Text);
            w.WritePropertyName("logprobs");
            WriteLogprobs(w, engine, req, s.Logprobs, echo.Length);
            w.WriteString("finish_reason", Finish(s.FinishReason));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        WriteUsage(w, prompt.Length, seqs.Sum(s => s.Tokens.Count));
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
    // Completions: {tokens, token_logprobs, top_logprobs:[{token: logprob}], text_offset}. The end-of-text token is left out.
    static void WriteLogprobs(Utf8JsonWriter w, ServingEngine engine, OpenAiRequest req, IReadOnlyList<TokenLogprob> lps, int offset0)
    {
        if (req.Logprobs < 0) { w.WriteNullValue(); return; }
        var list = lps.Where(t => t.Token != engine.Generator.EndOfTextId).ToList();
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
            return;
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
    }

    static void WriteToken(Utf8JsonWriter w, ServingEngine engine, int token, float logprob)
    {
        w.WriteString("token", engine.TokenText(token));
        w.WriteNumber("logprob", logprob);
        w.WriteStartArray("bytes");
        foreach (byte b in engine.TokenBytes(token)) w.WriteNumberValue(b);
        w.WriteEndArray();
    }

    // Server-sent events: one chunk per decoded text piece and choice, a last chunk per choice with finish_reason (and,
    // when logprobs were asked for, the choice's logprobs), the usage chunk when stream_options.include_usage, then [DONE].
    static async Task StreamAsync(HttpContext http, ServingEngine engine, OpenAiRequest req, int[] prompt, GenerationOptions options, string id)
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
        void Choice(Utf8JsonWriter w, int index, string? text, bool role, GeneratedSequence? done)
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
            if (done is not null) WriteLogprobs(w, engine, req, done.Logprobs, 0); else w.WriteNullValue();
            if (done is not null) w.WriteString("finish_reason", Finish(done.FinishReason)); else w.WriteNull("finish_reason");
            w.WriteEndObject();
            w.WriteEndArray();
            if (req.IncludeUsage) w.WriteNull("usage");
        }
        await http.Response.StartAsync(http.RequestAborted);
        if (req.Chat)
            for (int i = 0; i < req.N; i++) { int k = i; await Send(w => Choice(w, k, "", true, null)); }
        if (req.Echo)
        {
            string echo = req.PromptText ?? engine.Generator.PromptText(prompt);
            for (int i = 0; i < req.N; i++) { int k = i; await Send(w => Choice(w, k, echo, false, null)); }
        }
        var runs = Enumerable.Range(0, req.N).Select(async i =>
        {
            await foreach (var e in engine.RunAsync(prompt, ForChoice(options, i), http.RequestAborted))
            {
                if (e.Done is { } done) { await Send(w => Choice(w, i, null, false, done)); return done.Tokens.Count; }
                if (first) { first = false; engine.Metrics.TimeToFirstTokenSeconds.Observe((DateTime.UtcNow - started).TotalSeconds); }
                await Send(w => Choice(w, i, e.Text, false, null));
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
                WriteUsage(w, prompt.Length, counts.Sum());
            });
        await http.Response.Body.WriteAsync("data: [DONE]\n\n"u8.ToArray(), http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }
}
