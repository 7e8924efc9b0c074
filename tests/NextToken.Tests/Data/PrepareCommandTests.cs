// Tests of `nexttoken prepare`: option mapping onto PreparedData and BuiltinDatasets.
using System.CommandLine;
using NextToken.Cli.Commands;
using NextToken.Data;

namespace NextToken.Tests.Data;

public sealed class PrepareCommandTests
{
    private static int Run(params string[] args)
    {
        var root = new RootCommand { new PrepareCommand().Build() };
        var parse = root.Parse(args);
        Assert.Empty(parse.Errors);
        return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = TextWriter.Null });
    }

    [Fact]
    public void Prepare_TextFileWithValFraction_WritesDirectory()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("in.txt"), "abcdefghij");
        Assert.Equal(0, Run("prepare", "--input", dir.File("in.txt"), "--out", dir.File("out"), "--val-fraction", "0.2"));
        var data = PreparedData.Load(dir.File("out"));
        Assert.Equal(8, data.TrainTokens);
        Assert.Equal(2, data.ValTokens);
    }

    [Fact]
    public void Prepare_Builtin_WritesDirectory()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Run("prepare", "--input", "builtin:addition", "--out", dir.Path, "--seed", "3"));
        Assert.Equal(13, PreparedData.Load(dir.Path).VocabSize);
    }

    [Fact]
    public void Prepare_EmptyFile_Throws()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("e.txt"), "");
        Assert.Throws<ArgumentException>(() => Run("prepare", "--input", dir.File("e.txt"), "--out", dir.File("out")));
    }
}
