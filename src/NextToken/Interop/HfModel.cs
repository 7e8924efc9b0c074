// HfModel: loads a Hugging Face model directory (config.json + safetensors, single or sharded, + tokenizer files) into a
// GptModel, streaming one tensor at a time.
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Interop;

/// <summary>Hugging Face GPT-2, GPT-1 (openai-gpt) and LLaMA-family model directories in; see docs/interop.md.</summary>
public static class HfModel
{
    /// <summary>True when <paramref name="directory"/> looks like a Hugging Face model (config.json with a model_type, and weights).</summary>
    public static bool IsHfDirectory(string directory) =>
        Directory.Exists(directory) && HfConfig.IsHfConfig(Path.Combine(directory, HfConfig.FileName));

    /// <summary>Loads the model and its tokenizer (null when the directory has no tokenizer files).</summary>
    public static (GptModel Model, ITokenizer? Tokenizer, HfArchitecture Architecture) Load(string directory)
    {
        var (arch, cfg) = HfConfig.Read(Path.Combine(directory, HfConfig.FileName));
        if (!SafeTensorsSet.IsPresent(directory))
        {
            string hint = File.Exists(Path.Combine(directory, "pytorch_model.bin"))
                ? " (it has pytorch_model.bin: NextToken reads safetensors only; save with safe_serialization=True)" : "";
            throw new FileNotFoundException($"'{directory}' has neither {SafeTensorsSet.SingleFileName} nor {SafeTensorsSet.IndexFileName}{hint}",
                                            Path.Combine(directory, SafeTensorsSet.SingleFileName));
        }
        using var set = SafeTensorsSet.Open(directory);
        var model = GptModel.CreateUninitialised(cfg);
        string prefix = arch == HfArchitecture.Llama ? "model."
            : set.Contains("transformer." + (arch == HfArchitecture.OpenAiGpt ? "tokens_embed.weight" : "wte.weight")) ? "transformer." : "";
        var used = new HashSet<string>(StringComparer.Ordinal);
        float[] scratch = [];
        foreach (var t in HfTensorMap.Build(arch, cfg, prefix))
        {
            var dest = model.Parameter(t.Name);
            var slot = model.Layout[t.Name];
            int cols = 1;
            for (int d = 1; d < slot.Shape.Length; d++) cols *= slot.Shape[d];
            foreach (var part in t.Parts)
            {
                var (file, info) = set.Get(part.HfName, directory);
                if (!info.Shape.Select(x => (int)x).SequenceEqual(part.HfShape))
                    throw new InvalidDataException($"'{file.Path}': tensor '{part.HfName}' has shape {info.ShapeText}, but config.json implies ({string.Join(", ", part.HfShape)})");
                var rows = dest.Slice(part.Row * cols, part.Rows * cols);
                if (part.Transform == HfTransform.None) file.Read(part.HfName, rows);
                else
                {
                    if (scratch.Length < part.Length) scratch = new float[part.Length];
                    var tmp = scratch.AsSpan(0, (int)part.Length);
                    file.Read(part.HfName, tmp);
                    HfTensorMap.ToOurs(part, tmp, rows);
                }
                used.Add(part.HfName);
            }
        }
        foreach (string name in set.Names)
            if (!used.Contains(name) && !HfTensorMap.Ignorable(name, cfg))
            {
                var (file, _) = set.Get(name, directory);
                throw new InvalidDataException($"'{file.Path}': tensor '{name}' is not part of a {arch} model with this config.json (extra tensor)");
            }
        var tokenizer = HfTokenizer.TryLoadAny(directory, arch);
        return (model, tokenizer, arch);
    }
}
