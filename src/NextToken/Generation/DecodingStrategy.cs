// DecodingStrategy: how the generator turns next-token distributions into a sequence.
namespace NextToken.Generation;

/// <summary>The search strategy of a <see cref="Generator"/> run.</summary>
public enum DecodingStrategy
{
    /// <summary>Always the most likely token after the logits processors (temperature and filters do not matter).</summary>
    Greedy,
    /// <summary>Ancestral sampling from the processed distribution (temperature, top-k, top-p, …).</summary>
    Sample,
    /// <summary>Beam search (with <see cref="GenerationOptions.BeamGroups"/> &gt; 1: diverse group beam search).</summary>
    Beam,
    /// <summary>Contrastive search (Su et al. 2022): model confidence minus a degeneration penalty over hidden states.</summary>
    Contrastive,
    /// <summary>Speculative decoding with a smaller draft model (Leviathan et al. 2023; Chen et al. 2023).</summary>
    Speculative,
    /// <summary>Speculative decoding whose draft is an n-gram match in the text so far (prompt-lookup decoding).</summary>
    PromptLookup,
}
