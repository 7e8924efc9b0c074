// HfTokenizerConfig: the fields of a Hugging Face tokenizer_config.json that NextToken keeps with an imported model.
using System.Text.Json.Nodes;

namespace NextToken.Interop;

/// <summary>
/// What <c>tokenizer_config.json</c> declares: the Jinja <c>chat_template</c> (a string, or a list of named templates of
/// which <c>default</c> or the first is taken), <c>bos_token</c> / <c>eos_token</c> (a string or an AddedToken object),
/// <c>add_bos_token</c>, and <c>added_tokens_decoder</c> (id → token).
/// </summary>
public sealed record HfTokenizerConfig(string? ChatTemplate, string? BosToken, string? EosToken, bool? AddBosToken, IReadOnlyDictionary<int, string> AddedTokens)
{
    /// <summary>The file name.</summary>
    public const string FileName = "tokenizer_config.json";

    /// <summary>An empty configuration (no file).</summary>
    public static HfTokenizerConfig None { get; } = new(null, null, null, null, new Dictionary<int, string>());

    /// <summary>Reads <c>directory/tokenizer_config.json</c>; <see cref="None"/> when there is none.</summary>
    public static HfTokenizerConfig Read(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return None;
        JsonObject root;
        try { root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"'{path}' is not a JSON object"); }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e); }
        string? template = null;
        switch (root["chat_template"])
        {
            case JsonValue v when v.TryGetValue(out string? s): template = s; break;
            case JsonArray list:
                JsonNode? pick = list.FirstOrDefault(t => t?["name"]?.GetValue<string>() == "default") ?? list.FirstOrDefault();
                template = pick?["template"] is JsonValue tv && tv.TryGetValue(out string? ts) ? ts
                    : throw new InvalidDataException($"'{path}': field 'chat_template' is a list whose entries lack a string 'template'");
                break;
            case null: break;
            default: throw new InvalidDataException($"'{path}': field 'chat_template' must be a string or a list of {{name, template}}");
        }
        var added = new Dictionary<int, string>();
        if (root["added_tokens_decoder"] is JsonObject dec)
            foreach (var (key, value) in dec)
            {
                if (!int.TryParse(key, out int id) || id < 0)
                    throw new InvalidDataException($"'{path}': added_tokens_decoder key '{key}' is not a token id");
                added[id] = value?["content"] is JsonValue c && c.TryGetValue(out string? text) ? text
                    : throw new InvalidDataException($"'{path}': added_tokens_decoder['{key}'] lacks a string 'content'");
            }
        bool? addBos = root["add_bos_token"] is JsonValue b && b.TryGetValue(out bool bb) ? bb : null;
        return new HfTokenizerConfig(template, Token(root["bos_token"], path, "bos_token"), Token(root["eos_token"], path, "eos_token"), addBos, added);
    }

    private static string? Token(JsonNode? node, string path, string field) => node switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out string? s) => s,
        JsonObject o when o["content"] is JsonValue c && c.TryGetValue(out string? s) => s,
        _ => throw new InvalidDataException($"'{path}': field '{field}' must be a string or an object with a string 'content'"),
    };
}
