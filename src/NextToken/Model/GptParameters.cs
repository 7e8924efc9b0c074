// GptParameters: the (name, shape) list of every GPT weight, in Hugging Face GPT-2 naming, and its counts.
using NextToken.Tensors;

namespace NextToken.Model;

/// <summary>
/// Builds the parameter layout of a config. Names follow Hugging Face's GPT-2 (<c>h.0.attn.c_attn.weight</c>), but
/// matrices are stored (out, in) as nn.Linear does; exporters transpose for HF's Conv1D.
/// </summary>
public static class GptParameters
{
    /// <summary>The layout of every parameter tensor of <paramref name="config"/>.</summary>
    public static TensorLayout Layout(GptConfig config)
    {
        int C = config.EmbeddingSize, Vp = config.PaddedVocabSize, F = config.MlpSize;
        var layout = new TensorLayout();
        layout.Add("wte.weight", TensorKind.Embedding, Vp, C);
        if (config.Positions == PositionEncoding.Learned) layout.Add("wpe.weight", TensorKind.Embedding, config.ContextLength, C);
        for (int l = 0; l < config.Layers; l++)
        {
            string p = $"h.{l}.";
            layout.Add(p + "ln_1.weight", TensorKind.Gain, C);
            if (config.Bias) layout.Add(p + "ln_1.bias", TensorKind.Bias, C);
            layout.Add(p + "attn.c_attn.weight", TensorKind.Matrix, 3 * C, C);
            if (config.Bias) layout.Add(p + "attn.c_attn.bias", TensorKind.Bias, 3 * C);
            layout.Add(p + "attn.c_proj.weight", TensorKind.Matrix, C, C);
            if (config.Bias) layout.Add(p + "attn.c_proj.bias", TensorKind.Bias, C);
            layout.Add(p + "ln_2.weight", TensorKind.Gain, C);
            if (config.Bias) layout.Add(p + "ln_2.bias", TensorKind.Bias, C);
            layout.Add(p + "mlp.c_fc.weight", TensorKind.Matrix, F, C);
            if (config.Bias) layout.Add(p + "mlp.c_fc.bias", TensorKind.Bias, F);
            layout.Add(p + "mlp.c_proj.weight", TensorKind.Matrix, C, F);
            if (config.Bias) layout.Add(p + "mlp.c_proj.bias", TensorKind.Bias, C);
        }
        if (config.FinalNorm)
        {
            layout.Add("ln_f.weight", TensorKind.Gain, C);
            if (config.Bias) layout.Add("ln_f.bias", TensorKind.Bias, C);
        }
        if (!config.TiedEmbeddings) layout.Add("lm_head.weight", TensorKind.Matrix, Vp, C);
        return layout;
    }

    /// <summary>
    /// Parameter count by part: embeddings over the real vocabulary (padding rows excluded), position table, the
    /// transformer blocks, the final LayerNorm, and an untied LM head. GPT-2 124M gives 124,439,808 in total.
    /// </summary>
    public static IReadOnlyDictionary<string, long> Breakdown(GptConfig config)
    {
        long C = config.EmbeddingSize, V = config.VocabSize, F = config.MlpSize;
        long b = config.Bias ? 1 : 0;
        long perLayer = (C + b * C)                      // ln_1
                        + (3 * C * C + b * 3 * C)        // c_attn
                        + (C * C + b * C)                // attn c_proj
                        + (C + b * C)                    // ln_2
                        + (F * C + b * F)                // c_fc
                        + (C * F + b * C);               // mlp c_proj
        var parts = new Dictionary<string, long>
        {
            ["token_embedding"] = V * C,
            ["position_embedding"] = config.Positions == PositionEncoding.Learned ? config.ContextLength * C : 0,
            ["blocks"] = perLayer * config.Layers,
            ["final_layernorm"] = config.FinalNorm ? C + b * C : 0,
            ["lm_head"] = config.TiedEmbeddings ? 0 : V * C,
        };
        parts["total"] = parts.Values.Sum();
        return parts;
    }

    /// <summary>Total parameter count (see <see cref="Breakdown"/>).</summary>
    public static long Count(GptConfig config) => Breakdown(config)["total"];
}
