// LoraOptions: rank, alpha, dropout and the layers LoRA adapts (Hu et al. 2021).
namespace NextToken.FineTuning;

/// <summary>The layer kinds LoRA can adapt, named as on the command line.</summary>
[Flags]
public enum LoraTargets
{
    /// <summary>None.</summary>
    None = 0,
    /// <summary>The fused query/key/value projection (GPT-2 c_attn; LLaMA q_proj, k_proj, v_proj).</summary>
    Qkv = 1,
    /// <summary>The attention output projection (GPT-2 attn.c_proj; LLaMA o_proj).</summary>
    Proj = 2,
    /// <summary>The MLP input projection (GPT-2 c_fc; LLaMA gate_proj and up_proj).</summary>
    Fc = 4,
    /// <summary>The MLP output projection (GPT-2 mlp.c_proj; LLaMA down_proj).</summary>
    FcProj = 8,
    /// <summary>All four.</summary>
    All = Qkv | Proj | Fc | FcProj,
}

/// <summary>LoRA hyper-parameters: ΔW = (α/r)·B·A with A (r, in) Kaiming-uniform, B (out, r) zero.</summary>
public sealed record LoraOptions
{
    /// <summary>r: the rank of each update.</summary>
    public int Rank { get; init; } = 8;
    /// <summary>α: the update is scaled by α/r.</summary>
    public float Alpha { get; init; } = 16f;
    /// <summary>Dropout on the adapter's input during training (PEFT's lora_dropout).</summary>
    public float Dropout { get; init; }
    /// <summary>The adapted layers.</summary>
    public LoraTargets Targets { get; init; } = LoraTargets.All;

    /// <summary>α/r.</summary>
    public float Scale => Alpha / Rank;

    /// <summary>Checks the values; throws a one-line error naming the flag.</summary>
    public LoraOptions Validate()
    {
        if (Rank < 1) throw new ArgumentException($"LoRA rank must be at least 1 (got {Rank})", nameof(Rank));
        if (!(Alpha > 0)) throw new ArgumentException($"LoRA alpha must be positive (got {Alpha})", nameof(Alpha));
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentException($"LoRA dropout must be in [0, 1) (got {Dropout})", "loraDropout");
        if (Targets == LoraTargets.None) throw new ArgumentException("LoRA targets name no layer; use a comma list of qkv, proj, fc, fc_proj", nameof(Targets));
        return this;
    }

    /// <summary>Parses "qkv,proj,fc,fc_proj" (any subset, or "all").</summary>
    public static LoraTargets ParseTargets(string text)
    {
        var t = LoraTargets.None;
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            t |= raw.ToLowerInvariant() switch
            {
                "qkv" => LoraTargets.Qkv,
                "proj" => LoraTargets.Proj,
                "fc" => LoraTargets.Fc,
                "fc_proj" => LoraTargets.FcProj,
                "all" => LoraTargets.All,
                _ => throw new ArgumentException($"unknown LoRA target '{raw}'; expected a comma list of qkv, proj, fc, fc_proj", nameof(LoraOptions.Targets)),
            };
        return t;
    }

    /// <summary>The targets as the command line spells them.</summary>
    public static string FormatTargets(LoraTargets t) =>
        string.Join(",", new[] { (LoraTargets.Qkv, "qkv"), (LoraTargets.Proj, "proj"), (LoraTargets.Fc, "fc"), (LoraTargets.FcProj, "fc_proj") }
            .Where(p => t.HasFlag(p.Item1)).Select(p => p.Item2));
}
