// `nexttoken sample` through the real command line: bad input gives one clear line and a non-zero exit; --json contract.
using System.Text.Json;
using NextToken.Model;
using NextToken.Tests.Cli;
using NextToken.Tests.Data;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Tests.Generation;

public sealed class SampleCommandTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _checkpoint, _draft, _otherVocab;

    public SampleCommandTests()
    {
        var tok = new CharTokenizer("\n abcdehlorstw".Select(c => c.ToString()));
        _checkpoint = _dir.File("target");
        _draft = _dir.File("draft");
        _otherVocab = _dir.File("other");
        Checkpoint.Save(_checkpoint, TinyModels.Gpt(1, vocab: tok.VocabSize, context: 16, layers: 2, embd: 16, initStd: 0.3f), tokenizer: tok);
        Checkpoint.Save(_draft, TinyModels.Gpt(2, vocab: tok.VocabSize, context: 16, layers: 1, embd: 8, initStd: 0.3f), tokenizer: tok);
        var other = new CharTokenizer("\n abc".Select(c => c.ToString()));
        Checkpoint.Save(_otherVocab, TinyModels.Gpt(3, vocab: other.VocabSize, context: 16), tokenizer: other);
    }

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("--temperature", "-1", "temperature")]
    [InlineData("--top-p", "0", "top-p")]
    [InlineData("--top-p", "1.5", "top-p")]
    [InlineData("--beams", "0", "beams")]
    [InlineData("--prompt-ids", "1,99", "outside the vocabulary")]
    public void Sample_BadOption_FailsWithOneLine(string option, string value, string expected) =>
        CliProcess.AssertOneLineError(CliProcess.Run("sample", "--checkpoint", _checkpoint, "--max-new-tokens", "4", option, value), expected);

    [Fact]
    public void Sample_DraftWithOtherVocabulary_Fails() =>
        CliProcess.AssertOneLineError(CliProcess.Run("sample", "--checkpoint", _checkpoint, "--strategy", "speculative", "--draft", _otherVocab, "--max-new-tokens", "4"), "different vocabulary");

    [Fact]
    public void Sample_MissingCheckpoint_Fails() =>
        CliProcess.AssertOneLineError(CliProcess.Run("sample", "--checkpoint", _dir.File("nothing"), "--max-new-tokens", "4"), "no checkpoint");

    [Fact]
    public void Sample_CorruptCheckpoint_Fails()
    {
        Directory.CreateDirectory(_dir.File("corrupt"));
        File.WriteAllBytes(Path.Combine(_dir.File("corrupt"), Checkpoint.FileName), new byte[1000]);
        CliProcess.AssertOneLineError(CliProcess.Run("sample", "--checkpoint", _dir.File("corrupt"), "--max-new-tokens", "4"), "not a NextToken checkpoint");
    }

    [Fact]
    public void Sample_Json_PrintsTokensTextLogprobsFinishReason()
    {
        var r = CliProcess.Run("sample", "--checkpoint", _checkpoint, "--prompt", "the ", "--max-new-tokens", "6", "--seed", "4", "--logprobs", "2", "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = CliProcess.LastJson(r.Out);
        var root = doc.RootElement;
        Assert.Equal(6, root.GetProperty("tokens").GetArrayLength());
        Assert.Equal(6, root.GetProperty("text").GetString()!.Length);
        Assert.Equal("length", root.GetProperty("finish_reason").GetString());
        var lp = root.GetProperty("logprobs");
        Assert.Equal(6, lp.GetArrayLength());
        Assert.True(lp[0].GetProperty("logprob").GetDouble() < 0);
        Assert.Equal(2, lp[0].GetProperty("top_logprobs").GetArrayLength());
    }

    [Fact]
    public void Sample_Streamed_EqualsJsonTextAndSpeculativeGreedy()
    {
        var json = CliProcess.Run("sample", "--checkpoint", _checkpoint, "--prompt", "the ", "--max-new-tokens", "10", "--strategy", "greedy", "--json");
        Assert.True(json.Exit == 0, json.Err);
        using var doc = CliProcess.LastJson(json.Out);
        string text = doc.RootElement.GetProperty("text").GetString()!;
        var streamed = CliProcess.Run("sample", "--checkpoint", _checkpoint, "--prompt", "the ", "--max-new-tokens", "10", "--strategy", "greedy");
        Assert.True(streamed.Exit == 0, streamed.Err);
        Assert.Equal("the " + text + "\n", streamed.Out);
        var spec = CliProcess.Run("sample", "--checkpoint", _checkpoint, "--prompt", "the ", "--max-new-tokens", "10", "--strategy", "speculative", "--draft", _draft, "--temperature", "0", "--json");
        Assert.True(spec.Exit == 0, spec.Err);
        using var specDoc = CliProcess.LastJson(spec.Out);
        Assert.Equal(text, specDoc.RootElement.GetProperty("text").GetString());
        Assert.True(specDoc.RootElement.TryGetProperty("acceptance_rate", out _));
    }

    [Fact]
    public void Sample_PromptLongerThanContext_WarnsAndKeepsLastTokens()
    {
        var r = CliProcess.Run("sample", "--checkpoint", _checkpoint, "--prompt", "the reds saw the best at the star", "--max-new-tokens", "2", "--json");
        Assert.Equal(0, r.Exit);
        Assert.Contains("warning: the prompt has", r.Err);
        using var doc = CliProcess.LastJson(r.Out);
        Assert.True(doc.RootElement.GetProperty("prompt_truncated").GetBoolean());
        Assert.Equal(16, doc.RootElement.GetProperty("prompt_tokens").GetArrayLength());
    }

    [Fact]
    public void BenchGenerate_Json_ReportsEveryStrategyAndContractKeys()
    {
        var r = CliProcess.Run("bench", "generate", "--checkpoint", _checkpoint, "--draft", _draft, "--tokens", "4", "--repeats", "1", "--bandwidth-gbs", "30", "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = CliProcess.LastJson(r.Out);
        var root = doc.RootElement;
        foreach (var key in new[] { "ms_per_step", "tokens_per_second", "gflops", "peak_rss_mb", "bandwidth_bound_tokens_per_second" })
            Assert.True(root.GetProperty(key).GetDouble() > 0, key);
        Assert.InRange(root.GetProperty("acceptance_rate").GetDouble(), 0, 1);
        foreach (var s in new[] { "greedy", "sample_top_p", "beam4", "speculative_greedy", "speculative_sample", "prompt_lookup_greedy" })
            Assert.True(root.GetProperty("strategies").GetProperty(s).GetProperty("tokens_per_second").GetDouble() > 0, s);
    }

    [Fact]
    public void BenchGenerate_Batch_ReportsAggregateRateAndRejectsBadSizes()
    {
        var r = CliProcess.Run("bench", "generate", "--checkpoint", _checkpoint, "--tokens", "4", "--repeats", "1", "--bandwidth-gbs", "30", "--batch", "3", "--json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = CliProcess.LastJson(r.Out);
        var root = doc.RootElement;
        Assert.Equal(3, root.GetProperty("batch").GetInt32());
        double batched = root.GetProperty("batched_decode_tokens_per_second").GetDouble();
        Assert.True(batched > 0);
        Assert.Equal(batched / root.GetProperty("raw_decode_tokens_per_second").GetDouble(), root.GetProperty("batched_speedup").GetDouble(), 1e-9);
        CliProcess.AssertOneLineError(CliProcess.Run("bench", "generate", "--checkpoint", _checkpoint, "--batch", "0"), "--batch");
        CliProcess.AssertOneLineError(CliProcess.Run("bench", "generate", "--checkpoint", _checkpoint, "--batch", "65"), "--batch");
    }
}
