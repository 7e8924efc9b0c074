// GptArchitecture: the blocks of a config, declared once; their declarations are the parameter layout.
using NextToken.Model.Blocks;
using NextToken.Tensors;

namespace NextToken.Model;

/// <summary>
/// Token embedding, position table (learned only), the transformer blocks, the final norm (pre-LN) and an untied LM
/// head, in that order. Each block declares its own tensors, so this list is the single source of the parameter
/// layout, the gradient and optimizer arenas, checkpoints and the parameter-count breakdown.
/// </summary>
internal sealed class GptArchitecture
{
    public required TensorLayout Layout { get; init; }
    public required TensorSlot TokenEmbedding { get; init; }
    public TensorSlot? PositionEmbedding { get; init; }
    public required TransformerBlock[] Blocks { get; init; }
    public Norm? FinalNorm { get; init; }
    /// <summary>The LM head's weight (the token embedding when tied).</summary>
    public required TensorSlot LmHead { get; init; }
    /// <summary>Multimodal models: the patch projection (C, 3·p²) and its bias, and the image-start and image-end vectors.</summary>
    public TensorSlot? ImageProjection { get; init; }
    /// <inheritdoc cref="ImageProjection"/>
    public TensorSlot? ImageProjectionBias { get; init; }
    /// <inheritdoc cref="ImageProjection"/>
    public TensorSlot? ImageStart { get; init; }
    /// <inheritdoc cref="ImageProjection"/>
    public TensorSlot? ImageEnd { get; init; }

    public static GptArchitecture Build(GptConfig cfg, float[]? ropeCos = null, float[]? ropeSin = null)
    {
        int C = cfg.EmbeddingSize, Vp = cfg.PaddedVocabSize;
        var layout = new TensorLayout();
        var wte = layout.Add("wte.weight", TensorKind.Embedding, Vp, C);
        var wpe = cfg.Positions == PositionEncoding.Learned ? layout.Add("wpe.weight", TensorKind.Embedding, cfg.ContextLength, C) : null;
        var blocks = new TransformerBlock[cfg.Layers];
        for (int l = 0; l < cfg.Layers; l++) blocks[l] = TransformerBlock.Declare(layout, l, cfg, ropeCos, ropeSin);
        var lnf = cfg.FinalNorm ? Norm.Declare(layout, "ln_f", cfg) : null;
        var head = cfg.TiedEmbeddings ? wte : layout.Add("lm_head.weight", TensorKind.Matrix, Vp, C);
        // Image encoder (Fuyu-style): a linear projection of raw patches (or an MLP, LLaVA-1.5), and two learned marker vectors.
        TensorSlot? proj = null, projBias = null, start = null, end = null;
        if (cfg.Multimodal)
        {
            if (cfg.ImageProjectorHidden > 0)
            {
                // LLaVA-1.5's MLP projector: img.fc (H, patch), GELU, then img.proj (C, H).
                layout.Add("img.fc.weight", TensorKind.Matrix, cfg.ImageProjectorHidden, cfg.ImagePatchDim);
                layout.Add("img.fc.bias", TensorKind.Bias, cfg.ImageProjectorHidden);
            }
            proj = layout.Add("img.proj.weight", TensorKind.Matrix, C, cfg.ImageProjectorHidden > 0 ? cfg.ImageProjectorHidden : cfg.ImagePatchDim);
            projBias = layout.Add("img.proj.bias", TensorKind.Bias, C);
            start = layout.Add("img.start", TensorKind.Embedding, 1, C);
            end = layout.Add("img.end", TensorKind.Embedding, 1, C);
            if (cfg.ImagePositions2D)
            {
                // Factorised 2-D patch positions: one vector per grid row and one per grid column.
                int n = cfg.ImageSize / cfg.ImagePatchSize;
                layout.Add("img.row", TensorKind.Embedding, n, C);
                layout.Add("img.col", TensorKind.Embedding, n, C);
            }
            if (cfg.ImageEncoderLayers > 0) Vision.VisionEncoder.Declare(layout, cfg); // the ViT over the patches
            if (cfg.ImageReadouts > 0) layout.Add("img.read", TensorKind.Embedding, cfg.ImageReadouts, C); // readout positions before img.end
            if (cfg.ImageMerge > 1)
            {
                // Pixel shuffle: each m × m block of patch vectors, concatenated, projected back to the width.
                layout.Add("img.merge.weight", TensorKind.Matrix, C, cfg.ImageMerge * cfg.ImageMerge * C);
                layout.Add("img.merge.bias", TensorKind.Bias, C);
            }
        }
        return new GptArchitecture
        {
            Layout = layout, TokenEmbedding = wte, PositionEmbedding = wpe, Blocks = blocks, FinalNorm = lnf, LmHead = head,
            ImageProjection = proj, ImageProjectionBias = projBias, ImageStart = start, ImageEnd = end,
        };
    }
}
