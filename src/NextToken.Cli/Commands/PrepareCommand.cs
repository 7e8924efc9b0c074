// PrepareCommand: `nexttoken prepare` tokenizes a text file, a directory of .txt files or a built-in dataset.
using System.CommandLine;
using NextToken.Data;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken prepare --input FILE|DIR|builtin:NAME --tokenizer SPEC --out DIR [--val-fraction F]</c>.</summary>
internal sealed class PrepareCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var input = new Option<string>("--input")
        {
            Description = "Text file, directory of *.txt files (one document each), or builtin:grammar / builtin:addition / builtin:facts",
            Required = true,
        };
        var tokenizer = new Option<string>("--tokenizer")
        {
            Description = "char, gpt2, cl100k, or a directory holding tokenizer.json (built-in datasets bring their own: a word-level BPE for\n" +
                          "grammar, char for addition; leave the default there)",
            DefaultValueFactory = _ => "char",
        };
        var output = new Option<string>("--out")
        {
            Description = "Directory to write train.bin, val.bin, tokenizer.json and meta.json into",
            Required = true,
        };
        var valFraction = new Option<double>("--val-fraction")
        {
            Description = "Share of the text (its last characters) kept for validation (built-in datasets have a fixed split)",
            DefaultValueFactory = _ => PreparedData.DefaultValFraction,
        };
        var seed = new Option<ulong>("--seed")
        {
            Description = "Seed for generating a built-in dataset",
            DefaultValueFactory = _ => 1337UL,
        };

        var cmd = new Command("prepare", "Tokenize text into train.bin/val.bin (llm.c's token file format) for training.\n" +
                                         "Example: nexttoken prepare --input shakespeare.txt --tokenizer char --out data/shakespeare");
        cmd.Options.Add(input);
        cmd.Options.Add(tokenizer);
        cmd.Options.Add(output);
        cmd.Options.Add(valFraction);
        cmd.Options.Add(seed);
        cmd.SetAction(pr =>
        {
            string source = pr.GetValue(input)!;
            string spec = pr.GetValue(tokenizer)!;
            string outDir = pr.GetValue(output)!;
            PreparedData data;
            if (BuiltinDatasets.TryParse(source, out var name))
            {
                if (pr.GetResult(tokenizer) is { Implicit: false } && !(name == BuiltinDatasets.Addition && spec == "char"))
                    throw new ArgumentException($"built-in datasets bring their own tokenizer (word-level BPE for grammar, char for addition); drop --tokenizer {spec}");
                data = BuiltinDatasets.PrepareBuiltin(name, outDir, pr.GetValue(seed));
            }
            else
            {
                data = PreparedData.Prepare(source, spec, outDir, pr.GetValue(valFraction));
            }
            Console.WriteLine($"prepared {data}");
            return 0;
        });
        return cmd;
    }
}
