// Chat with OpenAI-style image_url parts (base64 data URLs) against a multimodal model: the answer equals the library's
// greedy answer about the same image (streamed too); text-only models, non-data URLs, bad base64, bytes that are not an
// image and two images each answer a 400 naming the part.
using System.Net;
using System.Text.Json;
using NextToken.Model;
using NextToken.Server;
using NextToken.Tensors;
using NextToken.Tests.Data;
using NextToken.Vision;

namespace NextToken.Tests.Serving;

public sealed class ImageChatTests
{
    private static GptModel Multimodal(bool imageAfterPrompt = false) =>
        new(new GptConfig { VocabSize = 96, ContextLength = 64, Layers = 1, Heads = 2, EmbeddingSize = 16, InitStd = 0.5f, ImageSize = 16, ImagePatchSize = 8, ImageAfterPrompt = imageAfterPrompt }, 11);

    private static byte[] Png(ulong seed)
    {
        var pixels = new float[16 * 16 * 3];
        var rng = new Rng(seed);
        for (int i = 0; i < pixels.Length; i++) pixels[i] = rng.NextFloat();
        using var dir = new TempDir();
        string path = dir.File("image.png");
        ImageFiles.SavePng(pixels, 16, path);
        return File.ReadAllBytes(path);
    }

    private static string Request(byte[] png, string question, bool stream = false) => JsonSerializer.Serialize(new
    {
        messages = new object[]
        {
            new { role = "user", content = new object[]
            {
                new { type = "image_url", image_url = new { url = "data:image/png;base64," + Convert.ToBase64String(png) } },
                new { type = "text", text = question },
            } },
        },
        temperature = 0, max_tokens = 8, stream,
    });

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // a model that reads the image after the question (GptConfig.ImageAfterPrompt)
    public async Task ImageUrlParts_AnswerAsTheLibraryDoes_StreamedAndNot(bool imageAfterPrompt)
    {
        var model = Multimodal(imageAfterPrompt);
        var o = new ServeOptions { Port = 0, ApiKey = TinyServing.Key, ModelName = TinyServing.Name };
        await using var server = NextTokenServer.Create(o, () => new ServingEngine(model, TinyServing.Tokenizer(), o));
        await server.StartAsync();
        await server.Loaded;
        using var h = ServingHttp.Client(server.Address);
        var answers = new List<string>();
        foreach (ulong seed in new ulong[] { 1, 2 })
        {
            byte[] png = Png(seed);
            string expected = VisionTraining.Answer(model, TinyServing.Tokenizer(), ImageFiles.Decode(png, 16, "test"), "what colour", maxTokens: 8);
            Assert.NotEmpty(expected); // a real answer to compare (the model's seed is chosen so)
            var (status, body) = await ServingHttp.Post(h, "/v1/chat/completions", Request(png, "what colour"));
            Assert.True(status == HttpStatusCode.OK, body.GetRawText());
            Assert.Equal(expected, body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
            var chunks = await ServingHttp.Stream(h, "/v1/chat/completions", Request(png, "what colour", stream: true));
            string streamed = string.Concat(chunks.Select(c => c.GetProperty("choices") is { ValueKind: JsonValueKind.Array } ch && ch.GetArrayLength() > 0
                && ch[0].GetProperty("delta").TryGetProperty("content", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : ""));
            Assert.Equal(expected, streamed);
            answers.Add(expected);
        }
        Assert.NotEqual(answers[0], answers[1]); // the image matters: two images, two answers
        // Bad images against the multimodal model: each a 400 naming the part.
        string notPng = Request([1, 2, 3, 4], "q");
        var (s1, b1) = await ServingHttp.Post(h, "/v1/chat/completions", notPng);
        ServingHttp.AssertBadRequest(s1, b1, "messages[0].content[0]");
        Assert.Contains("is not an image", b1.GetProperty("error").GetProperty("message").GetString());
        string two = JsonSerializer.Serialize(new
        {
            messages = new object[]
            {
                new { role = "user", content = new object[]
                {
                    new { type = "image_url", image_url = new { url = "data:image/png;base64," + Convert.ToBase64String(Png(3)) } },
                    new { type = "image_url", image_url = new { url = "data:image/png;base64," + Convert.ToBase64String(Png(4)) } },
                } },
            },
        });
        var (s2, b2) = await ServingHttp.Post(h, "/v1/chat/completions", two);
        ServingHttp.AssertBadRequest(s2, b2, "messages[0].content[1]");
    }

    [Theory]
    [InlineData("https://example.com/cat.png", "messages[0].content[0].image_url.url", "only base64 data URLs")]
    [InlineData("data:image/png;base64,%%%", "messages[0].content[0].image_url.url", "not valid base64")]
    [InlineData("data:image/png,rawdata", "messages[0].content[0].image_url.url", "expected data:<type>;base64")]
    public async Task BadImageUrls_Answer400(string url, string param, string message)
    {
        await using var server = await TinyServing.StartAsync();
        using var h = ServingHttp.Client(server.Address);
        string json = JsonSerializer.Serialize(new { messages = new object[] { new { role = "user", content = new object[] { new { type = "image_url", image_url = new { url } } } } } });
        var (status, body) = await ServingHttp.Post(h, "/v1/chat/completions", json);
        ServingHttp.AssertBadRequest(status, body, param);
        Assert.Contains(message, body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task TextOnlyModel_ImageUrlPart_Is400()
    {
        await using var server = await TinyServing.StartAsync();
        using var h = ServingHttp.Client(server.Address);
        var (status, body) = await ServingHttp.Post(h, "/v1/chat/completions", Request(Png(5), "what is it"));
        ServingHttp.AssertBadRequest(status, body, "messages[0].content[0]");
        Assert.Contains("text-only", body.GetProperty("error").GetProperty("message").GetString());
    }
}
