// ServeOptions: what `nexttoken serve` and the in-process clients are configured with.
namespace NextToken.Server;

/// <summary>Settings of one server; defaults match <c>nexttoken serve</c>'s.</summary>
public sealed record ServeOptions
{
    /// <summary>Address to bind (loopback unless told otherwise).</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>TCP port (0: any free port).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>API key expected as <c>Authorization: Bearer KEY</c> on /v1 (null: no key).</summary>
    public string? ApiKey { get; init; }
    /// <summary>Sequences decoded together in one step.</summary>
    public int MaxBatch { get; init; } = 8;
    /// <summary>Requests waiting beyond the batch before the server answers 429.</summary>
    public int MaxQueue { get; init; } = 64;
    /// <summary>Name reported by /v1/models and accepted as <c>model</c>.</summary>
    public string ModelName { get; init; } = "nexttoken";
    /// <summary>A request running longer is ended (finish_reason <c>length</c>).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Largest request body accepted (413 beyond).</summary>
    public long MaxRequestBodyBytes { get; init; } = 1 << 20;
    /// <summary>Largest <c>n</c> accepted.</summary>
    public int MaxChoices { get; init; } = 16;
    /// <summary>Whether browsers of other origins may call the API (off by default).</summary>
    public bool EnableCors { get; init; }
}
