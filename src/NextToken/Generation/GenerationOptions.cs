// GenerationOptions: every knob of a generation run in one record, with defaults and validation at the boundary.
namespace NextToken.Generation;

/// <summary>
/// Options of one <see cref="Generator"/> run. Defaults reproduce plain ancestral sampling at temperature 1 with
/// every processor off. <see cref="Validate"/> throws a message that says how to fix the first bad field.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Search strategy.</summary>
    public DecodingStrategy Strategy { get; init; } = DecodingStrategy.Sample;
    /// <summary>New tokens to generate at most (finish reason <c>length</c>).</summary>
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>Seed of the sampler (same seed, same model, same options → same tokens). Sequence i of a run uses Seed + i.</summary>
    public ulong Seed { get; init; } = 1337;
    /// <summary>Independent sequences to sample (beam search: the n best beams returned).</summary>
    public int NumSequences { get; init; } = 1;

    /// <summary>Softmax temperature (≥ 0). 0 turns sampling strategies into greedy decoding.</summary>
    public float Temperature { get; init; } = 1f;
    /// <summary>Top-k filter (0: off).</summary>
    public int TopK { get; init; }
    /// <summary>Top-p (nucleus) filter in (0, 1] (1: off).</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Min-p filter in [0, 1] (0: off).</summary>
    public float MinP { get; init; }
    /// <summary>Typical-p filter in (0, 1] (1: off).</summary>
    public float TypicalP { get; init; } = 1f;
    /// <summary>Epsilon cutoff in [0, 1) (0: off; 3e-4 is a typical value).</summary>
    public float EpsilonCutoff { get; init; }
    /// <summary>Eta cutoff in [0, 1) (0: off; 3e-4 is a typical value).</summary>
    public float EtaCutoff { get; init; }
    /// <summary>CTRL repetition penalty θ &gt; 0 (1: off; 1.2 in the CTRL paper).</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>OpenAI presence penalty (0: off; OpenAI allows −2..2).</summary>
    public float PresencePenalty { get; init; }
    /// <summary>OpenAI frequency penalty (0: off; OpenAI allows −2..2).</summary>
    public float FrequencyPenalty { get; init; }
    /// <summary>No n-gram of this size occurs twice (0: off).</summary>
    public int NoRepeatNgramSize { get; init; }
    /// <summary>Token sequences that never appear in the output (a one-token sequence bans that token).</summary>
    public IReadOnlyList<int[]> BannedSequences { get; init; } = [];
    /// <summary>Added to the logit of each id (OpenAI's logit_bias; −100 effectively bans).</summary>
    public IReadOnlyDictionary<int, float> LogitBias { get; init; } = new Dictionary<int, float>();
    /// <summary>End-of-text is banned until this many new tokens exist.</summary>
    public int MinNewTokens { get; init; }
    /// <summary>The processors in the order they run; see <see cref="LogitsPipeline.DefaultOrder"/>. A stage whose option is off does nothing.</summary>
    public IReadOnlyList<LogitsStage> ProcessorOrder { get; init; } = LogitsPipeline.DefaultOrder;

    /// <summary>Stop strings: generation ends when the text contains one (matched across token boundaries); it is not part of the text.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Whether the model's end-of-text token ends generation.</summary>
    public bool StopAtEndOfText { get; init; } = true;
    /// <summary>Top alternatives reported per generated token (0: only the chosen token's log-probability).</summary>
    public int TopLogprobs { get; init; }

    /// <summary>Beam width (beam search).</summary>
    public int Beams { get; init; } = 4;
    /// <summary>Groups of diverse beam search (Vijayakumar et al. 2018); must divide <see cref="Beams"/>. 1: ordinary beam search.</summary>
    public int BeamGroups { get; init; } = 1;
    /// <summary>Hamming diversity strength λ between beam groups.</summary>
    public float DiversityPenalty { get; init; } = 1f;
    /// <summary>Finished hypotheses score sum(log p) / length^α (Wu et al. 2016 style; Hugging Face's length_penalty).</summary>
    public float LengthPenalty { get; init; } = 1f;
    /// <summary>Stop a beam group as soon as it has <see cref="Beams"/>/groups finished hypotheses (else: when no live beam can beat them).</summary>
    public bool EarlyStopping { get; init; }

    /// <summary>Contrastive search: candidates per step (k).</summary>
    public int ContrastiveTopK { get; init; } = 4;
    /// <summary>Contrastive search: degeneration penalty weight α in [0, 1].</summary>
    public float ContrastiveAlpha { get; init; } = 0.6f;

    /// <summary>Speculative and prompt-lookup decoding: tokens drafted per verification step.</summary>
    public int DraftTokens { get; init; } = 4;
    /// <summary>
    /// Adapt the draft length each round (Hugging Face's heuristic schedule): +2 after a round where every draft token
    /// was accepted, −1 (at least 1) otherwise, never above 4 × <see cref="DraftTokens"/>. Exactness is unaffected:
    /// the length depends only on the past.
    /// </summary>
    public bool AdaptiveDraftTokens { get; init; }
    /// <summary>Prompt lookup: longest n-gram matched (tries n, n−1, …, 1).</summary>
    public int PromptLookupMaxNgram { get; init; } = 3;

    /// <summary>True when a strategy picks the most likely token rather than sampling.</summary>
    public bool IsGreedy => Strategy == DecodingStrategy.Greedy || Temperature == 0f;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid field and how to fix it.</summary>
    public GenerationOptions Validate()
    {
        static void Fail(string message, string? parameter = null) => throw new ArgumentException(message, parameter);
        if (MaxNewTokens < 0) Fail($"max new tokens must be ≥ 0 (got {MaxNewTokens})");
        if (NumSequences < 1) Fail($"the number of sequences must be ≥ 1 (got {NumSequences})");
        if (!(Temperature >= 0) || float.IsPositiveInfinity(Temperature)) Fail($"temperature must be ≥ 0 (got {Temperature}); use 0 for greedy decoding");
        if (TopK < 0) Fail($"top-k must be ≥ 0 (got {TopK}); 0 turns it off");
        if (!(TopP > 0 && TopP <= 1)) Fail($"top-p must be in (0, 1] (got {TopP}); 1 turns it off");
        if (!(MinP >= 0 && MinP <= 1)) Fail($"min-p must be in [0, 1] (got {MinP}); 0 turns it off");
        if (!(TypicalP > 0 && TypicalP <= 1)) Fail($"typical-p must be in (0, 1] (got {TypicalP}); 1 turns it off");
        if (!(EpsilonCutoff >= 0 && EpsilonCutoff < 1)) Fail($"epsilon cutoff must be in [0, 1) (got {EpsilonCutoff}); 0 turns it off");
        if (!(EtaCutoff >= 0 && EtaCutoff < 1)) Fail($"eta cutoff must be in [0, 1) (got {EtaCutoff}); 0 turns it off");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty)) Fail($"repetition penalty must be > 0 (got {RepetitionPenalty}); 1 turns it off");
        if (!float.IsFinite(PresencePenalty) || !float.IsFinite(FrequencyPenalty)) Fail("presence and frequency penalties must be finite numbers");
        if (NoRepeatNgramSize < 0) Fail($"no-repeat n-gram size must be ≥ 0 (got {NoRepeatNgramSize}); 0 turns it off");
        if (MinNewTokens < 0) Fail($"min new tokens must be ≥ 0 (got {MinNewTokens})");
        if (TopLogprobs < 0) Fail($"top log-probabilities must be ≥ 0 (got {TopLogprobs})");
        if (Beams < 1) Fail($"beams must be ≥ 1 (got {Beams})");
        if (BeamGroups < 1 || Beams % BeamGroups != 0) Fail($"beam groups ({BeamGroups}) must be ≥ 1 and divide the beams ({Beams})");
        if (Strategy == DecodingStrategy.Beam && NumSequences > Beams) Fail($"beam search returns at most as many sequences as it has beams ({NumSequences} sequences > {Beams} beams)", nameof(NumSequences));
        if (!float.IsFinite(LengthPenalty) || !float.IsFinite(DiversityPenalty)) Fail("length and diversity penalties must be finite numbers");
        if (ContrastiveTopK < 1) Fail($"contrastive top-k must be ≥ 1 (got {ContrastiveTopK})");
        if (!(ContrastiveAlpha >= 0 && ContrastiveAlpha <= 1)) Fail($"contrastive alpha must be in [0, 1] (got {ContrastiveAlpha})");
        if (DraftTokens < 1) Fail($"draft tokens must be ≥ 1 (got {DraftTokens})");
        if (PromptLookupMaxNgram < 1) Fail($"prompt-lookup n-gram size must be ≥ 1 (got {PromptLookupMaxNgram})");
        foreach (var s in BannedSequences) if (s is null || s.Length == 0) Fail("a banned token sequence is empty; give at least one token id");
        foreach (var s in StopStrings) if (string.IsNullOrEmpty(s)) Fail("a stop string is empty; give at least one character");
        foreach (var (id, b) in LogitBias) if (!float.IsFinite(b)) Fail($"logit bias of token {id} must be finite (got {b})");
        if (ProcessorOrder.Distinct().Count() != ProcessorOrder.Count) Fail("the processor order lists a stage twice");
        return this;
    }
}
