// ElementwiseBenchmarks: LayerNorm, GELU and the fused softmax cross-entropy (forward + backward) vs scalar loops,
// at odd sizes near GPT-2's (rows × 769 for LayerNorm, rows × 3073 for GELU, 17 rows × 50257 for the loss).
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Benchmarks;

/// <summary>Run: <c>dotnet run -c Release --project bench/NextToken.Benchmarks -- --filter '*ElementwiseBenchmarks*' --job short</c>.</summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class ElementwiseBenchmarks
{
    private const int N = 255, C = 769, F = 3073, Rows = 17, V = 50257;
    private float[] _x = [], _y = [], _dy = [], _dx = [], _w = [], _b = [], _dw = [], _db = [], _mean = [], _rstd = [];
    private float[] _h = [], _hg = [], _dh = [], _logits = [], _work = [], _losses = [];
    private int[] _targets = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(2);
        float[] R(int n) { var a = new float[n]; rng.FillNormal(a, 0, 1); return a; }
        _x = R(N * C); _dy = R(N * C); _w = R(C); _b = R(C);
        _y = new float[N * C]; _dx = new float[N * C]; _dw = new float[C]; _db = new float[C]; _mean = new float[N]; _rstd = new float[N];
        _h = R(N * F); _dh = R(N * F); _hg = new float[N * F];
        _logits = R(Rows * V); _work = new float[Rows * V]; _losses = new float[Rows];
        _targets = Enumerable.Range(0, Rows).Select(i => i * 101 % V).ToArray();
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("LayerNorm")]
    public void LayerNormScalar()
    {
        ScalarKernels.LayerNormForward(_x, _w, _b, _y, _mean, _rstd, N, C, 1e-5f);
        ScalarKernels.LayerNormBackward(_dy, _x, _w, _mean, _rstd, _dx, _dw, _db, N, C);
    }

    [Benchmark]
    [BenchmarkCategory("LayerNorm")]
    public void LayerNormFused()
    {
        LayerNorm.Forward(_x, _w, _b, _y, _mean, _rstd, N, C, 1e-5f);
        LayerNorm.Backward(_dy, _x, _w, _mean, _rstd, _dx, _dw, _db, N, C);
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Gelu")]
    public void GeluScalar()
    {
        ScalarKernels.GeluForward(_h, _hg, N * F);
        ScalarKernels.GeluBackward(_h, _dh, _hg, N * F);
    }

    [Benchmark]
    [BenchmarkCategory("Gelu")]
    public void GeluVectorised()
    {
        Gelu.Forward(_h, _hg, N * F);
        Gelu.Backward(_h, _dh, _hg, N * F);
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("CrossEntropy")]
    public void CrossEntropyScalar()
    {
        _logits.CopyTo(_work, 0);
        ScalarKernels.CrossEntropy(_work, _targets, _losses, Rows, V, 0.01f);
    }

    [Benchmark]
    [BenchmarkCategory("CrossEntropy")]
    public void CrossEntropyFused()
    {
        _logits.CopyTo(_work, 0);
        CrossEntropy.ForwardBackward(_work, _targets, _losses, Rows, V, 0.01f);
    }
}
