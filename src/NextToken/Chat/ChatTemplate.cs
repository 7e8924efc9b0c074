// ChatTemplate: turns a conversation into the text a model is trained on and prompted with (ChatML by default; the
// Zephyr and Llama-3 formats for imported models that declare them).
using System.Text;

namespace NextToken.Chat;

/// <summary>
/// Renders conversations for a model. Every message is <c>header(role) + content + footer + separator</c>, after an
/// optional conversation prefix; the generation prompt is the assistant's header. <see cref="ChatMl"/> is the default (as
/// llama.cpp uses for a model that declares none): <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c> per message and
/// <c>&lt;|im_start|&gt;assistant\n</c> as the generation prompt. <see cref="Zephyr"/> (TinyLlama-Chat) and
/// <see cref="Llama3"/> are recognised in an imported model's Jinja template (<see cref="FromJinja"/>). Training uses
/// <see cref="Segments"/> (loss on the assistant's replies and their end marker), inference <see cref="Render"/> with the
/// generation prompt, stopping at <see cref="StopStrings"/>.
/// </summary>
public sealed class ChatTemplate
{
    private readonly Func<string, string> _header;
    private readonly string _separator;
    private readonly bool _trimContent;

    /// <summary>ChatML, the default template.</summary>
    public static ChatTemplate ChatMl { get; } = new("chatml", "", r => "<|im_start|>" + r + "\n", "<|im_end|>", "\n", false,
                                                     ["<|im_start|>", "<|im_end|>"], "<|im_start|>");

    /// <summary>Llama 3's format: <c>&lt;|begin_of_text|&gt;</c>, then <c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\n</c> + trimmed content + <c>&lt;|eot_id|&gt;</c>.</summary>
    public static ChatTemplate Llama3 { get; } = new("llama3", "<|begin_of_text|>", r => "<|start_header_id|>" + r + "<|end_header_id|>\n\n", "<|eot_id|>", "",
                                                     true, ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], "<|start_header_id|>");

    /// <summary>Zephyr's format (TinyLlama-Chat): <c>&lt;|role|&gt;\n</c> + content + the end-of-sentence token + <c>\n</c>.</summary>
    public static ChatTemplate Zephyr(string endOfSentence = "</s>") =>
        new("zephyr", "", r => "<|" + r + "|>\n", endOfSentence, "\n", false, [endOfSentence], "<|");

    /// <summary>The templates known by name (Zephyr with <c>&lt;/s&gt;</c>).</summary>
    public static IReadOnlyList<ChatTemplate> Known { get; } = [ChatMl, Zephyr(), Llama3];

    private ChatTemplate(string name, string prefix, Func<string, string> header, string footer, string separator, bool trim,
                         IReadOnlyList<string> specials, string start)
    {
        Name = name;
        Prefix = prefix;
        _header = header;
        EndMarker = footer;
        _separator = separator;
        _trimContent = trim;
        SpecialTokens = specials;
        StartMarker = start;
    }

    /// <summary>Name stored with a checkpoint (<c>chatml</c>, <c>zephyr</c>, <c>llama3</c>).</summary>
    public string Name { get; }
    /// <summary>Text that opens a conversation (Llama 3's <c>&lt;|begin_of_text|&gt;</c>; empty for the others).</summary>
    public string Prefix { get; }
    /// <summary>Marker that opens a message (<c>&lt;|im_start|&gt;</c>).</summary>
    public string StartMarker { get; }
    /// <summary>Marker that closes a message (<c>&lt;|im_end|&gt;</c>; Zephyr: the end-of-sentence token).</summary>
    public string EndMarker { get; }
    /// <summary>Tokens the tokenizer must know as single ids (added by <see cref="Tokenization.SpecialTokensTokenizer"/> when missing).</summary>
    public IReadOnlyList<string> SpecialTokens { get; }
    /// <summary>Where an assistant's reply ends during generation.</summary>
    public IReadOnlyList<string> StopStrings => [EndMarker];
    /// <summary>Text that asks the model for the assistant's next reply.</summary>
    public string GenerationPrompt => _header("assistant");

    /// <summary>The template called <paramref name="name"/> (case-insensitive); throws naming the known ones.</summary>
    public static ChatTemplate FromName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Known.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase))
               ?? throw new ArgumentException($"unknown chat template '{name}' (known: {string.Join(", ", Known.Select(t => t.Name))})");
    }

    /// <summary>
    /// The template a Hugging Face <c>chat_template</c> (Jinja) describes, recognised by its markers: ChatML
    /// (<c>&lt;|im_start|&gt;</c>: SmolLM2, Qwen), Llama 3 (<c>&lt;|start_header_id|&gt;</c>), Zephyr (<c>&lt;|user|&gt;</c> and
    /// <c>&lt;|assistant|&gt;</c> closed by <paramref name="endOfSentence"/>: TinyLlama-Chat). Null for any other template
    /// (NextToken does not run Jinja; callers fall back to ChatML and say so).
    /// </summary>
    public static ChatTemplate? FromJinja(string? jinja, string? endOfSentence = null)
    {
        if (string.IsNullOrEmpty(jinja)) return null;
        if (jinja.Contains("<|im_start|>", StringComparison.Ordinal)) return ChatMl;
        if (jinja.Contains("<|start_header_id|>", StringComparison.Ordinal)) return Llama3;
        if (jinja.Contains("<|user|>", StringComparison.Ordinal) && jinja.Contains("<|assistant|>", StringComparison.Ordinal))
            return Zephyr(string.IsNullOrEmpty(endOfSentence) ? "</s>" : endOfSentence);
        return null;
    }

    /// <summary>
    /// The template to use with <paramref name="tokenizer"/>'s model: the one its files declare (looked up through added
    /// special tokens), else ChatML. <paramref name="note"/> is a one-line message when a declared template is not one
    /// NextToken renders (ChatML is used then), else null.
    /// </summary>
    public static ChatTemplate For(Tokenization.ITokenizer? tokenizer, out string? note)
    {
        note = null;
        var t = tokenizer;
        while (t is Tokenization.SpecialTokensTokenizer s) t = s.Base;
        if (t is IDeclaresChatTemplate { ChatTemplateSource: { Length: > 0 } jinja } d)
        {
            if (FromJinja(jinja, d.EndOfSentenceText) is { } known) return known;
            note = "the model's chat template is not one NextToken renders (known: chatml, zephyr, llama3); using ChatML";
        }
        return ChatMl;
    }

    /// <summary>The template to use with <paramref name="tokenizer"/>'s model (see <see cref="For(Tokenization.ITokenizer?, out string?)"/>).</summary>
    public static ChatTemplate For(Tokenization.ITokenizer? tokenizer) => For(tokenizer, out _);

    /// <summary>
    /// This template as a Hugging Face Jinja <c>chat_template</c> (written into tokenizer_config.json on export, so that
    /// <c>apply_chat_template</c> renders what NextToken trained on).
    /// </summary>
    public string ToJinja() => Name switch
    {
        "llama3" => "{{ '<|begin_of_text|>' }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
        "zephyr" => "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}",
        _ => "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    };

    /// <summary>
    /// The conversation as segments: framing (prefix, role headers, markers, system and user text) untrainable; each
    /// assistant reply with its end marker trainable; the separator after it untrainable.
    /// </summary>
    public IReadOnlyList<ChatSegment> Segments(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var segments = new List<ChatSegment>(messages.Count * 3 + 2);
        if (Prefix.Length > 0) segments.Add(new ChatSegment(Prefix, false));
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i] ?? throw new ArgumentException($"message {i} is null", nameof(messages));
            if (!ChatMessage.Roles.Contains(m.Role))
                throw new ArgumentException($"message {i} has unknown role '{m.Role}' (expected system, user or assistant)", nameof(messages));
            ArgumentNullException.ThrowIfNull(m.Content);
            string content = _trimContent ? m.Content.Trim() : m.Content;
            if (m.Role == "assistant")
            {
                segments.Add(new ChatSegment(_header("assistant"), false));
                segments.Add(new ChatSegment(content + EndMarker, true));
                if (_separator.Length > 0) segments.Add(new ChatSegment(_separator, false));
            }
            else segments.Add(new ChatSegment(_header(m.Role) + content + EndMarker + _separator, false));
        }
        if (addGenerationPrompt) segments.Add(new ChatSegment(GenerationPrompt, false));
        return segments;
    }

    /// <summary>The conversation as one string, ending with the generation prompt when asked.</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        var sb = new StringBuilder();
        foreach (var s in Segments(messages, addGenerationPrompt)) sb.Append(s.Text);
        return sb.ToString();
    }
}
