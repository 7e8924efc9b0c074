// TokenizerBenchmarks: encode throughput (one thread) of GPT-2's r50k_base vs our trained BPE through
// Microsoft.ML.Tokenizers, and training time on tinyshakespeare. Needs ../shared/data/tinyshakespeare.txt.
using BenchmarkDotNet.Attributes;
using NextToken.Tokenization;

namespace NextToken.Benchmarks;

/// <summary>
/// Run: <c>dotnet run -c Release --project bench/NextToken.Benchmarks -- --filter '*TokenizerBenchmarks*'</c>.
/// MB/s = 1.115 MB / mean time of an Encode.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class TokenizerBenchmarks
{
    private string _text = "";
    private ITokenizer _gpt2 = null!, _cl100k = null!, _bpe4k = null!, _bpe16k = null!;

    [GlobalSetup]
    public void Setup()
    {
        string? path = null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null && path is null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "data", "tinyshakespeare.txt");
            if (File.Exists(candidate)) path = candidate;
        }
        _text = File.ReadAllText(path ?? throw new FileNotFoundException("shared/data/tinyshakespeare.txt not found above " + AppContext.BaseDirectory));
        _gpt2 = TiktokenEncoding.Gpt2;
        _cl100k = TiktokenEncoding.Cl100k;
        _bpe4k = BpeTrainer.Train(_text, new BpeTrainerOptions { VocabSize = 4096 }).Tokenizer;
        // A larger vocabulary (most words one token, as with r50k_base) shows the encoder's speed without the extra
        // merges a small vocabulary needs per word.
        _bpe16k = BpeTrainer.Train(_text, new BpeTrainerOptions { VocabSize = 16384 }).Tokenizer;
    }

    [Benchmark(Baseline = true)]
    public int EncodeGpt2() => _gpt2.Encode(_text).Length;

    [Benchmark]
    public int EncodeCl100k() => _cl100k.Encode(_text).Length;

    [Benchmark]
    public int EncodeTrainedBpe4096() => _bpe4k.Encode(_text).Length;

    [Benchmark]
    public int EncodeTrainedBpe16384() => _bpe16k.Encode(_text).Length;

    [Benchmark]
    public int TrainBpe4096() => BpeTrainer.Train(_text, new BpeTrainerOptions { VocabSize = 4096 }).Tokenizer.VocabSize;
}
