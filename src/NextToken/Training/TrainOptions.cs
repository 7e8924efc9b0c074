// TrainOptions: every knob of a pre-training run, with nanoGPT-like defaults.
using System.Text.Json.Serialization;
using NextToken.Data;

namespace NextToken.Training;

/// <summary>Options of a training run. Saved in checkpoints so a resumed run uses the same ones.</summary>
public sealed record TrainOptions
{
    /// <summary>Sequences per micro-batch (B).</summary>
    public int BatchSize { get; init; } = 12;
    /// <summary>Tokens per sequence (T); at most the model's context length.</summary>
    public int SequenceLength { get; init; } = 64;
    /// <summary>Micro-batches whose gradients are summed before one optimizer step.</summary>
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>Optimizer steps.</summary>
    public int Iterations { get; init; } = 2000;
    /// <summary>Peak learning rate.</summary>
    public float LearningRate { get; init; } = 1e-3f;
    /// <summary>Floor of the cosine decay.</summary>
    public float MinLearningRate { get; init; } = 1e-4f;
    /// <summary>Linear warm-up steps.</summary>
    public int WarmupIterations { get; init; } = 100;
    /// <summary>Step at which the cosine reaches the floor (defaults to <see cref="Iterations"/> when 0).</summary>
    public int DecayIterations { get; init; }
    /// <summary>AdamW decoupled weight decay.</summary>
    public float WeightDecay { get; init; } = 0.1f;
    /// <summary>AdamW beta1.</summary>
    public float Beta1 { get; init; } = 0.9f;
    /// <summary>AdamW beta2.</summary>
    public float Beta2 { get; init; } = 0.99f;
    /// <summary>Global gradient-norm clip (0 disables).</summary>
    public float GradientClip { get; init; } = 1f;
    /// <summary>Evaluate every this many steps (and at the end); 0 evaluates only at the end.</summary>
    public int EvalInterval { get; init; } = 250;
    /// <summary>Batches per evaluation.</summary>
    public int EvalIterations { get; init; } = 20;
    /// <summary>Write a checkpoint every this many steps (0: at eval points only; always at the end and on Ctrl-C).</summary>
    public int CheckpointInterval { get; init; }
    /// <summary>Seed for initialisation, batches and dropout.</summary>
    public ulong Seed { get; init; } = 1337;
    /// <summary>How training windows are drawn.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<BatchOrder>))]
    public BatchOrder Order { get; init; } = BatchOrder.Random;

    /// <summary>Throws on the first invalid option, saying how to fix it.</summary>
    public TrainOptions Validate()
    {
        if (BatchSize < 1) throw new ArgumentException($"the batch size must be at least 1 (got {BatchSize})", nameof(BatchSize));
        if (SequenceLength < 1) throw new ArgumentException($"the sequence length must be at least 1 (got {SequenceLength})", nameof(SequenceLength));
        if (GradientAccumulation < 1) throw new ArgumentException($"gradient accumulation must be at least 1 micro-batch (got {GradientAccumulation})", nameof(GradientAccumulation));
        if (Iterations < 0) throw new ArgumentException($"iterations must not be negative (got {Iterations})", nameof(Iterations));
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate)) throw new ArgumentException($"the learning rate must be positive (got {LearningRate})", nameof(LearningRate));
        if (MinLearningRate < 0 || MinLearningRate > LearningRate) throw new ArgumentException($"the minimum learning rate must be in [0, learning rate {LearningRate}] (got {MinLearningRate})", nameof(MinLearningRate));
        if (WarmupIterations < 0) throw new ArgumentException($"warm-up iterations must not be negative (got {WarmupIterations})", nameof(WarmupIterations));
        if (DecayIterations < 0) throw new ArgumentException($"decay iterations must not be negative (got {DecayIterations}); 0 means the run's iterations", nameof(DecayIterations));
        if (Beta1 is < 0 or >= 1 || float.IsNaN(Beta1)) throw new ArgumentException($"AdamW beta1 must be in [0, 1) (got {Beta1})", nameof(Beta1));
        if (Beta2 is <= 0 or >= 1 || float.IsNaN(Beta2)) throw new ArgumentException($"AdamW beta2 must be in (0, 1) (got {Beta2})", nameof(Beta2));
        if (!(WeightDecay >= 0) || !float.IsFinite(WeightDecay)) throw new ArgumentException($"weight decay must be a finite number ≥ 0 (got {WeightDecay})", nameof(WeightDecay));
        if (!(GradientClip >= 0) || !float.IsFinite(GradientClip)) throw new ArgumentException($"the gradient clip must be a finite number ≥ 0, 0 turning it off (got {GradientClip})", nameof(GradientClip));
        if (EvalInterval < 0) throw new ArgumentException($"the evaluation interval must not be negative (got {EvalInterval}); 0 evaluates at the end only", nameof(EvalInterval));
        if (EvalIterations < 1) throw new ArgumentException($"evaluation iterations must be at least 1 (got {EvalIterations})", nameof(EvalIterations));
        if (CheckpointInterval < 0) throw new ArgumentException($"the checkpoint interval must not be negative (got {CheckpointInterval}); 0 checkpoints at evaluations", nameof(CheckpointInterval));
        if (!Enum.IsDefined(Order)) throw new ArgumentException($"unknown batch order {Order}", nameof(Order));
        return this;
    }
}
