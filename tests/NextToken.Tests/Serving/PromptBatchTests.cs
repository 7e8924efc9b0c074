// PromptBatchTests: /v1/completions with `prompt` as a list of strings, a list of token-id lists or one token-id list:
// one choice per prompt × n (index = prompt × n + i), usage summed, streamed too, and 400s that name the entry at fault.
using System.Net;
using System.Text;
using System.Text.Json;

namespace NextToken.Tests.Serving;

public sealed class PromptBatchTests(ServingFixture fx) : IClassFixture<ServingFixture>
{
    static readonly string[] Prompts = ["ab", "hello", "xyz"];

    static string Body(object prompt, int n, bool stream = false, bool echo = false) =>
        JsonSerializer.Serialize(new { prompt, n, max_tokens = 6, temperature = 0.9, seed = 5, stream, echo });

    static string[] Texts(JsonElement body) =>
        body.GetProperty("choices").EnumerateArray().OrderBy(c => c.GetProperty("index").GetInt32()).Select(c => c.GetProperty("text").GetString()!).ToArray();

    // What each prompt gives alone (same seed and n): the batch must equal these, choice by choice.
    async Task<(string[] Texts, int PromptTokens, int CompletionTokens)> OneByOne(HttpClient h, int n, bool echo = false)
    {
        var texts = new List<string>();
        int prompt = 0, completion = 0;
        foreach (var p in Prompts)
        {
            var (status, body) = await ServingHttp.Post(h, "/v1/completions", Body(p, n, echo: echo));
            Assert.Equal(HttpStatusCode.OK, status);
            texts.AddRange(Texts(body));
            prompt += body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
            completion += body.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        }
        return (texts.ToArray(), prompt, completion);
    }

    [Fact]
    public async Task ListOfStrings_OneChoicePerPromptTimesN_IndexedInOrder_UsageSummed()
    {
        using var h = ServingHttp.Client(fx.Address);
        var alone = await OneByOne(h, n: 2, echo: true);
        var (status, body) = await ServingHttp.Post(h, "/v1/completions", Body(Prompts, n: 2, echo: true));
        Assert.Equal(HttpStatusCode.OK, status);
        var choices = body.GetProperty("choices").EnumerateArray().ToArray();
        Assert.Equal([0, 1, 2, 3, 4, 5], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.Equal(alone.Texts, Texts(body));
        for (int i = 0; i < 6; i++) Assert.StartsWith(Prompts[i / 2], alone.Texts[i]); // echo: each choice shows its own prompt
        var usage = body.GetProperty("usage");
        Assert.Equal(2 + 5 + 3, usage.GetProperty("prompt_tokens").GetInt32()); // each prompt once, whatever n
        Assert.Equal(alone.PromptTokens, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(alone.CompletionTokens, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + usage.GetProperty("completion_tokens").GetInt32(), usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task TokenIdLists_AndOneTokenIdList_EqualTheTextPrompts()
    {
        using var h = ServingHttp.Client(fx.Address);
        var tok = TinyServing.Tokenizer();
        var alone = await OneByOne(h, n: 1);
        var (status, body) = await ServingHttp.Post(h, "/v1/completions", Body(Prompts.Select(p => tok.Encode(p)).ToArray(), n: 1));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(alone.Texts, Texts(body));
        Assert.Equal(alone.PromptTokens, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var (single, one) = await ServingHttp.Post(h, "/v1/completions", Body(tok.Encode("hello"), n: 1));
        Assert.Equal(HttpStatusCode.OK, single);
        Assert.Equal(alone.Texts[1], Assert.Single(Texts(one)));
        // A one-string list is one prompt too.
        var (_, listOfOne) = await ServingHttp.Post(h, "/v1/completions", Body(new[] { "hello" }, n: 1));
        Assert.Equal(alone.Texts[1], Assert.Single(Texts(listOfOne)));
    }

    [Fact]
    public async Task ListOfStrings_Streamed_ChunksConcatenatePerIndex_UsageSummed()
    {
        using var h = ServingHttp.Client(fx.Address);
        var (_, whole) = await ServingHttp.Post(h, "/v1/completions", Body(Prompts, n: 2));
        string body = Body(Prompts, n: 2, stream: true)[..^1] + ",\"stream_options\":{\"include_usage\":true}}";
        var chunks = await ServingHttp.Stream(h, "/v1/completions", body);
        var texts = Enumerable.Range(0, 6).Select(_ => new StringBuilder()).ToArray();
        var finished = new bool[6];
        JsonElement? usage = null;
        foreach (var chunk in chunks)
        {
            var choices = chunk.GetProperty("choices");
            if (choices.GetArrayLength() == 0) { usage = chunk.GetProperty("usage"); continue; }
            var c = Assert.Single(choices.EnumerateArray());
            int index = c.GetProperty("index").GetInt32();
            texts[index].Append(c.GetProperty("text").GetString());
            if (c.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finished[index] = true;
        }
        Assert.Equal(Texts(whole), texts.Select(t => t.ToString()));
        Assert.All(finished, Assert.True);
        Assert.NotNull(usage);
        Assert.Equal(whole.GetProperty("usage").GetRawText(), usage!.Value.GetRawText());
    }

    [Theory]
    [InlineData("[]", "prompt")]
    [InlineData("""["a", 3]""", "prompt[1]")]
    [InlineData("""["a", "b", null]""", "prompt[2]")]
    [InlineData("""["a", {"text":"b"}]""", "prompt[1]")]
    [InlineData("""[[1, 2], []]""", "prompt[1]")]
    [InlineData("""[[1, 2], [3, 999]]""", "prompt[1][1]")]
    [InlineData("""[[1, 2], [3, -1]]""", "prompt[1][1]")]
    [InlineData("""[[1, "x"]]""", "prompt[0][1]")]
    [InlineData("""[5, 999]""", "prompt[1]")]
    [InlineData("""[5, 1.5]""", "prompt[1]")]
    [InlineData("""{"text":"a"}""", "prompt")]
    [InlineData("true", "prompt")]
    public async Task InvalidPrompt_Is400NamingTheEntry(string prompt, string param)
    {
        using var h = ServingHttp.Client(fx.Address);
        var (status, body) = await ServingHttp.Post(h, "/v1/completions", $$"""{"prompt":{{prompt}},"max_tokens":2}""");
        ServingHttp.AssertBadRequest(status, body, param);
    }

    [Fact]
    public async Task TooLongEntry_Is400NamingIt_AndTooManySequences_Is400()
    {
        using var h = ServingHttp.Client(fx.Address);
        var (status, body) = await ServingHttp.Post(h, "/v1/completions", JsonSerializer.Serialize(new { prompt = new[] { "a", new string('b', 500) } }));
        ServingHttp.AssertBadRequest(status, body, "prompt[1]", "context_length_exceeded");
        // 8 + 64 sequences at most at once (the defaults): 40 prompts × n = 2 could never be admitted.
        var (many, manyBody) = await ServingHttp.Post(h, "/v1/completions", JsonSerializer.Serialize(new { prompt = Enumerable.Repeat("a", 40).ToArray(), n = 2, max_tokens = 1 }));
        ServingHttp.AssertBadRequest(many, manyBody, "prompt");
    }
}
