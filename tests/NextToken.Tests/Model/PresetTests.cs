// Every preset is a valid config whose parameter count (the breakdown) equals the sum of its layout over the real
// vocabulary; the published totals of GPT-2 and SmolLM2-135M come out exactly.
using NextToken.Model;
using NextToken.Tests.Cli;

namespace NextToken.Tests.Model;

public sealed class PresetTests
{
    public static TheoryData<string> Presets() => [.. GptPresets.All.Keys];

    // The tensors whose rows run over the (padded) vocabulary.
    private static readonly string[] VocabularyTensors = ["wte.weight", "lm_head.weight"];

    [Theory]
    [MemberData(nameof(Presets))]
    public void Preset_Validates_AndBreakdownTotalEqualsLayoutOverRealVocabulary(string name)
    {
        var cfg = GptPresets.Get(name).Validate();
        var layout = GptParameters.Layout(cfg);
        long sum = 0;
        foreach (var slot in layout.Slots)
        {
            // Padding rows (PaddedVocabSize − VocabSize) are storage, not parameters.
            if (VocabularyTensors.Contains(slot.Name))
            {
                Assert.Equal(cfg.PaddedVocabSize, slot.Shape[0]);
                sum += slot.Length / slot.Shape[0] * cfg.VocabSize;
            }
            else sum += slot.Length;
        }
        Assert.Equal(sum, GptParameters.Breakdown(cfg)["total"]);
    }

    [Theory]
    [InlineData("gpt2", 124_439_808L)]
    [InlineData("smollm2-135m", 134_515_008L)]   // grouped-query attention (3 KV heads), SwiGLU, RMSNorm, no biases
    public void Params_PublishedPresets_PrintTheirPublishedTotals(string preset, long total)
    {
        var r = CliProcess.Run("params", "--preset", preset);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal(total.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Out.Trim());
    }
}
