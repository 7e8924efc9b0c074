// The real GPT-2 124M from the Hugging Face hub (only when NEXTTOKEN_GPT2_DIR names its directory): parameter count and
// fluent greedy English through the CLI.
using NextToken.Interop;
using NextToken.Tests.Cli;

namespace NextToken.Tests.Interop;

public sealed class RealGpt2Tests
{
    [Gpt2DirFact]
    [Trait("Category", "Slow")]
    public void RealGpt2_ParameterCountAndFluentGreedyText()
    {
        string dir = Environment.GetEnvironmentVariable(Gpt2DirFactAttribute.Variable)!;
        var (model, tokenizer) = ModelFiles.LoadModel(dir);
        Assert.Equal(124_439_808, model.ParameterCount);
        Assert.NotNull(tokenizer);
        Assert.Equal([15496, 995], tokenizer!.Encode("Hello world"));
        var r = CliProcess.Run("sample", "--checkpoint", dir, "--prompt", "The meaning of life is", "--strategy", "greedy", "--max-new-tokens", "24");
        Assert.True(r.Exit == 0, r.Err);
        string text = r.Out.Trim();
        Assert.StartsWith("The meaning of life is", text);
        // Fluent English: mostly common lower-case words separated by spaces, not byte soup.
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(words.Length >= 15, text);
        Assert.True(words.Count(w => w.All(c => char.IsLetter(c) || c is '.' or ',' or '\'' or '"')) >= 0.8 * words.Length, text);
    }
}
