// LayerSlots: the parameter tensors of one transformer block, resolved once so the step does no name lookups.
using NextToken.Tensors;

namespace NextToken.Model;

/// <summary>Slots of one block's parameters (bias slots are null when the config has no biases).</summary>
internal sealed class LayerSlots
{
    public required TensorSlot Ln1W, Attn, AttnProj, Ln2W, Fc, FcProj;
    public TensorSlot? Ln1B, AttnB, AttnProjB, Ln2B, FcB, FcProjB;

    public static LayerSlots Resolve(TensorLayout layout, int l)
    {
        string p = $"h.{l}.";
        TensorSlot? Opt(string n) => layout.Contains(p + n) ? layout[p + n] : null;
        return new LayerSlots
        {
            Ln1W = layout[p + "ln_1.weight"], Ln1B = Opt("ln_1.bias"),
            Attn = layout[p + "attn.c_attn.weight"], AttnB = Opt("attn.c_attn.bias"),
            AttnProj = layout[p + "attn.c_proj.weight"], AttnProjB = Opt("attn.c_proj.bias"),
            Ln2W = layout[p + "ln_2.weight"], Ln2B = Opt("ln_2.bias"),
            Fc = layout[p + "mlp.c_fc.weight"], FcB = Opt("mlp.c_fc.bias"),
            FcProj = layout[p + "mlp.c_proj.weight"], FcProjB = Opt("mlp.c_proj.bias"),
        };
    }
}
