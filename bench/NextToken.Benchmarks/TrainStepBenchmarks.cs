// TrainStepBenchmarks: one full training step (zero, forward, backward, clip, AdamW) of the char-tiny model and one
// KV-cache decode token; [MemoryDiagnoser] shows what a steady-state step allocates (the matrix products included).
using BenchmarkDotNet.Attributes;
using NextToken.Model;
using NextToken.Training;

namespace NextToken.Benchmarks;

/// <summary>Run: <c>dotnet run -c Release --project bench/NextToken.Benchmarks -- --filter '*TrainStepBenchmarks*' --job short</c>.</summary>
[MemoryDiagnoser]
public class TrainStepBenchmarks
{
    private const int B = 8, T = 64;
    private GptModel _model = null!;
    private AdamW _adam = null!;
    private int[] _inputs = [], _targets = [];
    private KvCache _cache = null!;
    private float[] _logits = [];
    private readonly int[] _token = [3];

    [GlobalSetup]
    public void Setup()
    {
        _model = new GptModel(GptPresets.Get("char-tiny"), seed: 1);
        _model.EnableGradients();
        _adam = new AdamW(_model.Layout, new AdamWOptions());
        _inputs = Enumerable.Range(0, B * T).Select(i => i * 7 % 65).ToArray();
        _targets = Enumerable.Range(0, B * T).Select(i => i * 11 % 65).ToArray();
        _cache = _model.CreateCache();
        _logits = new float[_model.VocabSize];
    }

    [Benchmark]
    public float TrainStep()
    {
        _model.ZeroGradients();
        float loss = _model.Forward(_inputs, _targets, B, T, computeGradients: true);
        _model.Backward();
        float norm = GradientClipping.GlobalNorm(_model.Gradients!);
        _adam.Update(_model.Parameters, _model.Gradients!, 1e-3f, GradientClipping.ClipScale(norm, 1f));
        return loss;
    }

    [Benchmark]
    public void DecodeToken()
    {
        if (_cache.Length == _cache.Capacity) _cache.Clear();
        _model.Forward(_cache, _token, _logits);
    }
}
