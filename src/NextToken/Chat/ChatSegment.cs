// ChatSegment: a piece of rendered conversation text, marked as trained on (assistant replies) or not.
namespace NextToken.Chat;

/// <summary>
/// A piece of a rendered conversation. <see cref="Trainable"/> is true for an assistant's reply and the marker that
/// ends it (what a model must learn to produce), false for the template's framing and the other roles' text.
/// </summary>
public readonly record struct ChatSegment(string Text, bool Trainable);
