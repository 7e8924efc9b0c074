// IBatchSource: what the trainer draws its (B, T) batches from — a token stream (BatchLoader) or fine-tuning examples
// with per-target weights and packed documents (FineTuning.SftBatches).
namespace NextToken.Data;

/// <summary>
/// A resumable source of (B, T) training batches. Besides inputs and targets a source may give per-target loss weights
/// (0 masks a target) and document ids (packed examples: no attention across them, positions restart); the model core's
/// <see cref="Model.BatchLayout"/> carries them.
/// </summary>
public interface IBatchSource
{
    /// <summary>Rows per batch (B).</summary>
    int BatchSize { get; }
    /// <summary>Tokens per row (T).</summary>
    int SequenceLength { get; }
    /// <summary>True when <see cref="Next"/> fills per-target weights.</summary>
    bool HasWeights { get; }
    /// <summary>True when <see cref="Next"/> fills document ids.</summary>
    bool HasDocuments { get; }
    /// <summary>
    /// Fills the next batch: inputs and targets (B·T); weights (B·T) when <see cref="HasWeights"/>; document ids (B·T)
    /// when <see cref="HasDocuments"/> (the spans the source does not use are left alone).
    /// </summary>
    void Next(Span<int> inputs, Span<int> targets, Span<float> weights, Span<int> documentIds);
    /// <summary>The position to save with a checkpoint.</summary>
    BatchLoaderState State { get; }
    /// <summary>Continues from a saved position.</summary>
    void Restore(BatchLoaderState state);
}
