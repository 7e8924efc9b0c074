// GptParameters: the parameter layout of a config (declared by its blocks) and the counts derived from it.
using NextToken.Tensors;

namespace NextToken.Model;

/// <summary>
/// The parameter layout of a config. Names follow Hugging Face's GPT-2 (<c>h.0.attn.c_attn.weight</c>), but
/// matrices are stored (out, in) as nn.Linear does; exporters transpose for HF's Conv1D. Grouped-query models keep
/// one fused q/k/v matrix ((NH + 2·NKV)·HS rows: queries, keys, values); SwiGLU models one fused gate/up matrix
/// (2F rows: gate, then up).
/// </summary>
public static class GptParameters
{
    /// <summary>The layout of every parameter tensor of <paramref name="config"/>.</summary>
    public static TensorLayout Layout(GptConfig config) => GptArchitecture.Build(config.Validate()).Layout;

    /// <summary>
    /// Parameter count by part, summed from the layout: token_embedding (over the real vocabulary: padding rows
    /// excluded), position_embedding, blocks, final_layernorm (the final norm, LayerNorm or RMSNorm), lm_head (untied
    /// only) and total. GPT-2 124M gives 124,439,808; SmolLM2-135M 134,515,008.
    /// </summary>
    public static IReadOnlyDictionary<string, long> Breakdown(GptConfig config)
    {
        var parts = new Dictionary<string, long> { ["token_embedding"] = 0, ["position_embedding"] = 0, ["blocks"] = 0, ["final_layernorm"] = 0, ["lm_head"] = 0 };
        foreach (var s in Layout(config).Slots)
        {
            string part = s.Name switch
            {
                "wte.weight" => "token_embedding",
                "wpe.weight" => "position_embedding",
                "lm_head.weight" => "lm_head",
                _ when s.Name.StartsWith("h.", StringComparison.Ordinal) => "blocks",
                _ when s.Name.StartsWith("ln_f.", StringComparison.Ordinal) => "final_layernorm",
                _ when s.Name.StartsWith("img.", StringComparison.Ordinal) => "image_encoder",
                _ => throw new InvalidOperationException($"tensor '{s.Name}' belongs to no part of the breakdown"),
            };
            parts[part] = parts.GetValueOrDefault(part) + RealLength(config, s);
        }
        parts["total"] = parts.Values.Sum();
        return parts;
    }

    /// <summary>Elements of a tensor that are real parameters: vocabulary tables count the real vocabulary only.</summary>
    public static long RealLength(GptConfig config, TensorSlot slot) =>
        slot.Name is "wte.weight" or "lm_head.weight" ? (long)config.VocabSize * config.EmbeddingSize : slot.Length;

    /// <summary>Total parameter count (see <see cref="Breakdown"/>).</summary>
    public static long Count(GptConfig config) => Breakdown(config)["total"];
}
