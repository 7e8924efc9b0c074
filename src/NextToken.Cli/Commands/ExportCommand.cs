// ExportCommand: `nexttoken export` — writes a model for other tools: Hugging Face (safetensors), llm.c, GGUF (llama.cpp).
using System.CommandLine;
using NextToken.Interop;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken export --checkpoint C --format hf|llmc|gguf --out DIR [--dtype f32|f16|bf16|q8_0]</c>.</summary>
internal sealed class ExportCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Model to export: a NextToken checkpoint, a Hugging Face directory or an llm.c .bin model", Required = true };
        var format = new Option<string>("--format") { Description = "hf (config.json + model.safetensors + tokenizer files) | llmc (model.bin + tokenizer.bin) | gguf (model.gguf)", Required = true };
        format.AcceptOnlyFromAmong("hf", "llmc", "gguf");
        var output = new Option<string>("--out") { Description = "Directory to write into (files are written atomically)", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "Stored weight type: hf f32|f16|bf16; llmc f32|bf16; gguf f32|f16|q8_0", DefaultValueFactory = _ => "f32" };
        var cmd = new Command("export", "Write a model in another tool's format (docs/interop.md says how PyTorch, llm.c and llama.cpp load it).\n" +
                                        "Example: nexttoken export --checkpoint runs/default --format hf --out export/default --dtype bf16");
        foreach (var o in new Option[] { checkpoint, format, output, dtype }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            string dir = pr.GetValue(output)!, type = pr.GetValue(dtype)!.ToLowerInvariant(), fmt = pr.GetValue(format)!;
            var (model, tokenizer) = ModelFiles.LoadModel(pr.GetValue(checkpoint)!);
            Directory.CreateDirectory(dir);
            switch (fmt)
            {
                case "hf":
                    if (type is not ("f32" or "f16" or "bf16")) throw new ArgumentException($"--dtype {type} is not available for hf: use f32, f16 or bf16");
                    var arch = HfExport.Save(dir, model, tokenizer, type);
                    Console.WriteLine($"wrote {arch} model ({type}) to '{dir}'" + (tokenizer is null or HfTokenizer or NextToken.Tokenization.BpeTokenizer ? "" : $" (tokenizer kind {tokenizer.Kind} has no Hugging Face files; not written)"));
                    break;
                case "llmc":
                    if (type is not ("f32" or "bf16")) throw new ArgumentException($"--dtype {type} is not available for llmc: use f32 (version 3) or bf16 (version 5)");
                    LlmcModel.Save(Path.Combine(dir, "model.bin"), model, bf16: type == "bf16");
                    if (tokenizer is not null) LlmcTokenizerFile.Save(Path.Combine(dir, "tokenizer.bin"), tokenizer);
                    Console.WriteLine($"wrote llm.c model ({type}) to '{Path.Combine(dir, "model.bin")}'" + (tokenizer is null ? "" : " and tokenizer.bin"));
                    break;
                default:
                    if (type is not ("f32" or "f16" or "q8_0")) throw new ArgumentException($"--dtype {type} is not available for gguf: use f32, f16 or q8_0");
                    GgufExport.Save(Path.Combine(dir, "model.gguf"), model, tokenizer, type);
                    Console.WriteLine($"wrote GGUF ({type}) to '{Path.Combine(dir, "model.gguf")}'");
                    break;
            }
            return 0;
        });
        return cmd;
    }
}
