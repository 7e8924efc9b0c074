// CliErrors: turns a library exception into the CLI's one error line, adding the flag that sets the offending value.
using NextToken.Generation;
using NextToken.Model;
using NextToken.Training;

namespace NextToken.Cli;

/// <summary>
/// The library speaks its own terms (property names in <see cref="ArgumentException.ParamName"/>, no flags); the CLI
/// maps them onto its options here, so "heads (5) must divide the embedding width (16)" ends with "(--heads / --embd)".
/// </summary>
internal static class CliErrors
{
    // Library parameter (a property of TrainOptions, GptConfig or GenerationOptions, or an argument name) → its flags.
    private static readonly Dictionary<string, string> Flags = new(StringComparer.Ordinal)
    {
        [nameof(TrainOptions.BatchSize)] = "--batch",
        [nameof(TrainOptions.SequenceLength)] = "--block",
        [nameof(TrainOptions.GradientAccumulation)] = "--grad-accum",
        [nameof(TrainOptions.Iterations)] = "--iters",
        [nameof(TrainOptions.LearningRate)] = "--lr",
        [nameof(TrainOptions.MinLearningRate)] = "--min-lr",
        [nameof(TrainOptions.WarmupIterations)] = "--warmup",
        [nameof(TrainOptions.DecayIterations)] = "--lr-decay-iters",
        [nameof(TrainOptions.WeightDecay)] = "--weight-decay",
        [nameof(TrainOptions.Beta1)] = "--beta1",
        [nameof(TrainOptions.Beta2)] = "--beta2",
        [nameof(TrainOptions.GradientClip)] = "--grad-clip",
        [nameof(TrainOptions.EvalInterval)] = "--eval-interval",
        [nameof(TrainOptions.EvalIterations)] = "--eval-iters",
        [nameof(TrainOptions.CheckpointInterval)] = "--checkpoint-interval",
        [nameof(TrainOptions.Order)] = "--order",
        [nameof(GptConfig.VocabSize)] = "--vocab",
        [nameof(GptConfig.ContextLength)] = "--block",
        [nameof(GptConfig.Layers)] = "--layers",
        [nameof(GptConfig.Heads)] = "--heads / --embd",
        [nameof(GptConfig.EmbeddingSize)] = "--embd",
        [nameof(GptConfig.Positions)] = "--positions / --heads / --embd",
        [nameof(GptConfig.Dropout)] = "--dropout",
        [nameof(NextToken.FineTuning.LoraOptions.Rank)] = "--lora-rank",
        [nameof(NextToken.FineTuning.LoraOptions.Alpha)] = "--lora-alpha",
        [nameof(NextToken.FineTuning.LoraOptions.Targets)] = "--lora-targets",
        ["loraDropout"] = "--lora-dropout",
        ["taskKind"] = "--task",
        ["taskData"] = "--data",
        [nameof(GenerationOptions.NumSequences)] = "--num-samples / --beams",
        ["valFraction"] = "--val-fraction",
        ["shots"] = "--num-fewshot",
        [nameof(NextToken.Alignment.PpoOptions.Batch)] = "--batch",
        [nameof(NextToken.Alignment.PpoOptions.MiniBatches)] = "--minibatches",
        [nameof(NextToken.Alignment.PpoOptions.PpoEpochs)] = "--ppo-epochs",
        [nameof(NextToken.Alignment.PpoOptions.KlCoefficient)] = "--kl-coef",
        [nameof(NextToken.Alignment.PpoOptions.Gamma)] = "--gamma",
        [nameof(NextToken.Alignment.PpoOptions.Lambda)] = "--lam",
        [nameof(NextToken.Alignment.PpoOptions.PtxCoefficient)] = "--ptx-coef / --ptx-data",
        [nameof(NextToken.Alignment.GrpoOptions.GroupSize)] = "--group-size",
        [nameof(NextToken.Alignment.GrpoOptions.Prompts)] = "--prompts-per-iter",
        [nameof(NextToken.Alignment.GrpoOptions.UpdatesPerIteration)] = "--updates",
        [nameof(NextToken.Alignment.DpoOptions.Beta)] = "--beta",
    };

    /// <summary>The error line (without "error: ") for <paramref name="e"/>.</summary>
    public static string Line(Exception e)
    {
        string message = e.Message;
        string? hint = null;
        switch (e)
        {
            case ArgumentException { ParamName: { } p }:
                // .NET appends " (Parameter 'name')" (and for out-of-range values a line with the value) to the message.
                int cut = message.IndexOf($" (Parameter '{p}')", StringComparison.Ordinal);
                if (cut >= 0) message = message[..cut];
                Flags.TryGetValue(p, out hint);
                break;
            case FileNotFoundException f when Path.GetFileName(f.FileName) == Checkpoint.FileName:
                hint = "'nexttoken train --out DIR' writes one";
                break;
            case NonFiniteLossException:
                hint = "--lr, --grad-clip";
                break;
        }
        message = message.ReplaceLineEndings(" ");
        return hint is null ? message : $"{message} ({hint})";
    }
}
