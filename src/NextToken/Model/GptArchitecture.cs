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
        return new GptArchitecture { Layout = layout, TokenEmbedding = wte, PositionEmbedding = wpe, Blocks = blocks, FinalNorm = lnf, LmHead = head };
    }
}
