// DecodeBenchmarks: one batch-1 KV-cache decode step of GPT-2 small (random weights) through ICausalLm.Forward, and
// the same through DecodeThroughput's greedy loop. tokens/s = 1 / mean; the memory-bandwidth bound is
// STREAM bandwidth ÷ 498 MB of fp32 weights read per token (≈ 60 tokens/s at 30 GB/s).
using BenchmarkDotNet.Attributes;
using NextToken.Model;

namespace NextToken.Benchmarks;

/// <summary>Run: <c>dotnet run -c Release --project bench/NextToken.Benchmarks -- --filter '*DecodeBenchmarks*' --job short</c>.</summary>
[MemoryDiagnoser]
public class DecodeBenchmarks
{
    private GptModel _model = null!;
    private KvCache _cache = null!;
    private float[] _logits = [];
    private readonly int[] _token = [464];

    [GlobalSetup]
    public void Setup()
    {
        _model = new GptModel(GptPresets.Get("gpt2"), seed: 1);
        _cache = _model.CreateCache();
        _logits = new float[_model.VocabSize];
    }

    /// <summary>One token at positions 0 .. 127 (the cache is emptied every 128 tokens).</summary>
    [Benchmark]
    public void Gpt2DecodeToken()
    {
        if (_cache.Length == 128) _cache.Clear();
        _model.Forward(_cache, _token, _logits);
    }

    /// <summary>32 greedy tokens after a 16-token prompt (per-call time / 32 ≈ time per token).</summary>
    [Benchmark]
    public double Gpt2Greedy32() => DecodeThroughput.Measure(_model, 16, 32).TokensPerSecond;
}
