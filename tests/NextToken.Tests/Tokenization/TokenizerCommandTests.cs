// Tests of `nexttoken tokenizer train` and `nexttoken tokenize`: outputs, files, and clear errors with exit code 1.
using System.CommandLine;
using NextToken.Cli;
using NextToken.Cli.Commands;

namespace NextToken.Tests.Tokenization;

[Collection("Console")] // redirects Console.Out/Error, which are process-wide
public sealed class TokenizerCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nt-cli-" + Guid.NewGuid().ToString("N"));

    public TokenizerCommandTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var root = new RootCommand("test");
        root.Subcommands.Add(new TokenizerCommand().Build());
        root.Subcommands.Add(new TokenizeCommand().Build());
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        try
        {
            Console.SetOut(o);
            Console.SetError(e);
            return (CliRunner.Run(root, args), o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    [Fact]
    public void Tokenize_Gpt2HelloWorld_PrintsIds()
    {
        var (code, output, _) = Run("tokenize", "--tokenizer", "gpt2", "--text", "Hello world");
        Assert.Equal(0, code);
        Assert.Equal("15496 995", output.Trim());
        Assert.Equal("2", Run("tokenize", "--tokenizer", "cl100k", "--text", "Hello world", "--count").Out.Trim());
        Assert.Contains("995\t\" world\"", Run("tokenize", "--text", "Hello world", "--pieces").Out);
    }

    [Fact]
    public void TrainThenTokenize_SmallCorpus_WritesFilesAndReportsTime()
    {
        string corpus = Path.Combine(_dir, "corpus.txt");
        File.WriteAllText(corpus, string.Concat(Enumerable.Repeat("to be or not to be, that is the question\n", 50)));
        string outDir = Path.Combine(_dir, "tok");
        var (code, output, err) = Run("tokenizer", "train", "--input", corpus, "--vocab-size", "300", "--out", outDir, "--special", "<|user|>", "--pattern", "cl100k");
        Assert.True(code == 0, err);
        Assert.Contains("training time", output);
        Assert.Contains("peak memory", output);
        Assert.True(File.Exists(Path.Combine(outDir, "tokenizer.json")));
        var (code2, ids, _) = Run("tokenize", "--tokenizer", outDir, "--text", "to be<|user|>");
        Assert.Equal(0, code2);
        var tok = NextToken.Tokenization.TokenizerStore.Load(outDir);
        Assert.EndsWith($" {tok.VocabSize - 1}", ids.Trim()); // <|user|> is the last special token
    }

    [Fact]
    public void Train_EmptyCorpus_ErrorsWithExitCode1()
    {
        string corpus = Path.Combine(_dir, "empty.txt");
        File.WriteAllText(corpus, "");
        var (code, _, err) = Run("tokenizer", "train", "--input", corpus, "--vocab-size", "300", "--out", Path.Combine(_dir, "t"));
        Assert.Equal(1, code);
        Assert.Contains("empty", err);
    }

    [Fact]
    public void Train_VocabTooSmall_ErrorsSayingMinimum()
    {
        string corpus = Path.Combine(_dir, "c.txt");
        File.WriteAllText(corpus, "some text here");
        var (code, _, err) = Run("tokenizer", "train", "--input", corpus, "--vocab-size", "256", "--out", Path.Combine(_dir, "t"), "--special", "<|a|>");
        Assert.Equal(1, code);
        Assert.Contains("258", err);
    }

    [Fact]
    public void Train_MissingFile_ErrorsNamingIt()
    {
        var (code, _, err) = Run("tokenizer", "train", "--input", Path.Combine(_dir, "nope.txt"), "--vocab-size", "300", "--out", Path.Combine(_dir, "t"));
        Assert.Equal(1, code);
        Assert.Contains("nope.txt", err);
    }

    [Fact]
    public void Tokenize_WrongFormatTokenizer_ErrorsWithExitCode1()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), """{"kind":"bpe","pattern":"gpt2","ranks":"r.tiktoken","merges":"m.txt"}""");
        File.WriteAllText(Path.Combine(_dir, "r.tiktoken"), "{ \"this is\": \"json\" }");
        var (code, _, err) = Run("tokenize", "--tokenizer", _dir, "--text", "x");
        Assert.Equal(1, code);
        Assert.Contains("tiktoken", err);
        Assert.Equal(1, Run("tokenize", "--tokenizer", Path.Combine(_dir, "missing"), "--text", "x").Code);
        Assert.Equal(1, Run("tokenize", "--file", Path.Combine(_dir, "missing.txt")).Code);
    }
}
