// Gpt2DirFactAttribute: a [Fact] that runs only when NEXTTOKEN_GPT2_DIR names a real GPT-2 124M Hugging Face directory.
namespace NextToken.Tests.Interop;

internal sealed class Gpt2DirFactAttribute : FactAttribute
{
    public const string Variable = "NEXTTOKEN_GPT2_DIR";

    public Gpt2DirFactAttribute()
    {
        if (Environment.GetEnvironmentVariable(Variable) is not { Length: > 0 } dir || !Directory.Exists(dir))
            Skip = $"set {Variable} to a Hugging Face gpt2 directory (config.json, model.safetensors, vocab.json, merges.txt) to run this";
    }
}
