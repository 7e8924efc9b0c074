// ImportCommand: `nexttoken import` — converts a Hugging Face directory or an llm.c model file into a NextToken checkpoint once.
using System.CommandLine;
using System.Diagnostics;
using NextToken.Interop;
using NextToken.Training;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken import --input PATH --out DIR</c>.</summary>
internal sealed class ImportCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var input = new Option<string>("--input") { Description = "A Hugging Face model directory (config.json + model.safetensors or shards), an llm.c .bin model, or a NextToken checkpoint", Required = true };
        var output = new Option<string>("--out") { Description = "Checkpoint directory to write (checkpoint.bin, config.json, tokenizer.json)", Required = true };
        var cmd = new Command("import", "Convert a model to a NextToken checkpoint once, for faster loading (every --checkpoint also reads the original).\n" +
                                        "Example: nexttoken import --input path/to/gpt2 --out runs/gpt2");
        cmd.Options.Add(input);
        cmd.Options.Add(output);
        cmd.SetAction(pr =>
        {
            string from = pr.GetValue(input)!, to = pr.GetValue(output)!;
            if (ModelFiles.Detect(from) is null && !Directory.Exists(from) && !File.Exists(from))
                throw new FileNotFoundException($"'{from}' does not exist (--input)", from);
            var clock = Stopwatch.StartNew();
            var loaded = ModelFiles.Load(from);
            Checkpoint.Save(to, loaded.Model, tokenizer: loaded.Tokenizer);
            Console.WriteLine($"imported {ModelFiles.Detect(from)} model '{from}' ({loaded.Model.ParameterCount:N0} parameters, " +
                              $"tokenizer: {loaded.Tokenizer?.Kind ?? "none"}) into '{to}' in {clock.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return cmd;
    }
}
