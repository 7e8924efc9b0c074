// SweepRun: one planned run of a sweep — a model config, its training tokens and steps, and its IsoFLOP budget.
using NextToken.Model;

namespace NextToken.Scaling;

/// <summary>A planned run. <paramref name="Name"/> identifies it in results.jsonl (a rerun skips names already there).</summary>
public sealed record SweepRun(string Name, GptConfig Config, int Iterations, long Tokens, double? Budget)
{
    /// <summary>Parameters N.</summary>
    public long Parameters => GptParameters.Count(Config);

    /// <summary>Planned training FLOPs, 6·N·D.</summary>
    public double Flops => 6.0 * Parameters * Tokens;
}
