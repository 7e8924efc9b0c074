// IDeclaresChatTemplate: a tokenizer that carries the chat template its model was published with.
namespace NextToken.Chat;

/// <summary>
/// Implemented by tokenizers of imported models (Hugging Face tokenizer files) that keep the model's declared chat
/// template: the Jinja source as published and the end-of-sentence text it refers to as <c>eos_token</c>.
/// </summary>
public interface IDeclaresChatTemplate
{
    /// <summary>The Jinja <c>chat_template</c> from tokenizer_config.json, or null when the model declares none.</summary>
    string? ChatTemplateSource { get; }
    /// <summary>The model's <c>eos_token</c> text, or null.</summary>
    string? EndOfSentenceText { get; }
}
