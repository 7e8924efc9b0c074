// ScalarModel (reward and value models): files round trip, the head's and trunk's gradients against finite differences,
// and reward training on a synthetic preference set whose rule is known.
using NextToken.Alignment;
using NextToken.Model;
using NextToken.Model.Heads;
using NextToken.Tensors;
using NextToken.Tests.Data;
using NextToken.Tokenization;

namespace NextToken.Tests.Alignment;

public sealed class ScalarModelTests
{
    private static readonly CharTokenizer Chars = new("\nabcdx".Select(c => c.ToString()));

    private static ScalarModel Random(ulong seed, float initStd = 0.02f)
    {
        var model = new GptModel(GptPresets.Get("test") with { VocabSize = Chars.VocabSize, InitStd = initStd }, seed);
        return new ScalarModel(model, Chars, new LinearHead(model.HiddenSize, 1, seed + 1, initStd: 0.5f, name: "score"));
    }

    [Fact]
    public void SaveLoad_RoundTrip_GivesIdenticalScores()
    {
        using var dir = new TempDir();
        var rm = Random(3);
        List<int[]> seqs = [[1, 2, 3], [5], [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4], [4, 3, 2, 1, 0]];
        var before = rm.Score(seqs);
        rm.Save(dir.Path, "value");
        Assert.True(ScalarModel.IsScalarModel(dir.Path));

        var loaded = ScalarModel.Load(dir.Path);
        Assert.Equal(before, loaded.Score(seqs));
        Assert.True(rm.Head.Parameters.AsSpan().SequenceEqual(loaded.Head.Parameters));
        Assert.True(rm.Model.Parameters.AsSpan().SequenceEqual(loaded.Model.Parameters));
        ScalarModel.RequireSameTokenizer(Chars, loaded.Tokenizer, "the loaded model");
        Assert.Contains("\"kind\":\"value\"", File.ReadAllText(Path.Combine(dir.Path, ScalarModel.SpecFileName)));
        // Scores are independent of batching and of the other sequences' lengths (padding never leaks in); a different
        // row length changes only the rounding.
        var alone = seqs.Select(s => loaded.Score([s])[0]).ToArray();
        for (int i = 0; i < seqs.Count; i++) Assert.Equal(before[i], alone[i], 1e-5f);
    }

    [Fact]
    public void Load_NotAScalarModel_OneLineErrorNamingTheFile()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => ScalarModel.Load(dir.Path));
        Assert.StartsWith(Path.Combine(dir.Path, ScalarModel.SpecFileName) + ": not found", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Backward_HeadAndTrunkGradients_MatchFiniteDifferences()
    {
        // L = Σ_b c_b·score_b at each row's last token. The head is linear in its weights, so its finite differences are
        // exact up to float32 rounding; trunk coordinates (a token embedding, the final norm's gain) go through the
        // whole network. Central differences with h = 1e-2 in float32: the O(h²) error and the rounding error
        // (~1e-7·|L|/h) are both below 1e-4 here, so the tolerance is 2% of the gradient plus 1e-4.
        var rm = Random(5, initStd: 0.3f);
        int[] inputs = [1, 2, 3, 4, 2, 2, 5, 0, 3, 1, 1, 4];
        const int B = 3, T = 4;
        int[] rows = [3, 6, 11]; // row 1 ends early (position 2): the score is read mid-row, as for a shorter sequence
        float[] c = [0.7f, -1.3f, 0.4f];
        double Loss()
        {
            var s = new float[B];
            rm.Forward(inputs, B, T, rows, s);
            return s.Select((x, i) => (double)x * c[i]).Sum();
        }

        rm.Model.EnableGradients();
        rm.Model.ZeroGradients();
        Array.Clear(rm.Head.Gradients);
        Loss();
        rm.Backward(c, rows);

        var checks = new List<(string What, float[] Values, int Index, float Analytic)>();
        foreach (var (slot, k) in new[] { ("score.weight", 0), ("score.weight", 9), ("score.bias", 0) })
        {
            int i = (int)rm.Head.Layout[slot].Offset + k;
            checks.Add(($"{slot}[{k}]", rm.Head.Parameters, i, rm.Head.Gradients[i]));
        }
        foreach (var (slot, k) in new[] { ("wte.weight", 2 * 16 + 5), ("ln_f.weight", 3) })
        {
            int i = (int)rm.Model.Layout[slot].Offset + k;
            checks.Add(($"{slot}[{k}]", rm.Model.Parameters, i, rm.Model.Gradient(slot)[k]));
        }
        Assert.Equal(c.Sum(x => (double)x), rm.Head.Gradients[(int)rm.Head.Layout["score.bias"].Offset], 5); // ∂L/∂bias = Σ c
        foreach (var (what, values, i, analytic) in checks)
        {
            const float h = 1e-2f;
            float saved = values[i];
            values[i] = saved + h; double up = Loss();
            values[i] = saved - h; double down = Loss();
            values[i] = saved;
            double numeric = (up - down) / (2 * h);
            Assert.True(Math.Abs(numeric) > 1e-3, $"{what}: gradient {numeric} too small to check");
            Assert.True(Math.Abs(analytic - numeric) <= 0.02 * Math.Abs(numeric) + 1e-4, $"{what}: analytic {analytic}, numeric {numeric}");
        }
    }

    [Fact]
    public void RewardTraining_PreferMentionsOfALetter_HighHeldOutAccuracyQuickly()
    {
        // Responses are 4 letters from "abcd"; one containing 'c' is always preferred to one without (no label noise).
        // A 2-layer width-16 model learns the rule from 256 pairs; held-out pairs use responses never seen in training.
        var rng = new Rng(21);
        var seen = new HashSet<string>();
        string Draw(bool withC)
        {
            while (true)
            {
                var s = new string(Enumerable.Range(0, 4).Select(_ => "abd"[rng.NextInt(3)]).ToArray());
                if (withC) { var a = s.ToCharArray(); a[rng.NextInt(4)] = 'c'; s = new string(a); }
                if (seen.Add(s)) return s;
            }
        }
        List<PreferenceExample> Pairs(int n) => Enumerable.Range(0, n).Select(i => new PreferenceExample(i % 2 == 0 ? "x" : "xx", [Draw(true), Draw(false)])).ToList();
        var train = Pairs(48);
        var heldOut = Pairs(24);

        var rm = ScalarModel.FromPolicy(new GptModel(GptPresets.Get("test") with { VocabSize = Chars.VocabSize }, 8), Chars);
        var result = RewardTraining.Train(rm, train, heldOut, new RewardTrainOptions { Epochs = 20, Batch = 16, LearningRate = 3e-3f });

        Assert.Equal(60, result.Steps);
        Assert.Equal(24, result.HeldOutPairs);
        Assert.True(result.HeldOutAccuracy >= 0.9, $"held-out accuracy {result.HeldOutAccuracy}, train {result.TrainAccuracy}, loss {result.FinalLoss}");
        Assert.True(result.FinalLoss < 0.3, $"loss {result.FinalLoss}");
        // The score reads the rule: a 'c' anywhere lifts it.
        var s = rm.Score([Chars.Encode("xabdc"), Chars.Encode("xabdd"), Chars.Encode("xcbbb"), Chars.Encode("xbbbb")]);
        Assert.True(s[0] > s[1] && s[2] > s[3], $"scores {string.Join(", ", s)}");
    }
}
