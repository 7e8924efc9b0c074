// An empty prompt starts from end-of-text, but neither the library's prompt text nor `nexttoken sample` prints it.
using NextToken.Generation;
using NextToken.Tests.Cli;
using NextToken.Tests.Data;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Tests.Generation;

public sealed class EmptyPromptTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly BpeTokenizer _tokenizer;
    private readonly string _checkpoint;

    public EmptyPromptTests()
    {
        string text = string.Concat(Enumerable.Repeat("the cat sat on the mat. the dog ate the log. ", 40));
        _tokenizer = BpeTrainer.Train(text, new BpeTrainerOptions { VocabSize = 300, MinFrequency = 1, Threads = 1 }).Tokenizer;
        _checkpoint = _dir.File("ckpt");
        Checkpoint.Save(_checkpoint, TinyModels.Gpt(3, vocab: _tokenizer.VocabSize, context: 16, embd: 16, initStd: 0.3f), tokenizer: _tokenizer);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void PromptText_EmptyPrompt_IsEmpty()
    {
        var g = new Generator(TinyModels.Gpt(3, vocab: _tokenizer.VocabSize, context: 16, embd: 16), _tokenizer);
        int[] ids = g.Encode("");
        Assert.Equal([_tokenizer.EndOfTextId!.Value], ids);          // the model still starts from end-of-text
        Assert.Equal("", g.PromptText(ids));
        Assert.Equal("the cat", g.PromptText(g.Encode("the cat")));
    }

    [Theory]
    [InlineData("greedy")]   // streamed
    [InlineData("beam")]     // printed at the end
    public void Sample_EmptyPrompt_PrintsNoEndOfText(string strategy)
    {
        var r = CliProcess.Run("sample", "--checkpoint", _checkpoint, "--max-new-tokens", "6", "--strategy", strategy);
        Assert.True(r.Exit == 0, r.Err);
        Assert.DoesNotContain(BpeTokenizer.EndOfText, r.Out);
        Assert.True(r.Out.Trim().Length > 0, "nothing was generated");
    }
}
