// AttentionBenchmarks: fused flash-style causal attention (forward + backward) vs the scalar kernel that stores the
// (T, T) probabilities, at GPT-2's head size (12 heads × 64), odd context lengths.
using BenchmarkDotNet.Attributes;
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Benchmarks;

/// <summary>Run: <c>dotnet run -c Release --project bench/NextToken.Benchmarks -- --filter '*AttentionBenchmarks*' --job short</c>.</summary>
[MemoryDiagnoser]
public class AttentionBenchmarks
{
    private const int B = 1, NH = 12, C = 768;
    private float[] _qkv = [], _out = [], _dout = [], _dqkv = [], _lse = [], _att = [];

    /// <summary>Sequence length.</summary>
    [Params(65, 511)]
    public int T { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(1);
        _qkv = new float[B * T * 3 * C]; rng.FillNormal(_qkv, 0, 1);
        _dout = new float[B * T * C]; rng.FillNormal(_dout, 0, 1);
        _out = new float[B * T * C]; _dqkv = new float[B * T * 3 * C];
        _lse = new float[Attention.ScratchSize(B, T, NH)];
        _att = new float[B * NH * T * T];
    }

    [Benchmark(Baseline = true)]
    public void ScalarForwardBackward()
    {
        ScalarKernels.AttentionForward(_qkv, _out, _att, B, T, C, NH);
        ScalarKernels.AttentionBackward(_dout, _qkv, _att, _dqkv, B, T, C, NH);
    }

    [Benchmark]
    public void FusedForwardBackward()
    {
        Attention.Forward(_qkv, _out, _lse, default, B, T, NH, NH, C / NH);
        Attention.Backward(_dout, _qkv, _out, _lse, default, _dqkv, B, T, NH, NH, C / NH);
    }
}
