// ServingHttp: raw-HTTP helpers for the serving tests (authorised client, JSON POST, server-sent-event chunks).
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace NextToken.Tests.Serving;

internal static class ServingHttp
{
    public static HttpClient Client(Uri address, string? key = TinyServing.Key)
    {
        var h = new HttpClient { BaseAddress = address };
        if (key is not null) h.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return h;
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> Post(HttpClient h, string path, string json)
    {
        var r = await h.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        string text = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Posts a streaming request and returns its <c>data: {…}</c> chunks in order (asserting it ends with [DONE]).</summary>
    public static async Task<List<JsonElement>> Stream(HttpClient h, string path, string json)
    {
        var r = await h.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        string text = await r.Content.ReadAsStringAsync();
        Assert.EndsWith("data: [DONE]\n\n", text);
        return text.Split("\n\n").Where(e => e.StartsWith("data: {", StringComparison.Ordinal))
                   .Select(e => JsonDocument.Parse(e[6..]).RootElement.Clone()).ToList();
    }

    /// <summary>An OpenAI-shaped 400 whose one-line message and <c>param</c> name the field at fault.</summary>
    public static void AssertBadRequest(HttpStatusCode status, JsonElement body, string param, string? code = null)
    {
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var e = body.GetProperty("error");
        string message = e.GetProperty("message").GetString()!;
        Assert.False(string.IsNullOrWhiteSpace(message));
        Assert.DoesNotContain('\n', message);
        Assert.Equal("invalid_request_error", e.GetProperty("type").GetString());
        Assert.Equal(param, e.GetProperty("param").GetString());
        Assert.Contains(param, message);
        if (code is not null) Assert.Equal(code, e.GetProperty("code").GetString());
    }
}
