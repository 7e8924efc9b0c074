// ReferenceInput: one batch for the double-precision oracle, with the optional packing, prefix, weighting and dropout.
namespace NextToken.Tests.Reference;

/// <summary>What <see cref="ReferenceGpt.Run"/> computes on. Every array is row-major over (B, T) unless stated.</summary>
internal sealed class ReferenceInput
{
    /// <summary>Token ids (B·T); ignored at prefix positions.</summary>
    public required int[] Inputs { get; init; }
    /// <summary>Rows.</summary>
    public required int B { get; init; }
    /// <summary>Positions per row.</summary>
    public required int T { get; init; }
    /// <summary>Next-token targets (B·T), negative = ignored; null: no loss, LogProbs all 0.</summary>
    public int[]? Targets { get; init; }
    /// <summary>Loss weight per position (B·T); null = 1 everywhere.</summary>
    public double[]? Weights { get; init; }
    /// <summary>
    /// Document id per position (B·T): attention never crosses a change of id within a row (a document starts where
    /// the id differs from the previous position's), and positions restart at each document start unless
    /// <see cref="PositionIds"/> is given.
    /// </summary>
    public int[]? DocumentIds { get; init; }
    /// <summary>Explicit position per token (B·T), in [0, ContextLength).</summary>
    public int[]? PositionIds { get; init; }
    /// <summary>(B, PrefixLength, C) embeddings that replace the token embedding of the first PrefixLength positions of each row (positions are still added).</summary>
    public double[]? Prefix { get; init; }
    /// <summary>Positions per row taken from <see cref="Prefix"/>.</summary>
    public int PrefixLength { get; init; }
    /// <summary>(B·K) start of each of K spans of PrefixLength positions per row; <see cref="Prefix"/> is then (B, K, P, C). Null: one span at 0.</summary>
    public int[]? PrefixStarts { get; init; }
    /// <summary>
    /// Dropout mask value (0 or 1/(1−p)) for (site, element index (b·T + t)·C + c); sites "emb" (after the embedding
    /// sum), "h.{l}.attn" (attention branch after c_proj), "h.{l}.mlp" (MLP branch output). Used only when the
    /// config's Dropout is positive; null = no dropout.
    /// </summary>
    public Func<string, int, double>? DropoutMask { get; init; }
}
