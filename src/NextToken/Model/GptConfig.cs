// GptConfig: every architectural choice of the GPT family in one record, with the presets.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace NextToken.Model;

/// <summary>
/// The shape and flavour of a GPT. Every property has a default and a one-line meaning; unknown keys in a
/// config file are errors. <see cref="Validate"/> runs at the public boundary.
/// </summary>
public sealed record GptConfig
{
    /// <summary>Real vocabulary size (logits are computed over exactly this many entries).</summary>
    public int VocabSize { get; init; } = 50257;
    /// <summary>Maximum sequence length (block size).</summary>
    public int ContextLength { get; init; } = 1024;
    /// <summary>Number of transformer blocks (L).</summary>
    public int Layers { get; init; } = 12;
    /// <summary>Attention heads per block (NH); must divide <see cref="EmbeddingSize"/>.</summary>
    public int Heads { get; init; } = 12;
    /// <summary>Key/value heads (NKV): 0 means <see cref="Heads"/> (multi-head); fewer is grouped-query attention, 1 is multi-query. Must divide <see cref="Heads"/>.</summary>
    public int KvHeads { get; init; }
    /// <summary>Residual stream width (C).</summary>
    public int EmbeddingSize { get; init; } = 768;
    /// <summary>Dropout probability on embeddings, attention output and MLP output during training.</summary>
    public float Dropout { get; init; }
    /// <summary>Whether linear layers and LayerNorms carry biases.</summary>
    public bool Bias { get; init; } = true;
    /// <summary>Whether the output projection reuses the token embedding (weight tying).</summary>
    public bool TiedEmbeddings { get; init; } = true;
    /// <summary>Pre-LN (GPT-2) or post-LN (GPT-1).</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<NormPlacement>))]
    public NormPlacement Norm { get; init; } = NormPlacement.Pre;
    /// <summary>Learned, sinusoidal or rotary positions.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<PositionEncoding>))]
    public PositionEncoding Positions { get; init; } = PositionEncoding.Learned;
    /// <summary>MLP hidden width as a multiple of C (4 in every GPT); ignored when <see cref="MlpHiddenSize"/> is set.</summary>
    public int MlpRatio { get; init; } = 4;
    /// <summary>MLP hidden width F when not a multiple of C (SwiGLU models: 1536 in SmolLM2-135M); 0 means <see cref="MlpRatio"/> · C.</summary>
    public int MlpHiddenSize { get; init; }
    /// <summary>GELU MLP (GPT) or SwiGLU (LLaMA family).</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<MlpKind>))]
    public MlpKind Mlp { get; init; } = MlpKind.Gelu;
    /// <summary>LayerNorm (GPT) or RMSNorm (LLaMA family); RMSNorm has no bias whatever <see cref="Bias"/> says.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<NormKind>))]
    public NormKind NormKind { get; init; } = NormKind.LayerNorm;
    /// <summary>Normalisation epsilon, LayerNorm or RMSNorm (1e-5 as in GPT-2 and SmolLM2).</summary>
    public float LayerNormEpsilon { get; init; } = 1e-5f;
    /// <summary>RoPE base frequency (10000 in RoFormer).</summary>
    public float RotaryBase { get; init; } = 10000f;
    /// <summary>Standard deviation of the normal init (0.02 in GPT-1/2).</summary>
    public float InitStd { get; init; } = 0.02f;
    /// <summary>
    /// Side of the square RGB images the model sees (0: a text-only model). Images are cut into
    /// <see cref="ImagePatchSize"/>² patches projected into the model width (docs/multimodal.md).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int ImageSize { get; init; }
    /// <summary>Side of one image patch in pixels (must divide <see cref="ImageSize"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int ImagePatchSize { get; init; }
    /// <summary>
    /// Hidden width of the image projector: 0 (default) maps each raw patch into the model width with one linear layer
    /// (Fuyu); H &gt; 0 uses LLaVA-1.5's MLP projector, Linear(patch → H), GELU, Linear(H → C).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int ImageProjectorHidden { get; init; }
    /// <summary>
    /// 2-D patch positions: learned row and column vectors (<c>img.row</c>, <c>img.col</c>, each (S/p, C)) added to every
    /// projected patch, on top of the model's own 1-D positions, so that a patch's column and row are features shared by
    /// every patch in that column or row (ViT-style factorised 2-D embeddings).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault), JsonPropertyName("image_positions_2d")]
    public bool ImagePositions2D { get; init; }
    /// <summary>
    /// Layers of a small ViT between the projector and the decoder (0: none, the default): bidirectional pre-LN transformer
    /// blocks of the model's width and heads over the patches, with learned patch positions (<c>img.pos</c>) and a final
    /// LayerNorm, so that every patch sees the whole image before the causal decoder reads it (LLaVA / nanoVLM).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int ImageEncoderLayers { get; init; }
    /// <summary>
    /// The image comes after the question instead of before it: <c>question "\n" [img.start, patches, img.end] answer</c>.
    /// Every patch then reads the question on its way into the decoder (instruction-aware image tokens, as InstructBLIP's
    /// Q-Former and PaliGemma's prefix do), so finding "the red circle" is a per-patch test instead of a content lookup
    /// the answer has to learn. Generation, chat and the server put the image after the prompt for such a model.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool ImageAfterPrompt { get; init; }
    /// <summary>
    /// Learned readout positions between the patches and img.end (<c>img.read</c>, (R, C); 0: none, the default): the
    /// decoder attends from them to the question and the patches like from any position, so that several look-ups about
    /// the image (the places of two named shapes) can be made side by side before the answer combines them — "pause" or
    /// "register" tokens, and the learned queries of BLIP-2's Q-Former, inside the decoder.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault), JsonPropertyName("image_readout_tokens")]
    public int ImageReadouts { get; init; }

    /// <summary>
    /// Neighbouring patches merged into one image token after the encoder (0 or 1: none, the default): each m × m block of
    /// patch vectors is concatenated (raster order inside the block) and projected back to the model width by
    /// <c>img.merge</c> (C × m²C) — the pixel shuffle of nanoVLM and Idefics3, a space-to-depth step that gives the decoder
    /// m² times fewer image positions while the encoder still sees every patch.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int ImageMerge { get; init; }

    /// <summary>Head size (HS = C / NH).</summary>
    [JsonIgnore] public int HeadSize => EmbeddingSize / Heads;
    /// <summary>Vocabulary rounded up to a multiple of 64 so the LM head's GEMM tiles evenly; rows past <see cref="VocabSize"/> are zero and never produce logits.</summary>
    [JsonIgnore] public int PaddedVocabSize => (VocabSize + 63) / 64 * 64;
    /// <summary>MLP hidden width (F).</summary>
    [JsonIgnore] public int MlpSize => MlpHiddenSize > 0 ? MlpHiddenSize : MlpRatio * EmbeddingSize;
    /// <summary>Key/value heads actually used (NKV).</summary>
    [JsonIgnore] public int KvHeadCount => KvHeads > 0 ? KvHeads : Heads;
    /// <summary>Width of the fused q, k, v projection: (NH + 2·NKV) · HS.</summary>
    [JsonIgnore] public int QkvSize => (Heads + 2 * KvHeadCount) * HeadSize;
    /// <summary>Width of the keys (and of the values) of one position: NKV · HS (what a KV cache stores per layer).</summary>
    [JsonIgnore] public int KvSize => KvHeadCount * HeadSize;
    /// <summary>True for a model that takes images (<see cref="ImageSize"/> &gt; 0).</summary>
    [JsonIgnore] public bool Multimodal => ImageSize > 0;
    /// <summary>Patches per image: (ImageSize / ImagePatchSize)², raster order.</summary>
    [JsonIgnore] public int ImagePatches => Multimodal ? (ImageSize / ImagePatchSize) * (ImageSize / ImagePatchSize) : 0;
    /// <summary>Values in one patch: 3 · ImagePatchSize² (RGB).</summary>
    [JsonIgnore] public int ImagePatchDim => 3 * ImagePatchSize * ImagePatchSize;
    /// <summary>Positions an image takes in a row: image-start, the patches, the readouts, image-end.</summary>
    [JsonIgnore] public int ImagePrefixLength => Multimodal ? ImageTokens + 2 + ImageReadouts : 0;
    /// <summary>Image tokens the decoder sees: the patches, or one per <see cref="ImageMerge"/>² block of them.</summary>
    [JsonIgnore] public int ImageTokens => ImagePatches / (Math.Max(1, ImageMerge) * Math.Max(1, ImageMerge));
    /// <summary>True when the model ends with a LayerNorm (pre-LN models).</summary>
    [JsonIgnore] public bool FinalNorm => Norm == NormPlacement.Pre;

    /// <summary>Throws with a message that says how to fix the first invalid field.</summary>
    public GptConfig Validate()
    {
        if (VocabSize < 1) throw new ArgumentException($"vocabulary size must be at least 1 (got {VocabSize})", nameof(VocabSize));
        if (ContextLength < 1) throw new ArgumentException($"context length must be at least 1 (got {ContextLength})", nameof(ContextLength));
        if (Layers < 1) throw new ArgumentException($"layers must be at least 1 (got {Layers})", nameof(Layers));
        if (Heads < 1) throw new ArgumentException($"heads must be at least 1 (got {Heads})", nameof(Heads));
        if (EmbeddingSize < 1) throw new ArgumentException($"embedding width must be at least 1 (got {EmbeddingSize})", nameof(EmbeddingSize));
        if (EmbeddingSize % Heads != 0)
            throw new ArgumentException($"heads ({Heads}) must divide the embedding width ({EmbeddingSize}); {LargestDivisor(EmbeddingSize, Heads)} heads would", nameof(Heads));
        if (KvHeads < 0 || (KvHeads > 0 && Heads % KvHeads != 0))
            throw new ArgumentException($"key/value heads ({KvHeads}) must divide the heads ({Heads}); 0 means as many as the heads", nameof(KvHeads));
        if (MlpHiddenSize < 0) throw new ArgumentException($"MLP hidden size must be 0 (use the ratio) or positive (got {MlpHiddenSize})", nameof(MlpHiddenSize));
        if (Positions == PositionEncoding.Rotary && HeadSize % 2 != 0)
            throw new ArgumentException($"rotary positions need an even head size (embedding {EmbeddingSize} / heads {Heads} = {HeadSize})", nameof(Positions));
        if (Dropout is < 0 or >= 1 || float.IsNaN(Dropout)) throw new ArgumentException($"dropout must be in [0, 1) (got {Dropout})", nameof(Dropout));
        if (MlpRatio < 1) throw new ArgumentException($"MLP ratio must be at least 1 (got {MlpRatio})", nameof(MlpRatio));
        if (ImageProjectorHidden < 0 || (ImageProjectorHidden > 0 && ImageSize == 0))
            throw new ArgumentException($"image projector hidden width {ImageProjectorHidden} must be 0, or positive on a multimodal model", nameof(ImageProjectorHidden));
        if (ImageEncoderLayers < 0 || (ImageEncoderLayers > 0 && ImageSize == 0))
            throw new ArgumentException($"image encoder layers {ImageEncoderLayers} must be 0, or positive on a multimodal model", nameof(ImageEncoderLayers));
        if (ImageReadouts < 0 || (ImageReadouts > 0 && ImageSize == 0))
            throw new ArgumentException($"image readout tokens {ImageReadouts} must be 0, or positive on a multimodal model", nameof(ImageReadouts));
        if (ImageAfterPrompt && ImageSize == 0)
            throw new ArgumentException("an image after the prompt needs a multimodal model (image size > 0)", nameof(ImageAfterPrompt));
        if (ImagePositions2D && ImageSize == 0)
            throw new ArgumentException("2-D image positions need a multimodal model (image size > 0)", nameof(ImagePositions2D));
        if (ImageSize < 0 || (ImageSize > 0 && (ImagePatchSize < 1 || ImageSize % ImagePatchSize != 0)))
            throw new ArgumentException($"image size {ImageSize} must be 0 (text only) or a positive multiple of the patch size ({ImagePatchSize})", nameof(ImageSize));
        if (ImageMerge < 0 || (ImageMerge > 1 && (ImageSize == 0 || ImagePatchSize < 1 || ImageSize / ImagePatchSize % ImageMerge != 0)))
            throw new ArgumentException($"image merge {ImageMerge} must be 0 or 1 (none), or divide the patch grid's side ({(ImagePatchSize > 0 ? ImageSize / ImagePatchSize : 0)}) of a multimodal model", nameof(ImageMerge));
        if (ImagePrefixLength >= ContextLength)
            throw new ArgumentException($"an image takes {ImagePrefixLength} positions, which leaves no room in a context of {ContextLength}", nameof(ImageSize));
        return this;
    }

    private static int LargestDivisor(int n, int atMost)
    {
        for (int d = Math.Min(atMost, n); d > 1; d--) if (n % d == 0) return d;
        return 1;
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Serialises the config (snake_case keys).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses a config written by <see cref="ToJson"/>; unknown keys are errors.</summary>
    public static GptConfig FromJson(string json)
    {
        try
        {
            return (JsonSerializer.Deserialize<GptConfig>(json, JsonOptions) ?? throw new JsonException("empty config")).Validate();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"invalid model config: {e.Message}", e);
        }
    }
}
