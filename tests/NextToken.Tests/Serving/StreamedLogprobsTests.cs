// StreamedLogprobsTests: in SSE streams each content chunk carries the logprobs of exactly its tokens, in OpenAI's
// layouts, and the chunks' logprobs concatenate to the non-streamed response's (temperature 0, same seed).
#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI client
using System.ClientModel;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace NextToken.Tests.Serving;

public sealed class StreamedLogprobsTests(ServingFixture fx) : IClassFixture<ServingFixture>
{
    ChatClient Chat() => new OpenAIClient(new ApiKeyCredential(TinyServing.Key), new OpenAIClientOptions { Endpoint = new Uri(fx.Address, "v1") })
        .GetChatClient(TinyServing.Name);

    [Fact]
    public async Task Chat_StreamedLogprobs_EachChunkCarriesItsTokens_ConcatenatingToTheNonStreamedLogprobs()
    {
        var chat = Chat();
        var o = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24, Seed = 3, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 };
        ChatMessage[] messages = [new UserChatMessage("stream the logprobs")];
        var whole = (await chat.CompleteChatAsync(messages, o)).Value;
        var expected = whole.ContentTokenLogProbabilities;
        Assert.NotEmpty(expected);
        var streamed = new List<ChatTokenLogProbabilityDetails>();
        int contentChunks = 0;
        await foreach (var u in chat.CompleteChatStreamingAsync(messages, o))
        {
            string text = string.Concat(u.ContentUpdate.Select(p => p.Text));
            if (text.Length > 0)
            {
                contentChunks++;
                // One character per token (CharTokenizer): a chunk's tokens spell exactly its text.
                Assert.Equal(text, string.Concat(u.ContentTokenLogProbabilities.Select(t => t.Token)));
            }
            streamed.AddRange(u.ContentTokenLogProbabilities);
        }
        Assert.True(contentChunks > 1, "the answer arrived in one chunk: not streamed");
        Assert.Equal(expected.Count, streamed.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Token, streamed[i].Token);
            Assert.Equal(expected[i].LogProbability, streamed[i].LogProbability, 5);
            Assert.Equal(expected[i].Utf8Bytes!.Value.ToArray(), streamed[i].Utf8Bytes!.Value.ToArray());
            Assert.Equal(expected[i].TopLogProbabilities.Select(a => a.Token), streamed[i].TopLogProbabilities.Select(a => a.Token));
            Assert.Equal(expected[i].TopLogProbabilities.Select(a => (double)a.LogProbability), streamed[i].TopLogProbabilities.Select(a => (double)a.LogProbability),
                (x, y) => Math.Abs(x - y) < 1e-5);
        }
    }

    // Completions' layout, concatenated per choice: tokens, token_logprobs, top_logprobs, text_offset.
    sealed class Legacy
    {
        public List<string> Tokens = [];
        public List<float> Logprobs = [];
        public List<string> Top = []; // each position's {token: logprob} object as raw JSON
        public List<int> Offsets = [];

        public void Add(JsonElement lp)
        {
            Tokens.AddRange(lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!));
            Logprobs.AddRange(lp.GetProperty("token_logprobs").EnumerateArray().Select(t => t.GetSingle()));
            Top.AddRange(lp.GetProperty("top_logprobs").EnumerateArray().Select(t => string.Join(",", t.EnumerateObject().Select(p => p.Name))));
            Offsets.AddRange(lp.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32()));
        }
    }

    [Fact]
    public async Task Completions_StreamedLogprobs_PerChunk_WithEchoStopAndN_ConcatenateToTheNonStreamedLogprobs()
    {
        using var h = ServingHttp.Client(fx.Address);
        var (_, plain) = await ServingHttp.Post(h, "/v1/completions", """{"prompt":"the cat","max_tokens":30,"temperature":0}""");
        string full = plain.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.True(full.Length >= 10, $"need a longer greedy text than '{full}'");
        string stop = full.Substring(6, 2);
        string body = JsonSerializer.Serialize(new { prompt = "the cat", max_tokens = 30, temperature = 0, logprobs = 2, echo = true, n = 2, stop });
        var (_, whole) = await ServingHttp.Post(h, "/v1/completions", body);
        var chunks = await ServingHttp.Stream(h, "/v1/completions", body[..^1] + ",\"stream\":true}");

        var streamed = new[] { new Legacy(), new Legacy() };
        var finishes = new string?[2];
        foreach (var chunk in chunks)
        {
            var c = Assert.Single(chunk.GetProperty("choices").EnumerateArray());
            int index = c.GetProperty("index").GetInt32();
            string text = c.GetProperty("text").GetString()!;
            var lp = c.GetProperty("logprobs");
            if (c.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
            {
                finishes[index] = c.GetProperty("finish_reason").GetString();
                // The tokens that completed the stop string went out with no piece: they come with the finish chunk.
                Assert.Equal(stop, string.Concat(lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString())));
            }
            else if (text == "the cat") { Assert.Equal(JsonValueKind.Null, lp.ValueKind); continue; } // the echo chunk
            else Assert.Equal(text, string.Concat(lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString())));
            streamed[index].Add(lp);
        }
        Assert.All(finishes, f => Assert.Equal("stop", f));
        for (int i = 0; i < 2; i++)
        {
            var choice = whole.GetProperty("choices")[i];
            Assert.Equal(i, choice.GetProperty("index").GetInt32());
            var expected = new Legacy();
            expected.Add(choice.GetProperty("logprobs"));
            Assert.Equal(expected.Tokens, streamed[i].Tokens);
            Assert.Equal(expected.Logprobs, streamed[i].Logprobs, (x, y) => Math.Abs(x - y) < 1e-5);
            Assert.Equal(expected.Top, streamed[i].Top);
            Assert.Equal(expected.Offsets, streamed[i].Offsets); // text_offset runs on across chunks, after the echoed prompt
            Assert.Equal("the cat".Length, streamed[i].Offsets[0]);
        }
    }

    [Fact]
    public async Task Streaming_WithoutLogprobs_EveryChunkHasNullLogprobs()
    {
        using var h = ServingHttp.Client(fx.Address);
        var chunks = await ServingHttp.Stream(h, "/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":6,"temperature":0,"stream":true}""");
        Assert.All(chunks, c => Assert.Equal(JsonValueKind.Null, c.GetProperty("choices")[0].GetProperty("logprobs").ValueKind));
    }
}
