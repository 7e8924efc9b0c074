// OpenAiServerTests: the real server on a free loopback port, called with the official OpenAI .NET client and raw HTTP.
#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI client
using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using NextToken.Server;
using OpenAI;
using OpenAI.Chat;
using ChatMessage = OpenAI.Chat.ChatMessage;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using ChatOptions = Microsoft.Extensions.AI.ChatOptions;
using IChatClient = Microsoft.Extensions.AI.IChatClient;

namespace NextToken.Tests.Serving;

public sealed class OpenAiServerTests(ServingFixture fx) : IClassFixture<ServingFixture>
{
    OpenAIClient Client(string key = TinyServing.Key) =>
        new(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(fx.Address, "v1") });

    HttpClient Http(string? key = TinyServing.Key)
    {
        var h = new HttpClient { BaseAddress = fx.Address };
        if (key is not null) h.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return h;
    }

    static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> Post(HttpClient h, string path, string json)
    {
        var r = await h.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        string text = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), r);
    }

    static ChatCompletionOptions Greedy(int max = 24) => new() { Temperature = 0, MaxOutputTokenCount = max, Seed = 3 };

    [Fact]
    public async Task Models_ListsTheServedModel()
    {
        var models = (await Client().GetOpenAIModelClient().GetModelsAsync()).Value;
        Assert.Equal(TinyServing.Name, Assert.Single(models).Id);
    }

    [Fact]
    public async Task Chat_StreamingDeltasConcatenateToTheNonStreamingAnswer_WithUsageChunk()
    {
        var chat = Client().GetChatClient(TinyServing.Name);
        ChatMessage[] messages = [new UserChatMessage("hello there")];
        var whole = (await chat.CompleteChatAsync(messages, Greedy())).Value;
        Assert.NotEmpty(whole.Content[0].Text);
        var sb = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        int pieces = 0;
        await foreach (var u in chat.CompleteChatStreamingAsync(messages, Greedy()))
        {
            foreach (var part in u.ContentUpdate) { sb.Append(part.Text); pieces++; }
            usage ??= u.Usage;
            finish ??= u.FinishReason;
        }
        Assert.Equal(whole.Content[0].Text, sb.ToString());
        Assert.True(pieces > 1, "the answer arrived in one piece: not streamed");
        Assert.NotNull(usage);
        Assert.Equal(whole.Usage.InputTokenCount, usage!.InputTokenCount);
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(usage.InputTokenCount + usage.OutputTokenCount, usage.TotalTokenCount);
        Assert.Equal(whole.FinishReason, finish);
    }

    [Fact]
    public async Task Chat_LogprobsLayout_TopAlternativesSortedAndGreedyTokenFirst()
    {
        var chat = Client().GetChatClient(TinyServing.Name);
        var o = Greedy(12);
        o.IncludeLogProbabilities = true;
        o.TopLogProbabilityCount = 3;
        var c = (await chat.CompleteChatAsync([new UserChatMessage("abc")], o)).Value;
        var lps = c.ContentTokenLogProbabilities;
        Assert.Equal(c.Usage.OutputTokenCount, lps.Count); // char tokenizer: no end-of-text token
        Assert.Equal(c.Content[0].Text, string.Concat(lps.Select(t => t.Token)));
        foreach (var t in lps)
        {
            Assert.True(t.LogProbability <= 0);
            Assert.Equal(3, t.TopLogProbabilities.Count);
            Assert.Equal(t.Token, t.TopLogProbabilities[0].Token); // temperature 0: the most likely token is chosen
            Assert.Equal(t.LogProbability, t.TopLogProbabilities[0].LogProbability, 5);
            Assert.True(t.TopLogProbabilities[0].LogProbability >= t.TopLogProbabilities[1].LogProbability);
            Assert.Equal(Encoding.UTF8.GetBytes(t.Token), t.Utf8Bytes!.Value.ToArray());
        }
    }

    [Fact]
    public async Task Chat_ThroughMicrosoftExtensionsAiOpenAi_AsIChatClient()
    {
        IChatClient client = Client().GetChatClient(TinyServing.Name).AsIChatClient();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 16, Seed = 3 };
        var r = await client.GetResponseAsync("hi", options);
        var streamed = string.Concat((await client.GetStreamingResponseAsync("hi", options).ToListAsync()).Select(u => u.Text));
        Assert.Equal(r.Text, streamed);
        Assert.NotNull(r.Usage);
        Assert.True(r.Usage!.OutputTokenCount > 0);
    }

    [Fact]
    public async Task Completions_LogprobsEchoAndUsage_InTheLegacyLayout()
    {
        using var h = Http();
        var (status, body, _) = await Post(h, "/v1/completions", """{"model":"tiny","prompt":"the cat","max_tokens":10,"temperature":0,"logprobs":2,"echo":true}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        var choice = body.GetProperty("choices")[0];
        string text = choice.GetProperty("text").GetString()!;
        Assert.StartsWith("the cat", text);
        var lp = choice.GetProperty("logprobs");
        var tokens = lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()).ToArray();
        Assert.Equal(text["the cat".Length..], string.Concat(tokens));
        Assert.Equal(tokens.Length, lp.GetProperty("token_logprobs").GetArrayLength());
        Assert.All(lp.GetProperty("top_logprobs").EnumerateArray(), o => Assert.Equal(2, o.EnumerateObject().Count()));
        var offsets = lp.GetProperty("text_offset").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal("the cat".Length, offsets[0]);
        var usage = body.GetProperty("usage");
        Assert.Equal(7, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(tokens.Length, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task StopSequences_CutTheTextAndFinishWithStop()
    {
        using var h = Http();
        var (_, plain, _) = await Post(h, "/v1/completions", """{"prompt":"xyz","max_tokens":30,"temperature":0}""");
        string full = plain.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.True(full.Length >= 8, $"need a longer greedy text than '{full}'");
        string stop = full.Substring(5, 2);
        var (_, cut, _) = await Post(h, "/v1/completions", JsonSerializer.Serialize(new { prompt = "xyz", max_tokens = 30, temperature = 0, stop = new[] { stop, "\u0001never" } }));
        var choice = cut.GetProperty("choices")[0];
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        // Through the OpenAI client as well (chat).
        var chat = Client().GetChatClient(TinyServing.Name);
        string answer = (await chat.CompleteChatAsync([new UserChatMessage("q")], Greedy(30))).Value.Content[0].Text;
        Assert.True(answer.Length >= 6, $"need a longer greedy chat answer than '{answer}'");
        var o = Greedy(30);
        o.StopSequences.Add(answer.Substring(3, 2));
        var stopped = (await chat.CompleteChatAsync([new UserChatMessage("q")], o)).Value;
        Assert.Equal(answer[..answer.IndexOf(answer.Substring(3, 2), StringComparison.Ordinal)], stopped.Content.Count == 0 ? "" : stopped.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
    }

    [Fact]
    public async Task N_GreaterThanOne_ReturnsIndexedChoicesStreamedAndNot()
    {
        using var h = Http();
        var (status, body, _) = await Post(h, "/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"n":3,"max_tokens":8,"temperature":1.5,"seed":11}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var choices = body.GetProperty("choices").EnumerateArray().ToArray();
        Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.True(choices.Select(c => c.GetProperty("message").GetProperty("content").GetString()).Distinct().Count() > 1, "three samples at temperature 1.5 were identical");
        // Streaming: per-index deltas concatenate to the same three answers (same seed).
        var r = await h.PostAsync("/v1/chat/completions", new StringContent("""{"messages":[{"role":"user","content":"hi"}],"n":3,"max_tokens":8,"temperature":1.5,"seed":11,"stream":true}""", Encoding.UTF8, "application/json"));
        var texts = new StringBuilder[] { new(), new(), new() };
        foreach (var line in (await r.Content.ReadAsStringAsync()).Split('\n'))
        {
            if (!line.StartsWith("data: {")) continue;
            foreach (var c in JsonDocument.Parse(line[6..]).RootElement.GetProperty("choices").EnumerateArray())
                if (c.GetProperty("delta").TryGetProperty("content", out var t)) texts[c.GetProperty("index").GetInt32()].Append(t.GetString());
        }
        Assert.Equal(choices.Select(c => c.GetProperty("message").GetProperty("content").GetString()), texts.Select(t => t.ToString()));
    }

    static void AssertError(JsonElement body, string? param = null, string? code = null)
    {
        var e = body.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(e.GetProperty("message").GetString()));
        Assert.False(string.IsNullOrEmpty(e.GetProperty("type").GetString()));
        Assert.True(e.TryGetProperty("param", out _) && e.TryGetProperty("code", out _));
        if (param is not null) Assert.Equal(param, e.GetProperty("param").GetString());
        if (code is not null) Assert.Equal(code, e.GetProperty("code").GetString());
        Assert.DoesNotContain("   at ", body.GetRawText());
    }

    [Theory]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}", null)]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":-1}", "max_tokens")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":2.5}", "temperature")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":1000}", "n")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_p\":1.5}", "top_p")]
    [InlineData("{\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", "messages[0].role")]
    [InlineData("{\"messages\":[]}", "messages")]
    [InlineData("[1,2]", "body")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}}]}]}", "messages[0].content[0]")]
    public async Task InvalidRequests_Answer400InOpenAisShape(string json, string? param)
    {
        using var h = Http();
        var (status, body, _) = await Post(h, "/v1/chat/completions", json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertError(body, param);
    }

    [Fact]
    public async Task PromptLongerThanTheContext_Is400_AndAbsurdMaxTokensIsClampedToTheContext()
    {
        using var h = Http();
        var (status, body, _) = await Post(h, "/v1/completions", JsonSerializer.Serialize(new { prompt = new string('a', 500) }));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertError(body, code: "context_length_exceeded");
        var (ok, big, _) = await Post(h, "/v1/completions", """{"prompt":"hello","max_tokens":1000000,"temperature":0}""");
        Assert.Equal(HttpStatusCode.OK, ok);
        Assert.Equal("length", big.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(128 - 5, big.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task UnknownModel404_MissingOrWrongKey401_UnknownRoute404_BodyTooLarge413()
    {
        var e404 = await Assert.ThrowsAsync<ClientResultException>(() => Client().GetChatClient("gpt-5").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, e404.Status);
        var e401 = await Assert.ThrowsAsync<ClientResultException>(() => Client("sk-wrong").GetChatClient(TinyServing.Name).CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(401, e401.Status);
        using var anonymous = Http(key: null);
        var (s401, b401, _) = await Post(anonymous, "/v1/completions", """{"prompt":"a"}""");
        Assert.Equal(HttpStatusCode.Unauthorized, s401);
        AssertError(b401, code: "invalid_api_key");
        using var h = Http();
        var (s404, b404, _) = await Post(h, "/v1/chat/completions", """{"model":"nope","messages":[{"role":"user","content":"hi"}]}""");
        Assert.Equal(HttpStatusCode.NotFound, s404);
        AssertError(b404, "model", "model_not_found");
        var r = await h.GetAsync("/v1/engines");
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        h.DefaultRequestHeaders.ExpectContinue = true; // the server refuses on Content-Length before the body is sent
        var (s413, b413, _) = await Post(h, "/v1/completions", JsonSerializer.Serialize(new { prompt = new string('a', 2 << 20) }));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, s413);
        AssertError(b413, code: "request_too_large");
    }

    [Fact]
    public async Task Playground_IsServedWithoutPathTraversal_HealthAndMetricsAnswer()
    {
        using var h = Http(key: null);
        var page = await h.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("NextToken playground", await page.Content.ReadAsStringAsync());
        foreach (var path in new[] { "/..%2f..%2fetc%2fpasswd", "/%2e%2e/NextToken.Server.dll", "/NextTokenServer.cs", "/wwwroot%2findex.html" })
            Assert.Equal(HttpStatusCode.NotFound, (await h.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await h.GetAsync("/health")).StatusCode);
        Assert.False(page.Headers.Contains("Access-Control-Allow-Origin"));
        using var k = Http();
        await Post(k, "/v1/completions", """{"prompt":"a","max_tokens":2}""");
        string metrics = await h.GetStringAsync("/metrics");
        Assert.Contains("nexttoken_requests_total{endpoint=\"/v1/completions\",status=\"200\"}", metrics);
        Assert.Contains("nexttoken_completion_tokens_total", metrics);
        Assert.Contains("nexttoken_queue_depth", metrics);
    }

    [Fact]
    public void ApiKeyComparison_MatchesOnlyTheExactKey()
    {
        Assert.True(NextTokenServer.KeyMatches("sk-1", "sk-1"));
        Assert.False(NextTokenServer.KeyMatches("sk-2", "sk-1"));
        Assert.False(NextTokenServer.KeyMatches("sk-1x", "sk-1"));
        Assert.False(NextTokenServer.KeyMatches(null, "sk-1"));
    }
}
