// TextPiece: one streamed piece of generated text together with the tokens that produced it.
namespace NextToken.Generation;

/// <summary>
/// A piece of streamed text (never empty, never half a UTF-8 character, never part of a stop string) and the tokens,
/// with their log-probabilities, whose decoded text it completes. Usually that is one token; after text was held back
/// (an incomplete character, the possible start of a stop string) it is every token that text came from; it is none
/// when the piece is the first part of one token's text and the rest was held back. The pieces' tokens are always a
/// prefix of the finished sequence's <see cref="GeneratedSequence.Logprobs"/>; tokens after the last piece (an
/// end-of-text token, the tokens completing a stop string) appear only there.
/// </summary>
public readonly record struct TextPiece(string Text, IReadOnlyList<TokenLogprob> Tokens);
