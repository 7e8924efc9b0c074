// HfExport: writes a model as a Hugging Face directory that transformers' from_pretrained loads: config.json,
// model.safetensors, generation_config.json and the tokenizer's files.
using System.Text;
using System.Text.Json.Nodes;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Interop;

/// <summary>Hugging Face export: GPT-2-shaped models as GPT2LMHeadModel, post-LN GPT-1 as OpenAIGPTLMHeadModel, LLaMA-shaped as LlamaForCausalLM.</summary>
public static class HfExport
{
    /// <summary>
    /// Writes <paramref name="model"/> (and <paramref name="tokenizer"/>'s vocabulary when it is a BPE) into
    /// <paramref name="directory"/>, weights stored as <paramref name="dtype"/> (f32, f16, bf16). Each file is written
    /// atomically.
    /// </summary>
    public static HfArchitecture Save(string directory, GptModel model, ITokenizer? tokenizer, string dtype = "f32")
    {
        string st = dtype.ToLowerInvariant() switch
        {
            "f32" => "F32", "f16" => "F16", "bf16" => "BF16",
            _ => throw new ArgumentException($"dtype '{dtype}' is not one of f32, f16, bf16", nameof(dtype)),
        };
        string torch = st switch { "F32" => "float32", "F16" => "float16", _ => "bfloat16" };
        var cfg = model.Config;
        var arch = HfConfig.ArchitectureOf(cfg);
        Directory.CreateDirectory(directory);
        string prefix = arch == HfArchitecture.Llama ? "model." : "transformer.";
        var entries = new List<SafeTensorsEntry>();
        foreach (var t in HfTensorMap.Build(arch, cfg, prefix))
        {
            var slot = model.Layout[t.Name];
            int cols = 1;
            for (int d = 1; d < slot.Shape.Length; d++) cols *= slot.Shape[d];
            foreach (var part in t.Parts)
            {
                var p = part;
                entries.Add(new SafeTensorsEntry(p.HfName, p.HfShape, () =>
                {
                    var hf = new float[p.Length];
                    HfTensorMap.ToHf(p, model.Parameter(t.Name).Slice(p.Row * cols, p.Rows * cols), hf);
                    return hf;
                }));
            }
        }
        SafeTensorsWriter.Write(Path.Combine(directory, SafeTensorsSet.SingleFileName), entries, st);
        HfTokenizer? hfTok = HfTokenizer.From(tokenizer);
        int? eot = tokenizer?.EndOfTextId;
        int? bos = tokenizer is SentencePieceVocabulary { BeginningOfSentenceId: >= 0 } spv ? spv.BeginningOfSentenceId : eot;
        Write(Path.Combine(directory, HfConfig.FileName), HfConfig.Write(arch, cfg, torch, bos, eot));
        var gen = new JsonObject { ["_from_model_config"] = true, ["transformers_version"] = "4.46.0" };
        if (bos is int b) gen["bos_token_id"] = b;
        if (eot is int e) gen["eos_token_id"] = e;
        Write(Path.Combine(directory, "generation_config.json"), gen.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        if (hfTok is not null) hfTok.WriteHf(directory);
        else if (tokenizer is SentencePieceVocabulary sp) sp.WriteHf(directory);
        return arch;
    }

    private static void Write(string path, string text) => Training.Checkpoint.WriteAtomically(path, s => s.Write(new UTF8Encoding(false).GetBytes(text)));
}
