// NextTokenServer: the Kestrel host — routes, API key, errors in OpenAI's shape, /health, /metrics and the playground.
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace NextToken.Server;

/// <summary>
/// An OpenAI-compatible HTTP server for one model. It listens at once; the model loads in the background
/// (<c>/health</c> answers 503 until it is ready, 200 after). Binds 127.0.0.1 unless told otherwise, compares the API
/// key in constant time, serves the playground from resources embedded in this assembly (no file-system paths built
/// from requests) and sends no CORS headers unless <see cref="ServeOptions.EnableCors"/>.
/// </summary>
public sealed class NextTokenServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Task<ServingEngine> _loading;
    private volatile ServingEngine? _engine;

    private NextTokenServer(WebApplication app, Task<ServingEngine> loading)
    {
        _app = app;
        _loading = loading;
    }

    /// <summary>The engine once loaded (null while loading).</summary>
    public ServingEngine? Engine => _engine;
    /// <summary>The address the server listens on, e.g. http://127.0.0.1:8080 (known after <see cref="StartAsync"/>).</summary>
    public Uri Address { get; private set; } = new("http://127.0.0.1/");
    /// <summary>Completes when the model is loaded (faults when loading failed).</summary>
    public Task<ServingEngine> Loaded => _loading;

    /// <summary>Builds a server whose engine comes from <paramref name="load"/> (run on the thread pool after start).</summary>
    public static NextTokenServer Create(ServeOptions options, Func<ServingEngine> load, Action<string>? log = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.AddServerHeader = false;
            if (options.Host is "localhost") k.ListenLocalhost(options.Port);
            else if (options.Host is "*" or "0.0.0.0") k.ListenAnyIP(options.Port);
            else if (IPAddress.TryParse(options.Host, out var ip)) k.Listen(ip, options.Port);
            else throw new ArgumentException($"--host '{options.Host}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0) or 'localhost'");
        });
        var app = builder.Build();
        var tcs = new TaskCompletionSource<ServingEngine>(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = new NextTokenServer(app, tcs.Task);
        server.Configure(options, log);
        server._load = () =>
        {
            try
            {
                var engine = load();
                server._engine = engine; // before Loaded completes, so a caller awaiting it sees the engine
                tcs.TrySetResult(engine);
            }
            catch (Exception e) { tcs.TrySetException(e); log?.Invoke($"error: loading the model failed: {e.Message}"); }
        };
        return server;
    }

    private Action? _load;

    /// <summary>Starts listening, then loads the model in the background.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken);
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        Address = new Uri(addresses.First().Replace("[::]", "127.0.0.1").Replace("0.0.0.0", "127.0.0.1"));
        _ = Task.Run(_load!);
    }

    /// <summary>Waits until the host stops (Ctrl+C in the CLI).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    static readonly byte[] EmptyHash = SHA256.HashData([]);

    /// <summary>Constant-time check of a presented key: both sides are hashed to 32 bytes, then compared with FixedTimeEquals.</summary>
    public static bool KeyMatches(string? presented, string expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented ?? "")), SHA256.HashData(Encoding.UTF8.GetBytes(expected)))
        & presented is not null;

    private void Configure(ServeOptions options, Action<string>? log)
    {
        var app = _app;
        // Errors in OpenAI's shape; never a stack trace.
        app.Use(async (http, next) =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            string endpoint = http.Request.Path.StartsWithSegments("/v1") ? http.Request.Path.Value! : "other";
            try
            {
                if (options.EnableCors)
                {
                    http.Response.Headers.AccessControlAllowOrigin = "*";
                    http.Response.Headers.AccessControlAllowHeaders = "authorization, content-type";
                    if (HttpMethods.IsOptions(http.Request.Method)) { http.Response.StatusCode = 204; return; }
                }
                if (http.Request.Path.StartsWithSegments("/v1") && options.ApiKey is { Length: > 0 } key)
                {
                    string? auth = http.Request.Headers.Authorization;
                    string? presented = auth is not null && auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth[7..].Trim() : null;
                    if (!KeyMatches(presented, key))
                        throw new ServingException(401, presented is null ? "missing API key: send 'Authorization: Bearer KEY'" : "incorrect API key", "invalid_request_error", code: "invalid_api_key");
                }
                if (http.Request.Path.StartsWithSegments("/v1") && _engine is null)
                {
                    http.Response.Headers.RetryAfter = "1";
                    throw new ServingException(503, "the model is still loading; retry shortly (GET /health turns 200 when ready)", "server_error", code: "model_loading");
                }
                await next(http);
            }
            catch (ServingException e) { await WriteError(http, e.Status, e.Message, e.Type, e.Param, e.Code); }
            catch (BadHttpRequestException e) when (e.StatusCode == 413) { await WriteError(http, 413, $"the request body is larger than {options.MaxRequestBodyBytes} bytes", "invalid_request_error", null, "request_too_large"); }
            catch (BadHttpRequestException e) { await WriteError(http, e.StatusCode, "bad request: " + e.Message, "invalid_request_error", null, null); }
            catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested) { } // the client left; its slot is already free
            catch (Exception e)
            {
                log?.Invoke($"error: {http.Request.Method} {http.Request.Path}: {e.GetType().Name}: {e.Message}");
                await WriteError(http, 500, "internal server error", "server_error", null, null);
            }
            finally
            {
                _engine?.Metrics.Requests.WithLabels(endpoint, http.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
                _engine?.Metrics.RequestSeconds.WithLabels(endpoint).Observe(clock.Elapsed.TotalSeconds);
            }
        });

        app.MapGet("/health", (HttpContext http) =>
        {
            if (_loading.IsFaulted) return Results.Json(new { status = "failed" }, statusCode: 500);
            return _engine is null ? Results.Json(new { status = "loading" }, statusCode: 503) : Results.Json(new { status = "ok" });
        });
        app.MapGet("/metrics", async (HttpContext http) =>
        {
            http.Response.ContentType = "text/plain; version=0.0.4";
            if (_engine is { } e) await e.Metrics.Registry.CollectAndExportAsTextAsync(http.Response.Body, http.RequestAborted);
        });
        app.MapGet("/v1/models", (HttpContext http) => OpenAiEndpoints.Models(http, _engine!));
        app.MapPost("/v1/completions", (HttpContext http) => OpenAiEndpoints.Completions(http, _engine!, chat: false));
        app.MapPost("/v1/chat/completions", (HttpContext http) => OpenAiEndpoints.Completions(http, _engine!, chat: true));
        app.MapGet("/", (HttpContext http) => Playground(http, "index.html"));
        app.MapGet("/{file}", (HttpContext http, string file) => Playground(http, file));
        app.MapFallback((HttpContext http) => throw new ServingException(404, $"no route {http.Request.Method} {http.Request.Path}", code: "not_found"));
    }

    static readonly Dictionary<string, string> Types = new() { [".html"] = "text/html; charset=utf-8", [".js"] = "text/javascript", [".css"] = "text/css" };

    // Only names of embedded resources are served: a request path is never joined to a directory.
    static async Task Playground(HttpContext http, string file)
    {
        var stream = typeof(NextTokenServer).Assembly.GetManifestResourceStream("wwwroot/" + file);
        if (stream is null || file.Contains('/') || file.Contains('\\') || file.Contains(".."))
            throw new ServingException(404, $"no file '{file}'", code: "not_found");
        await using var _ = stream;
        http.Response.ContentType = Types.GetValueOrDefault(Path.GetExtension(file), "application/octet-stream");
        http.Response.Headers.XContentTypeOptions = "nosniff";
        await stream.CopyToAsync(http.Response.Body, http.RequestAborted);
    }

    static async Task WriteError(HttpContext http, int status, string message, string type, string? param, string? code)
    {
        if (http.Response.HasStarted) { http.Abort(); return; }
        http.Response.StatusCode = status;
        await http.Response.WriteAsJsonAsync(new ErrorBody(new ErrorDetail(message, type, param, code)), ErrorJson.Default.ErrorBody);
    }

    /// <summary>Stops the host and the engine.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (_loading.IsCompletedSuccessfully) _loading.Result.Dispose();
    }
}

internal sealed record ErrorDetail(
    [property: System.Text.Json.Serialization.JsonPropertyName("message")] string Message,
    [property: System.Text.Json.Serialization.JsonPropertyName("type")] string Type,
    [property: System.Text.Json.Serialization.JsonPropertyName("param")] string? Param,
    [property: System.Text.Json.Serialization.JsonPropertyName("code")] string? Code);

internal sealed record ErrorBody([property: System.Text.Json.Serialization.JsonPropertyName("error")] ErrorDetail Error);

[System.Text.Json.Serialization.JsonSerializable(typeof(ErrorBody))]
internal sealed partial class ErrorJson : System.Text.Json.Serialization.JsonSerializerContext;
