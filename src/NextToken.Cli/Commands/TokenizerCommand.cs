// TokenizerCommand: `nexttoken tokenizer train` learns a byte-level BPE vocabulary from a text file.
using System.CommandLine;
using System.Diagnostics;
using NextToken.Tokenization;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken tokenizer train --input FILE --vocab-size N --out DIR [--pattern gpt2|cl100k] [--special TOKEN…]</c>.</summary>
internal sealed class TokenizerCommand : ICliCommand
{
    public Command Build()
    {
        var input = new Option<string>("--input") { Description = "UTF-8 text file to train on (streamed)", Required = true };
        var vocabSize = new Option<int>("--vocab-size") { Description = "vocabulary size: 256 bytes + merges + special tokens", Required = true };
        var output = new Option<string>("--out") { Description = "directory to write tokenizer.json, bpe.tiktoken, vocab.json, merges.txt, vocab.txt", Required = true };
        var pattern = new Option<string>("--pattern") { Description = "pre-tokenization regex: gpt2 or cl100k", DefaultValueFactory = _ => "gpt2" };
        pattern.AcceptOnlyFromAmong([.. BpePatterns.Names]);
        var special = new Option<string[]>("--special") { Description = "extra special tokens (after <|endoftext|>), e.g. --special '<|user|>' '<|assistant|>'", AllowMultipleArgumentsPerToken = true };
        var noEot = new Option<bool>("--no-endoftext") { Description = "do not add <|endoftext|> as the first special token" };
        var minFrequency = new Option<int>("--min-frequency") { Description = "stop when the best pair occurs fewer times", DefaultValueFactory = _ => 2 };
        var threads = new Option<int>("--threads") { Description = "threads for word counting", DefaultValueFactory = _ => Environment.ProcessorCount };

        var train = new Command("train", "Train a byte-level BPE tokenizer (GPT-2 style) on a text file.\n" +
                                         "Example: nexttoken tokenizer train --input ../shared/data/tinyshakespeare.txt --vocab-size 4096 --out runs/bpe4k");
        foreach (var o in new Option[] { input, vocabSize, output, pattern, special, noEot, minFrequency, threads }) train.Options.Add(o);
        train.SetAction(pr =>
        {
            string path = pr.GetValue(input)!;
            if (!File.Exists(path)) throw new FileNotFoundException($"training text '{path}' does not exist");
            var specials = new List<string>();
            if (!pr.GetValue(noEot)) specials.Add(BpeTokenizer.EndOfText);
            foreach (var s in pr.GetValue(special) ?? []) if (!specials.Contains(s)) specials.Add(s);
            var options = new BpeTrainerOptions
            {
                VocabSize = pr.GetValue(vocabSize),
                Pattern = pr.GetValue(pattern)!,
                SpecialTokens = specials,
                MinFrequency = pr.GetValue(minFrequency),
                Threads = pr.GetValue(threads),
            };
            var clock = Stopwatch.StartNew();
            var result = BpeTrainer.TrainFile(path, options);
            clock.Stop();
            string outDir = pr.GetValue(output)!;
            result.Tokenizer.Save(outDir);
            var tok = result.Tokenizer;
            long peak = Process.GetCurrentProcess().PeakWorkingSet64;
            Console.WriteLine($"trained {tok.VocabSize} tokens ({tok.Merges.Count} merges, {tok.SpecialTokens.Count} special) from {new FileInfo(path).Length / 1e6:F1} MB, {result.UniqueWords:N0} unique words, {options.Threads} thread(s)");
            Console.WriteLine($"training time {clock.Elapsed.TotalSeconds:F3} s (reading + counting words {result.CountingTime.TotalSeconds:F3} s, merging {result.MergingTime.TotalSeconds:F3} s); peak memory {peak / (1024.0 * 1024):F0} MB");
            if (tok.VocabSize < options.VocabSize)
                Console.WriteLine($"note: stopped at {tok.VocabSize} < {options.VocabSize}: no pair occurs {options.MinFrequency}+ times any more (lower --min-frequency or add text)");
            Console.WriteLine($"saved to {Path.GetFullPath(outDir)} (use: --tokenizer {outDir})");
            return 0;
        });

        var command = new Command("tokenizer", "Train byte-level BPE tokenizers.");
        command.Subcommands.Add(train);
        return command;
    }
}
