// `--help` shows the defaults the commands actually use: parsed from the real help text and compared with the
// library's defaults (TrainOptions, GenerationOptions) and the CLI's own.
using System.Globalization;
using NextToken.Cli.Commands;
using NextToken.Generation;
using NextToken.Training;

namespace NextToken.Tests.Cli;

public sealed class HelpDefaultsTests
{
    // Option name → its help text (description and default), continuation lines joined.
    private static Dictionary<string, string> Options(params string[] command)
    {
        var r = CliProcess.Run([.. command, "--help"]);
        Assert.True(r.Exit == 0, r.Err);
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        string? current = null;
        foreach (var line in r.Out.Split('\n'))
        {
            string t = line.TrimEnd();
            if (t.StartsWith("  --", StringComparison.Ordinal) || t.StartsWith("  -?", StringComparison.Ordinal))
            {
                string name = t.Trim().Split(' ', ',')[0];
                current = name;
                options[name] = t;
            }
            else if (current is not null && t.StartsWith("    ", StringComparison.Ordinal)) options[current] += " " + t.Trim();
            else current = null;
        }
        return options;
    }

    private static string? Default(Dictionary<string, string> options, string name)
    {
        Assert.True(options.ContainsKey(name), $"{name} is not in the help");
        string text = options[name];
        int i = text.LastIndexOf("[default: ", StringComparison.Ordinal);
        return i < 0 ? null : text[(i + "[default: ".Length)..text.IndexOf(']', i)];
    }

    private static string S(object v) => Convert.ToString(v, CultureInfo.InvariantCulture)!;

    [Fact]
    public void TrainHelp_ShowsTheDefaultsUsed()
    {
        var d = new TrainOptions();
        var o = Options("train");
        var expected = new Dictionary<string, object>
        {
            ["--batch"] = d.BatchSize, ["--lr"] = d.LearningRate, ["--min-lr"] = d.MinLearningRate, ["--warmup"] = d.WarmupIterations,
            ["--lr-decay-iters"] = d.DecayIterations, ["--weight-decay"] = d.WeightDecay, ["--beta1"] = d.Beta1, ["--beta2"] = d.Beta2,
            ["--grad-clip"] = d.GradientClip, ["--grad-accum"] = d.GradientAccumulation, ["--eval-iters"] = d.EvalIterations,
            ["--checkpoint-interval"] = d.CheckpointInterval, ["--seed"] = d.Seed, ["--order"] = d.Order,
            ["--dropout"] = new NextToken.Model.GptConfig().Dropout, ["--threads"] = Environment.ProcessorCount, ["--data"] = "builtin:grammar",
        };
        foreach (var (name, value) in expected) Assert.Equal(S(value), Default(o, name));
        // Steps and evaluation interval depend on the data: both values are stated, the ones the command uses.
        Assert.Null(Default(o, "--iters"));
        Assert.Contains($"{TrainCommand.BuiltinIterations} on built-in data, {d.Iterations} otherwise", o["--iters"]);
        Assert.Null(Default(o, "--eval-interval"));
        Assert.Contains($"{TrainCommand.BuiltinEvalInterval} on built-in data, {d.EvalInterval} otherwise", o["--eval-interval"]);
        Assert.Contains("'default' for built-in data, 'char-tiny' otherwise", o["--preset"]);
    }

    [Fact]
    public void SampleHelp_ShowsTheLibraryDefaults()
    {
        var d = new GenerationOptions();
        var o = Options("sample");
        var expected = new Dictionary<string, object>
        {
            ["--temperature"] = d.Temperature, ["--top-k"] = d.TopK, ["--top-p"] = d.TopP, ["--seed"] = d.Seed, ["--beams"] = d.Beams,
            ["--beam-groups"] = d.BeamGroups, ["--diversity-penalty"] = d.DiversityPenalty, ["--length-penalty"] = d.LengthPenalty,
            ["--draft-tokens"] = d.DraftTokens, ["--logprobs"] = d.TopLogprobs, ["--min-p"] = d.MinP, ["--typical-p"] = d.TypicalP,
            ["--epsilon-cutoff"] = d.EpsilonCutoff, ["--eta-cutoff"] = d.EtaCutoff, ["--repetition-penalty"] = d.RepetitionPenalty,
            ["--presence-penalty"] = d.PresencePenalty, ["--frequency-penalty"] = d.FrequencyPenalty, ["--no-repeat-ngram"] = d.NoRepeatNgramSize,
            ["--min-new-tokens"] = d.MinNewTokens, ["--contrastive-k"] = d.ContrastiveTopK, ["--contrastive-alpha"] = d.ContrastiveAlpha,
            ["--num-samples"] = d.NumSequences, ["--strategy"] = "sample", ["--threads"] = Environment.ProcessorCount,
        };
        foreach (var (name, value) in expected) Assert.Equal(S(value), Default(o, name));
        Assert.Equal("200", Default(o, "--max-new-tokens")); // the CLI's own default (the library's is 64), and the one it uses
    }

    [Fact]
    public void OtherCommandsHelp_ShowTheDefaultsUsed()
    {
        var g = new GenerationOptions();
        var gen = Options("bench", "generate");
        Assert.Equal(S(g.Seed), Default(gen, "--seed"));
        Assert.Equal(S(g.DraftTokens), Default(gen, "--draft-tokens"));
        Assert.Equal(S(Environment.ProcessorCount), Default(gen, "--threads"));
        Assert.Equal(S(Environment.ProcessorCount), Default(Options("bench", "train"), "--threads"));
        Assert.Equal(S(Environment.ProcessorCount), Default(Options("eval"), "--threads"));
        var prepare = Options("prepare");
        Assert.Equal("char", Default(prepare, "--tokenizer"));
        Assert.Contains("word-level BPE", prepare["--tokenizer"]); // not "always char": the grammar corpus brings its BPE
        Assert.Equal(S(NextToken.Data.PreparedData.DefaultValFraction), Default(prepare, "--val-fraction"));
    }
}
