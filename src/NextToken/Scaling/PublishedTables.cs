// PublishedTables: GPT-1, GPT-2 and GPT-3's model tables and Chinchilla's Table 3, as printed, for comparison with our counts.
namespace NextToken.Scaling;

/// <summary>The papers' model tables (figures as printed) and Hoffmann et al.'s Table 3.</summary>
public static class PublishedTables
{
    /// <summary>Table names <see cref="Get"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = ["gpt3", "gpt2", "gpt1"];

    /// <summary>Brown et al. (2020) Table 2.1: context 2048, vocabulary 50257.</summary>
    public static IReadOnlyList<PublishedModel> Gpt3 { get; } =
    [
        new("GPT-3 Small", "gpt3-small", 125e6, 12, 768, 12),
        new("GPT-3 Medium", "gpt3-medium", 350e6, 24, 1024, 16),
        new("GPT-3 Large", "gpt3-large", 760e6, 24, 1536, 16),
        new("GPT-3 XL", "gpt3-xl", 1.3e9, 24, 2048, 24,
            Note: "24 heads of d_head 128 make 3072, not d_model 2048 (24 does not divide 2048); the preset uses 16 heads of 128; the count does not depend on heads"),
        new("GPT-3 2.7B", "gpt3-2.7b", 2.7e9, 32, 2560, 32),
        new("GPT-3 6.7B", "gpt3-6.7b", 6.7e9, 32, 4096, 32),
        new("GPT-3 13B", "gpt3-13b", 13.0e9, 40, 5140, 40,
            Note: "d_model 5140 is a known typo: 40 heads x d_head 128 = 5120 (40 does not divide 5140); the preset uses 5120"),
        new("GPT-3 175B", "gpt3-175b", 175.0e9, 96, 12288, 96),
    ];

    /// <summary>Radford et al. (2019) Table 2, with the released models' exact counts (Hugging Face).</summary>
    public static IReadOnlyList<PublishedModel> Gpt2 { get; } =
    [
        new("GPT-2 117M", "gpt2", 117e6, 12, 768, 12, 124_439_808,
            "the paper's counts were made before release and are low; the released models (Hugging Face) have the exact counts"),
        new("GPT-2 345M", "gpt2-medium", 345e6, 24, 1024, 16, 354_823_168),
        new("GPT-2 762M", "gpt2-large", 762e6, 36, 1280, 20, 774_030_080),
        new("GPT-2 1542M", "gpt2-xl", 1542e6, 48, 1600, 25, 1_557_611_200),
    ];

    /// <summary>Radford et al. (2018): 12 × 768, 12 heads, 512 context, 40,478 BPE tokens; the GPT-2 paper calls it 117M.</summary>
    public static IReadOnlyList<PublishedModel> Gpt1 { get; } =
    [
        new("GPT-1", "gpt1", 117e6, 12, 768, 12, 116_534_784,
            "the GPT-1 paper prints no count; 117M is the GPT-2 paper's figure for the same shape; Hugging Face's openai-gpt has 116,534,784"),
    ];

    /// <summary>The table called <paramref name="name"/> (gpt3, gpt2, gpt1).</summary>
    public static IReadOnlyList<PublishedModel> Get(string name) => name?.ToLowerInvariant() switch
    {
        "gpt3" => Gpt3,
        "gpt2" => Gpt2,
        "gpt1" => Gpt1,
        _ => throw new ArgumentException($"unknown table '{name}': use one of {string.Join(", ", Names)}", nameof(name)),
    };

    /// <summary>Hoffmann et al. (2022) Table 3 (Approach 1): parameters, FLOPs and tokens as printed.</summary>
    public static IReadOnlyList<(double Parameters, double Flops, double Tokens)> ChinchillaTable3 { get; } =
    [
        (400e6, 1.92e19, 8.0e9),
        (1e9, 1.21e20, 20.2e9),
        (10e9, 1.23e22, 205.1e9),
        (67e9, 5.76e23, 1.5e12),
        (175e9, 3.85e24, 3.7e12),
        (280e9, 9.90e24, 5.9e12),
        (520e9, 3.43e25, 11.0e12),
        (1e12, 1.27e26, 21.2e12),
        (10e12, 1.30e28, 216.2e12),
    ];
}
