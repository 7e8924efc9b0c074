// ExtraParameters: tensors trained beside a model's own (LoRA adapters), stepped by the Trainer with the same schedule.
using NextToken.Tensors;

namespace NextToken.Training;

/// <summary>
/// Parameters that live outside the model's arena but receive gradients from its backward (LoRA adapters through the
/// Linear adapter hook). The <see cref="Trainer"/> zeroes them with the model's, clips by the global norm over both,
/// updates them with their own AdamW at the same learning rate, and calls <see cref="Save"/> at every checkpoint.
/// </summary>
public sealed record ExtraParameters(TensorLayout Layout, float[] Parameters, float[] Gradients)
{
    /// <summary>Writes them beside the checkpoint (the argument is the output directory).</summary>
    public Action<string>? Save { get; init; }
}
