// SweepOptions: the training recipe every run of a sweep shares.
namespace NextToken.Scaling;

/// <summary>What every run of a sweep shares. Tokens per step are <see cref="BatchSize"/> × <see cref="SequenceLength"/>.</summary>
public sealed record SweepOptions
{
    /// <summary>Sequences per step.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Tokens per sequence (also each model's context length).</summary>
    public int SequenceLength { get; init; } = 64;
    /// <summary>Peak learning rate (cosine decay to a tenth over each run, warm-up a tenth of its steps, at most 100).</summary>
    public float LearningRate { get; init; } = 2e-3f;
    /// <summary>Validation batches for each run's final loss.</summary>
    public int EvalIterations { get; init; } = 20;
    /// <summary>Seed for every run's initialisation and batches.</summary>
    public ulong Seed { get; init; } = 1337;
    /// <summary>Runs with fewer optimizer steps than this are left out of an IsoFLOP plan (too short to mean anything).</summary>
    public int MinSteps { get; init; } = 10;

    /// <summary>Throws on the first invalid option.</summary>
    public SweepOptions Validate()
    {
        if (BatchSize < 1) throw new ArgumentException($"the batch size must be at least 1 (got {BatchSize})", nameof(BatchSize));
        if (SequenceLength < 2) throw new ArgumentException($"the sequence length must be at least 2 (got {SequenceLength})", nameof(SequenceLength));
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate)) throw new ArgumentException($"the learning rate must be positive (got {LearningRate})", nameof(LearningRate));
        if (EvalIterations < 1) throw new ArgumentException($"evaluation iterations must be at least 1 (got {EvalIterations})", nameof(EvalIterations));
        if (MinSteps < 1) throw new ArgumentException($"the minimum steps must be at least 1 (got {MinSteps})", nameof(MinSteps));
        return this;
    }
}
