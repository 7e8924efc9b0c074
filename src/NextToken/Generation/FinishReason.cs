// FinishReason: why a generated sequence ended (OpenAI's finish_reason values).
namespace NextToken.Generation;

/// <summary>Why a sequence stopped.</summary>
public enum FinishReason
{
    /// <summary>Max new tokens reached, or the model's context is full (<c>length</c>).</summary>
    Length,
    /// <summary>A stop string was produced (<c>stop</c>); the stop string is not part of the text.</summary>
    Stop,
    /// <summary>The model produced the end-of-text token (<c>end_of_text</c>); it is not part of the text.</summary>
    EndOfText,
    /// <summary>The caller's cancellation token fired (<c>cancelled</c>).</summary>
    Cancelled,
}
