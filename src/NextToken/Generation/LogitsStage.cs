// LogitsStage: one step of the logits-processor pipeline; the order of a list of them is the order applied.
namespace NextToken.Generation;

/// <summary>
/// A logits processor. <see cref="LogitsPipeline.DefaultOrder"/> lists them in the order applied by default:
/// the penalties that edit logits first, then temperature, then the filters that remove tokens.
/// </summary>
public enum LogitsStage
{
    /// <summary>Adds <see cref="GenerationOptions.LogitBias"/>[id] to logit id (OpenAI's logit_bias).</summary>
    LogitBias,
    /// <summary>Bans the last token of any <see cref="GenerationOptions.BannedSequences"/> entry whose other tokens end the text.</summary>
    BannedSequences,
    /// <summary>Bans any token that would repeat an n-gram of size <see cref="GenerationOptions.NoRepeatNgramSize"/> (prompt included).</summary>
    NoRepeatNgram,
    /// <summary>CTRL (Keskar et al. 2019): logits of tokens already in the text (prompt included) are divided by θ when positive, multiplied when negative.</summary>
    RepetitionPenalty,
    /// <summary>OpenAI: logit −= count·frequency_penalty + [count &gt; 0]·presence_penalty, counting generated tokens.</summary>
    PresenceFrequencyPenalty,
    /// <summary>End-of-text is banned until <see cref="GenerationOptions.MinNewTokens"/> tokens were generated.</summary>
    MinNewTokens,
    /// <summary>logit /= T (T = 0 is greedy and leaves logits alone).</summary>
    Temperature,
    /// <summary>Keeps the k largest logits (ties with the k-th kept).</summary>
    TopK,
    /// <summary>Nucleus (Holtzman et al. 2020): the smallest most-likely set whose probability reaches p.</summary>
    TopP,
    /// <summary>Keeps tokens with probability ≥ min_p · max probability.</summary>
    MinP,
    /// <summary>Locally typical sampling (Meister et al. 2023): tokens closest to the entropy until their mass reaches p.</summary>
    TypicalP,
    /// <summary>Truncation sampling (Hewitt et al. 2022): drops tokens with probability &lt; ε (the most likely one stays).</summary>
    EpsilonCutoff,
    /// <summary>Eta sampling (Hewitt et al. 2022): drops tokens with probability &lt; min(η, √η·exp(−entropy)).</summary>
    EtaCutoff,
}
