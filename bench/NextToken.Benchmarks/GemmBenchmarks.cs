// GemmBenchmarks: the linear layer's three products (forward, input gradient, weight gradient) on the packed,
// blocked Gemm against the first simple kernel (MatmulReference) as baseline, at GPT-2 and odd shapes.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Benchmarks;

/// <summary>
/// Run: <c>dotnet run -c Release --project bench/NextToken.Benchmarks -- --filter '*GemmBenchmarks*'</c>.
/// GFLOP/s = 2·N·C·OC / mean time. The allocation column must read 0 B for the Gemm rows (no allocation per call).
/// Shapes are "N,C,OC": GPT-2's attention projection and MLP at 1024 tokens, a decode-time GEMV, and odd sizes that
/// end inside register tiles and cache blocks.
/// </summary>
[MemoryDiagnoser]
[CategoriesColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class GemmBenchmarks
{
    private float[] _inp = [], _weight = [], _bias = [], _outp = [], _dinp = [], _dweight = [];
    private int _n, _c, _oc;

    /// <summary>N (rows = batch·tokens), C (inputs), OC (outputs).</summary>
    [Params("1024,768,768", "1024,768,3072", "1,768,50257", "97,1000,70", "257,65,33")]
    public string Shape { get; set; } = "1024,768,768";

    [GlobalSetup]
    public void Setup()
    {
        var p = Shape.Split(',').Select(int.Parse).ToArray();
        (_n, _c, _oc) = (p[0], p[1], p[2]);
        _inp = Fill(_n * _c, 1); _weight = Fill(_oc * _c, 2); _bias = Fill(_oc, 3); _outp = Fill(_n * _oc, 4);
        _dinp = new float[_n * _c]; _dweight = new float[_oc * _c];
    }

    private static float[] Fill(int n, ulong seed)
    {
        var a = new float[n];
        new Rng(seed).FillNormal(a, 0f, 1f);
        return a;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("forward")]
    public void ForwardReference() => MatmulReference.Forward(_inp, _weight, _bias, _outp, _n, _c, _oc);

    [Benchmark, BenchmarkCategory("forward")]
    public void Forward() => Matmul.Forward(_inp, _weight, _bias, _outp, _n, _c, _oc);

    [Benchmark(Baseline = true), BenchmarkCategory("input_grad")]
    public void InputGradReference() => MatmulReference.Backward(_outp, _inp, _weight, _dinp, default, default, _n, _c, _oc);

    [Benchmark, BenchmarkCategory("input_grad")]
    public void InputGrad() => Matmul.Backward(_outp, _inp, _weight, _dinp, default, default, _n, _c, _oc);

    [Benchmark(Baseline = true), BenchmarkCategory("weight_grad")]
    public void WeightGradReference() => MatmulReference.Backward(_outp, _inp, _weight, default, _dweight, default, _n, _c, _oc);

    [Benchmark, BenchmarkCategory("weight_grad")]
    public void WeightGrad() => Matmul.Backward(_outp, _inp, _weight, default, _dweight, default, _n, _c, _oc);
}
