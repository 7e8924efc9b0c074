// GptPresets: named shapes of the GPT family (papers' tables) plus small ones for tests and laptops.
namespace NextToken.Model;

/// <summary>Named model shapes. Vocabulary sizes are the papers'; <c>--vocab</c> in training replaces them by the data's.</summary>
public static class GptPresets
{
    private static readonly GptConfig Gpt2Base = new();

    /// <summary>All presets by name.</summary>
    public static IReadOnlyDictionary<string, GptConfig> All { get; } = new Dictionary<string, GptConfig>(StringComparer.OrdinalIgnoreCase)
    {
        // GPT-1 (Radford et al. 2018): 12 x 768, 12 heads, 512 context, post-LN, 40,478 BPE tokens.
        ["gpt1"] = Gpt2Base with { VocabSize = 40478, ContextLength = 512, Norm = NormPlacement.Post },
        // GPT-2 (Radford et al. 2019), Hugging Face sizes.
        ["gpt2"] = Gpt2Base,
        ["gpt2-medium"] = Gpt2Base with { Layers = 24, Heads = 16, EmbeddingSize = 1024 },
        ["gpt2-large"] = Gpt2Base with { Layers = 36, Heads = 20, EmbeddingSize = 1280 },
        ["gpt2-xl"] = Gpt2Base with { Layers = 48, Heads = 25, EmbeddingSize = 1600 },
        // GPT-3 (Brown et al. 2020, Table 2.1): context 2048.
        ["gpt3-small"] = Gpt2Base with { ContextLength = 2048, Layers = 12, Heads = 12, EmbeddingSize = 768 },
        ["gpt3-medium"] = Gpt2Base with { ContextLength = 2048, Layers = 24, Heads = 16, EmbeddingSize = 1024 },
        ["gpt3-large"] = Gpt2Base with { ContextLength = 2048, Layers = 24, Heads = 16, EmbeddingSize = 1536 },
        // Table 2.1 gives GPT-3 XL 24 heads of d_head 128, which is 3072 wide, not its d_model 2048 (24 does not divide
        // 2048). Heads of the table's d_head 128 make 16, as GPT-Neo 1.3B (the open model of this shape) has; the
        // parameter count does not depend on the head count.
        ["gpt3-xl"] = Gpt2Base with { ContextLength = 2048, Layers = 24, Heads = 16, EmbeddingSize = 2048 },
        ["gpt3-2.7b"] = Gpt2Base with { ContextLength = 2048, Layers = 32, Heads = 32, EmbeddingSize = 2560 },
        ["gpt3-6.7b"] = Gpt2Base with { ContextLength = 2048, Layers = 32, Heads = 32, EmbeddingSize = 4096 },
        // Table 2.1 prints d_model = 5140 for 13B, but 40 heads x 128 = 5120 (the table's own d_head), which is also
        // what gives the stated 13B parameters; 5140 is a known typo (40 does not divide it).
        ["gpt3-13b"] = Gpt2Base with { ContextLength = 2048, Layers = 40, Heads = 40, EmbeddingSize = 5120 },
        ["gpt3-175b"] = Gpt2Base with { ContextLength = 2048, Layers = 96, Heads = 96, EmbeddingSize = 12288 },
        // SmolLM2-135M (Hugging Face, LLaMA architecture): 30 x 576, 9 heads with 3 key/value heads (grouped-query),
        // SwiGLU 1536, RMSNorm eps 1e-5, RoPE base 10000, tied embeddings, no biases, 49,152 tokens: 134,515,008 parameters.
        ["smollm2-135m"] = new GptConfig
        {
            VocabSize = 49152, ContextLength = 2048, Layers = 30, Heads = 9, KvHeads = 3, EmbeddingSize = 576, MlpHiddenSize = 1536,
            Mlp = MlpKind.SwiGlu, NormKind = NormKind.RmsNorm, Positions = PositionEncoding.Rotary, RotaryBase = 10000f, Bias = false,
            TiedEmbeddings = true, LayerNormEpsilon = 1e-5f, InitStd = 0.02f,
        },
        // Small models: nanoGPT's Shakespeare-char (6 x 384, ctx 256) and its CPU recipe (4 x 128, ctx 64).
        ["char-small"] = new GptConfig { VocabSize = 65, ContextLength = 256, Layers = 6, Heads = 6, EmbeddingSize = 384 },
        ["char-tiny"] = new GptConfig { VocabSize = 65, ContextLength = 64, Layers = 4, Heads = 4, EmbeddingSize = 128 },
        // The built-in default task's model (fast on 2 cores).
        ["default"] = new GptConfig { VocabSize = 64, ContextLength = 64, Layers = 3, Heads = 4, EmbeddingSize = 96 },
        // For unit tests: every dimension small and odd where it can be.
        ["test"] = new GptConfig { VocabSize = 37, ContextLength = 16, Layers = 2, Heads = 2, EmbeddingSize = 16 },
    };

    /// <summary>Returns the preset or throws an error that lists the valid names.</summary>
    public static GptConfig Get(string name) =>
        All.TryGetValue(name, out var c) ? c
            : throw new ArgumentException($"unknown preset '{name}'; choose one of: {string.Join(", ", All.Keys)}");
}
