// ServerLifecycleTests: loading (503 → 200), a full queue (429 + Retry-After), a client leaving mid-stream while another completes.
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using NextToken.Server;

namespace NextToken.Tests.Serving;

public sealed class ServerLifecycleTests
{
    static HttpClient Http(Uri address) => new() { BaseAddress = address, DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", TinyServing.Key) } };
    static StringContent Json(string s) => new(s, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Health_Is503WhileLoading_Then200()
    {
        using var gate = new ManualResetEventSlim();
        var o = new ServeOptions { Port = 0, ApiKey = TinyServing.Key, ModelName = TinyServing.Name };
        await using var server = NextTokenServer.Create(o, () => { gate.Wait(); return new ServingEngine(TinyServing.Model(), TinyServing.Tokenizer(), o); });
        await server.StartAsync();
        using var h = Http(server.Address);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await h.GetAsync("/health")).StatusCode);
        var models = await h.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, models.StatusCode);
        Assert.Contains("model_loading", await models.Content.ReadAsStringAsync());
        gate.Set();
        await server.Loaded;
        Assert.Equal(HttpStatusCode.OK, (await h.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await h.GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task FullQueue429WithRetryAfter_DisconnectFreesTheSlotAtOnce_WhileAnotherRequestCompletes()
    {
        // 15 ms per decode step: a 200-token stream would hold its slot for 3 s or more (199 batched steps).
        await using var server = await TinyServing.StartAsync(new ServeOptions { MaxBatch = 1, MaxQueue = 1 }, m => new SlowLm(m, 15));
        var engine = server.Engine!;
        using var h = Http(server.Address);
        using var leaving = new CancellationTokenSource();
        var streamRequest = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = Json("""{"prompt":"a","max_tokens":200,"stream":true}""") };
        // No draining on dispose: the connection closes as a browser's would when the user leaves.
        using var leaver = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0, ResponseDrainTimeout = TimeSpan.Zero }) { BaseAddress = server.Address };
        leaver.DefaultRequestHeaders.Authorization = h.DefaultRequestHeaders.Authorization;
        var stream = await leaver.SendAsync(streamRequest, HttpCompletionOption.ResponseHeadersRead, leaving.Token);
        var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(leaving.Token));
        string? first;
        do first = await reader.ReadLineAsync(leaving.Token); while (first is not null && !first.StartsWith("data: {"));
        Assert.NotNull(first);
        // One running, one queued: the third is refused.
        var queued = h.PostAsync("/v1/completions", Json("""{"prompt":"b","max_tokens":5,"temperature":0}"""));
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (engine.InFlight < 2 && DateTime.UtcNow < deadline) await Task.Delay(5);
        var refused = await h.PostAsync("/v1/completions", Json("""{"prompt":"c","max_tokens":5}"""));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());
        Assert.Contains("queue_full", await refused.Content.ReadAsStringAsync());
        // The streaming client leaves; the queued request gets the slot and completes long before the stream would have.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        leaving.Cancel();
        stream.Dispose();
        leaver.Dispose();
        var done = await queued;
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        Assert.Contains("\"completion_tokens\":5", await done.Content.ReadAsStringAsync());
        // Max batch 1: every batched step belonged to one request. The abandoned stream stopped long before its 199 steps.
        Assert.True(engine.Steps < 150, $"{engine.Steps} decode steps ran ({clock.Elapsed.TotalSeconds:F2} s): the abandoned stream kept its slot");
        deadline = DateTime.UtcNow.AddSeconds(2);
        while (engine.InFlight != 0 && DateTime.UtcNow < deadline) await Task.Delay(5);
        Assert.Equal(0, engine.InFlight);
    }

    [Fact]
    public async Task RequestTimeout_EndsTheRequestWithLength()
    {
        await using var server = await TinyServing.StartAsync(new ServeOptions { RequestTimeout = TimeSpan.FromMilliseconds(150) }, m => new SlowLm(m, 15));
        using var h = Http(server.Address);
        var r = await h.PostAsync("/v1/completions", Json("""{"prompt":"a","max_tokens":100}"""));
        string body = await r.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Contains("\"finish_reason\":\"length\"", body);
        int tokens = System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        Assert.InRange(tokens, 1, 60);
    }
}
