// ServingException: a request error carrying OpenAI's error fields and the HTTP status to answer with.
namespace NextToken.Server;

/// <summary>An error answered as <c>{"error":{"message","type","param","code"}}</c>.</summary>
public sealed class ServingException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
    : Exception(message)
{
    /// <summary>HTTP status code.</summary>
    public int Status { get; } = status;
    /// <summary>OpenAI error type.</summary>
    public string Type { get; } = type;
    /// <summary>The request field at fault, if any.</summary>
    public string? Param { get; } = param;
    /// <summary>A short machine-readable code, if any.</summary>
    public string? Code { get; } = code;
}
