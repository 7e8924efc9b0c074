// ModelFiles: the one loader behind every --checkpoint: a NextToken checkpoint directory, a Hugging Face model directory,
// or an llm.c model file, recognised by what it holds.
using NextToken.Model;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Interop;

/// <summary>Loads a model from any format NextToken reads (docs/interop.md).</summary>
public static class ModelFiles
{
    /// <summary>What <paramref name="path"/> is: "nexttoken", "hf", "llmc", or null when none of them.</summary>
    public static string? Detect(string path)
    {
        if (File.Exists(path))
        {
            if (LlmcModel.IsLlmcModel(path)) return "llmc";
            return Path.GetFileName(path) == Checkpoint.FileName ? "nexttoken" : null;
        }
        if (!Directory.Exists(path)) return null;
        if (File.Exists(Path.Combine(path, Checkpoint.FileName))) return "nexttoken";
        if (HfModel.IsHfDirectory(path)) return "hf";
        return null;
    }

    /// <summary>
    /// Loads the model (and its tokenizer when the files carry one) for inference. NextToken checkpoints keep their training
    /// state (the data directory eval defaults to); the other formats have none.
    /// </summary>
    public static Checkpoint.Loaded Load(string path)
    {
        switch (Detect(path))
        {
            case "hf":
            {
                var (model, tokenizer, _) = HfModel.Load(path);
                return new Checkpoint.Loaded(model, tokenizer, null, null);
            }
            case "llmc":
            {
                var model = LlmcModel.Load(path);
                // llm.c's tokenizer file only decodes; the GPT-2 vocabulary it is made for is built in.
                ITokenizer? tokenizer = model.VocabSize == TiktokenEncoding.Gpt2.VocabSize ? TiktokenEncoding.Gpt2 : null;
                return new Checkpoint.Loaded(model, tokenizer, null, null);
            }
            case "nexttoken":
                return Checkpoint.LoadFull(path, withOptimizer: false);
            default:
                if (Directory.Exists(path) && File.Exists(Path.Combine(path, HfConfig.FileName)) && !HfConfig.IsHfConfig(Path.Combine(path, HfConfig.FileName)))
                    return Checkpoint.LoadFull(path, withOptimizer: false); // a NextToken directory without checkpoint.bin: its own error
                if (File.Exists(path))
                    throw new InvalidDataException($"'{path}' is not a model file NextToken reads: give a checkpoint directory, a Hugging Face model directory, or an llm.c .bin model (magic {LlmcModel.Magic})");
                return Checkpoint.LoadFull(path, withOptimizer: false);
        }
    }

    /// <summary>The model and tokenizer only.</summary>
    public static (GptModel Model, ITokenizer? Tokenizer) LoadModel(string path)
    {
        var l = Load(path);
        return (l.Model, l.Tokenizer);
    }
}
