// OptimizerBenchmarks: AdamW over an arena of 4M + 17 floats (a 16 MB slice of GPT-2's 0.5 GB), scalar vs fused
// vectorised parallel chunks; and the global gradient norm.
using BenchmarkDotNet.Attributes;
using NextToken.Tensors;
using NextToken.Training;

namespace NextToken.Benchmarks;

/// <summary>Run: <c>dotnet run -c Release --project bench/NextToken.Benchmarks -- --filter '*OptimizerBenchmarks*' --job short</c>.</summary>
[MemoryDiagnoser]
public class OptimizerBenchmarks
{
    private const int Size = (1 << 22) + 17;
    private float[] _p = [], _g = [], _m = [], _v = [];
    private AdamW _adam = null!;

    [GlobalSetup]
    public void Setup()
    {
        var layout = new TensorLayout();
        layout.Add("w", TensorKind.Matrix, Size);
        var rng = new Rng(3);
        _p = new float[layout.Size]; _g = new float[layout.Size]; _m = new float[layout.Size]; _v = new float[layout.Size];
        rng.FillNormal(_p, 0, 0.02f); rng.FillNormal(_g, 0, 1e-3f);
        _adam = new AdamW(layout, new AdamWOptions());
    }

    [Benchmark(Baseline = true)]
    public void AdamWScalar() => ScalarKernels.AdamW(_p, _g, _m, _v, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 10);

    [Benchmark]
    public void AdamWFused() => _adam.Update(_p, _g, 1e-4f);

    [Benchmark]
    public float GlobalNorm() => GradientClipping.GlobalNorm(_g);
}
