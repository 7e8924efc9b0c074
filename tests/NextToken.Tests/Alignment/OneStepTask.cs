// OneStepTask: a bandit in language-model clothing — a fixed one-token prompt, responses of exactly one token, a reward
// on that token — whose KL-regularised optimum is known in closed form: π* ∝ π_ref·exp(r/β).
using NextToken.Alignment;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Tests.Alignment;

internal static class OneStepTask
{
    /// <summary>Eight one-character tokens; id 0 ("\n") is the end token.</summary>
    public static readonly CharTokenizer Tokenizer = new("\nabcdefg".Select(c => c.ToString()));

    /// <summary>The prompt: one token.</summary>
    public const string Prompt = "a";

    /// <summary>
    /// exp(r) per token: 4 for "b", 2 for "c" and "d", 1 elsewhere. Chosen so that Bradley-Terry probabilities
    /// σ(r_i − r_j) = w_i / (w_i + w_j) are ratios of small integers and a finite preference set can match them exactly.
    /// </summary>
    public static readonly int[] Weights = [1, 1, 4, 2, 2, 1, 1, 1];

    /// <summary>r(token) = ln w(token).</summary>
    public static double Reward(int token) => Math.Log(Weights[token]);

    /// <summary>The reward on a decoded one-token response (a rule reward, as the trainers see it).</summary>
    public static double Reward(string prompt, string response) =>
        response.Length == 1 ? Reward(Tokenizer.Encode(response)[0]) : throw new InvalidOperationException($"expected a one-token response, got '{response}'");

    /// <summary>The test preset with this vocabulary: 2 layers, width 16, context 16.</summary>
    public static GptModel Model(ulong seed) => new(GptPresets.Get("test") with { VocabSize = Tokenizer.VocabSize }, seed);

    /// <summary>The model's next-token distribution after the prompt, exactly (double softmax of the logits).</summary>
    public static double[] Distribution(GptModel model)
    {
        var logits = new float[model.VocabSize];
        model.ForwardLogits(Tokenizer.Encode(Prompt), 1, 1, logits);
        double max = logits.Max(), sum = 0;
        var p = new double[logits.Length];
        for (int v = 0; v < p.Length; v++) { p[v] = Math.Exp(logits[v] - max); sum += p[v]; }
        for (int v = 0; v < p.Length; v++) p[v] /= sum;
        return p;
    }

    /// <summary>argmax of E_π[r] − β·KL(π ‖ π_ref): π* ∝ π_ref·exp(r/β).</summary>
    public static double[] Optimum(double[] reference, double beta)
    {
        var p = new double[reference.Length];
        for (int v = 0; v < p.Length; v++) p[v] = reference[v] * Math.Exp(Reward(v) / beta);
        double sum = p.Sum();
        for (int v = 0; v < p.Length; v++) p[v] /= sum;
        return p;
    }

    /// <summary>Total-variation distance ½ Σ |p − q|.</summary>
    public static double TotalVariation(double[] p, double[] q)
    {
        double s = 0;
        for (int v = 0; v < p.Length; v++) s += Math.Abs(p[v] - q[v]);
        return s / 2;
    }

    /// <summary>
    /// Preference pairs on the prompt labeled in exact Bradley-Terry proportion: for every two distinct tokens i, j the
    /// set holds w_i copies of (i ≻ j) and w_j copies of (j ≻ i), so the share of i winning is w_i/(w_i + w_j) =
    /// σ(r_i − r_j) exactly. The DPO loss over this set is minimised where β·(log π/π_ref)(i) − β·(log π/π_ref)(j) =
    /// r_i − r_j for every pair, i.e. exactly at π*.
    /// </summary>
    public static List<PreferenceExample> BradleyTerryPairs()
    {
        var examples = new List<PreferenceExample>();
        var symbols = Tokenizer.Symbols;
        for (int i = 0; i < symbols.Count; i++)
            for (int j = i + 1; j < symbols.Count; j++)
            {
                for (int k = 0; k < Weights[i]; k++) examples.Add(new PreferenceExample(Prompt, [symbols[i], symbols[j]]));
                for (int k = 0; k < Weights[j]; k++) examples.Add(new PreferenceExample(Prompt, [symbols[j], symbols[i]]));
            }
        return examples;
    }
}
