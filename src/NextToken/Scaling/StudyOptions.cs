// StudyOptions: the built-in scaling study's sweep, held-out run and emergence sweep.
namespace NextToken.Scaling;

/// <summary>
/// The study: a grid of <see cref="Sizes"/> × <see cref="Tokens"/> on <see cref="Corpus"/>, a Chinchilla fit, a prediction
/// of <see cref="HeldOutSize"/> trained on <see cref="HeldOutTokens"/> (written before that run starts), the run itself;
/// then the same sizes trained on n-digit addition for <see cref="AdditionTokens"/> and scored by exact match and by
/// per-token log-likelihood (emergence).
/// </summary>
public sealed record StudyOptions
{
    /// <summary>Model shapes of the sweep.</summary>
    public IReadOnlyList<SweepModel> Sizes { get; init; } = new[] { "1x32", "2x48", "2x64", "3x96" }.Select(SweepModel.Parse).ToArray();
    /// <summary>Token budgets of the sweep.</summary>
    public IReadOnlyList<long> Tokens { get; init; } = [600_000, 1_200_000, 2_400_000];
    /// <summary>The larger model whose loss is predicted before it is trained.</summary>
    public SweepModel HeldOutSize { get; init; } = SweepModel.Parse("4x128");
    /// <summary>Its training tokens.</summary>
    public long HeldOutTokens { get; init; } = 4_800_000;
    /// <summary>Token budgets of the addition sweep (every size trains on each).</summary>
    public IReadOnlyList<long> AdditionTokens { get; init; } = [768_000, 2_304_000, 4_608_000];
    /// <summary>Held-out addition problems scored per model.</summary>
    public int AdditionProblems { get; init; } = 300;
    /// <summary>
    /// The sweep's corpus: <c>facts</c> (default; <see cref="Data.FactsCorpus"/>, whose loss keeps falling as a power law
    /// over the study's budgets) or <c>grammar</c> (<see cref="Data.GrammarCorpus"/>, which reaches its entropy floor
    /// within the sweep, so its fit is mostly the floor).
    /// </summary>
    public string Corpus { get; init; } = Data.BuiltinDatasets.Facts;
    /// <summary>Facts lines generated for the sweep: 400,000 hold about 5.1M training tokens, so no run repeats data.</summary>
    public int FactsLines { get; init; } = 400_000;
    /// <summary>Grammar sentences generated for the sweep (0: the built-in dataset's 40,000); 400,000 hold about 2.6M training tokens, so no run repeats data.</summary>
    public int GrammarSentences { get; init; } = 400_000;
    /// <summary>The training recipe of every grammar run.</summary>
    public SweepOptions Sweep { get; init; } = new();
    /// <summary>
    /// The recipe of the addition runs: <c>nexttoken train</c>'s (batch 12 × 64, learning rate 1e-3), with which the
    /// default model learns 2-digit addition abruptly between 1,500 steps (1% exact match) and 3,000 (≥ 99%); the
    /// budgets above are 1,000, 3,000 and 6,000 of its steps.
    /// </summary>
    public SweepOptions AdditionSweep { get; init; } = new() { BatchSize = 12, LearningRate = 1e-3f };

    /// <summary>A version that runs in seconds (tests): tiny models, a few thousand tokens.</summary>
    public static StudyOptions Quick { get; } = new()
    {
        Sizes = new[] { "1x16", "1x32", "2x32", "2x48" }.Select(SweepModel.Parse).ToArray(),
        Tokens = [2_000, 4_000, 8_000],
        HeldOutSize = SweepModel.Parse("2x64"),
        HeldOutTokens = 12_000,
        AdditionTokens = [4_000],
        AdditionProblems = 20,
        GrammarSentences = 0,
        FactsLines = 20_000,
        Sweep = new SweepOptions { BatchSize = 4, SequenceLength = 32, EvalIterations = 2 },
        AdditionSweep = new SweepOptions { BatchSize = 4, SequenceLength = 32, EvalIterations = 2 },
    };
}
