// TokenizeCommand: `nexttoken tokenize` shows how a tokenizer splits a text (ids, pieces or a count).
using System.CommandLine;
using System.Diagnostics;
using System.Text;
using NextToken.Tokenization;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken tokenize --tokenizer gpt2|cl100k|PATH (--text T | --file F) [--ids|--pieces|--count]</c>.</summary>
internal sealed class TokenizeCommand : ICliCommand
{
    public Command Build()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "gpt2, cl100k, char (built from the text itself), or a trained tokenizer directory", DefaultValueFactory = _ => "gpt2" };
        var text = new Option<string>("--text") { Description = "text to tokenize" };
        var file = new Option<string>("--file") { Description = "UTF-8 file to tokenize" };
        var ids = new Option<bool>("--ids") { Description = "print the ids, space separated (the default)" };
        var pieces = new Option<bool>("--pieces") { Description = "print one line per token: id and its bytes, escaped" };
        var count = new Option<bool>("--count") { Description = "print only the number of tokens (and the encoding speed on stderr)" };

        var command = new Command("tokenize", "Encode text with a tokenizer.\nExample: nexttoken tokenize --tokenizer gpt2 --text \"Hello world\"  # 15496 995");
        foreach (var o in new Option[] { tokenizer, text, file, ids, pieces, count }) command.Options.Add(o);
        command.SetAction(pr =>
        {
            string? t = pr.GetValue(text), f = pr.GetValue(file);
            if ((t is null) == (f is null)) throw new ArgumentException("give exactly one of --text or --file");
            if (new[] { pr.GetValue(ids), pr.GetValue(pieces), pr.GetValue(count) }.Count(b => b) > 1) throw new ArgumentException("choose one of --ids, --pieces, --count");
            string input;
            if (f is not null)
            {
                try { input = File.ReadAllText(f, Encoding.UTF8); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new IOException($"cannot read '{f}': {e.Message}", e); }
            }
            else input = t!;
            var tok = TokenizerFactory.Create(pr.GetValue(tokenizer)!, input);

            var clock = Stopwatch.StartNew();
            int[] encoded = tok.Encode(input);
            clock.Stop();
            var stdout = Console.Out;
            if (pr.GetValue(count))
            {
                stdout.WriteLine(encoded.Length);
                double mb = Encoding.UTF8.GetByteCount(input) / 1e6;
                Console.Error.WriteLine($"{tok.Kind}: {encoded.Length:N0} tokens for {mb:F2} MB in {clock.Elapsed.TotalSeconds:F3} s ({mb / clock.Elapsed.TotalSeconds:F1} MB/s, one thread, first call)");
            }
            else if (pr.GetValue(pieces))
            {
                foreach (int id in encoded) stdout.WriteLine($"{id}\t{BpeFiles.Render(tok.TokenBytes(id))}");
            }
            else stdout.WriteLine(string.Join(' ', encoded));
            return 0;
        });
        return command;
    }
}
