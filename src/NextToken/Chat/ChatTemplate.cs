// ChatTemplate: turns a conversation into the text a model is trained on and prompted with (ChatML by default).
using System.Text;

namespace NextToken.Chat;

/// <summary>
/// Renders conversations for a model. <see cref="ChatMl"/> is the default (as llama.cpp uses for a model that declares
/// none): <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c> per message and <c>&lt;|im_start|&gt;assistant\n</c> as the
/// generation prompt. Training uses <see cref="Segments"/> (loss on the assistant's replies and their end marker),
/// inference <see cref="Render"/> with the generation prompt, stopping at <see cref="StopStrings"/>.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>ChatML, the default template.</summary>
    public static ChatTemplate ChatMl { get; } = new("chatml", "<|im_start|>", "<|im_end|>");

    /// <summary>The templates known by name.</summary>
    public static IReadOnlyList<ChatTemplate> Known { get; } = [ChatMl];

    private ChatTemplate(string name, string start, string end)
    {
        Name = name;
        StartMarker = start;
        EndMarker = end;
    }

    /// <summary>Name stored with a checkpoint (<c>chatml</c>).</summary>
    public string Name { get; }
    /// <summary>Marker that opens a message (<c>&lt;|im_start|&gt;</c>).</summary>
    public string StartMarker { get; }
    /// <summary>Marker that closes a message (<c>&lt;|im_end|&gt;</c>).</summary>
    public string EndMarker { get; }
    /// <summary>Tokens the tokenizer must know as single ids (added by <see cref="Tokenization.SpecialTokensTokenizer"/>).</summary>
    public IReadOnlyList<string> SpecialTokens => [StartMarker, EndMarker];
    /// <summary>Where an assistant's reply ends during generation.</summary>
    public IReadOnlyList<string> StopStrings => [EndMarker];
    /// <summary>Text that asks the model for the assistant's next reply.</summary>
    public string GenerationPrompt => StartMarker + "assistant\n";

    /// <summary>The template called <paramref name="name"/> (case-insensitive); throws naming the known ones.</summary>
    public static ChatTemplate FromName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Known.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase))
               ?? throw new ArgumentException($"unknown chat template '{name}' (known: {string.Join(", ", Known.Select(t => t.Name))})");
    }

    /// <summary>
    /// The conversation as segments: framing (role headers, markers, system and user text) untrainable; each assistant
    /// reply with its end marker trainable; the newline after it untrainable.
    /// </summary>
    public IReadOnlyList<ChatSegment> Segments(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var segments = new List<ChatSegment>(messages.Count * 3 + 1);
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i] ?? throw new ArgumentException($"message {i} is null", nameof(messages));
            if (!ChatMessage.Roles.Contains(m.Role))
                throw new ArgumentException($"message {i} has unknown role '{m.Role}' (expected system, user or assistant)", nameof(messages));
            ArgumentNullException.ThrowIfNull(m.Content);
            if (m.Role == "assistant")
            {
                segments.Add(new ChatSegment(StartMarker + "assistant\n", false));
                segments.Add(new ChatSegment(m.Content + EndMarker, true));
                segments.Add(new ChatSegment("\n", false));
            }
            else segments.Add(new ChatSegment(StartMarker + m.Role + "\n" + m.Content + EndMarker + "\n", false));
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
