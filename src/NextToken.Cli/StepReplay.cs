// StepReplay: one training step's matrix products and attention, replayed outside the model on buffers of the same
// shapes, so `bench train` can split its step time without timers inside the model.
using System.Diagnostics;
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Tensors;

namespace NextToken.Cli;

/// <summary>
/// Times the kernels of one training step of <c>config</c> at batch B × T: every linear layer's forward and backward
/// (<see cref="Linears"/>, N = B·T rows) and attention forward and backward per layer. The buffers hold random values,
/// not the model's activations, so the figures are replayed timings: the same shapes and kernels, not the same call.
/// </summary>
internal sealed class StepReplay
{
    private readonly GptConfig _cfg;
    private readonly int _b, _t;
    private readonly float[] _inp, _dinp, _out, _weight, _dweight, _bias, _dbias;
    private readonly AttentionBuffers _attention;

    /// <summary>One linear layer of the step: input width, output width, how many per step.</summary>
    public readonly record struct Linear(string Name, int C, int OC, int Count);

    /// <summary>
    /// The linear layers of one step: per layer c_attn (C → (NH+2·NKV)·HS), attn c_proj (NH·HS → C), mlp c_fc
    /// (C → F, or 2F for SwiGLU's gate and up projections), mlp c_proj (F → C); then the LM head (C → V, the real
    /// vocabulary). Each runs forward, input gradient and weight gradient.
    /// </summary>
    public static IReadOnlyList<Linear> Linears(GptConfig cfg)
    {
        int C = cfg.EmbeddingSize, F = cfg.MlpSize, L = cfg.Layers;
        return
        [
            new("attn.c_attn", C, cfg.QkvSize, L),
            new("attn.c_proj", cfg.Heads * cfg.HeadSize, C, L),
            new("mlp.c_fc", C, cfg.Mlp == MlpKind.SwiGlu ? 2 * F : F, L),
            new("mlp.c_proj", F, C, L),
            new("lm_head", C, cfg.VocabSize, 1),
        ];
    }

    // The model runs the LM head over row chunks of at most 32 Mi logits (GptActivations.LogitRows); so does the replay.
    private static int HeadRows(GptConfig cfg, int N) => (int)Math.Clamp(32L * 1024 * 1024 / cfg.VocabSize, 1, N);

    public StepReplay(GptConfig config, int B, int T)
    {
        _cfg = config;
        _b = B;
        _t = T;
        int N = B * T;
        var linears = Linears(config);
        long inFloats = (long)N * linears.Max(l => l.C);
        long outFloats = Math.Max((long)N * linears.Where(l => l.Name != "lm_head").Max(l => l.OC), (long)HeadRows(config, N) * config.VocabSize);
        long maxWeight = linears.Max(l => (long)l.C * l.OC);
        var rng = new Rng(11);
        _inp = Filled(inFloats, ref rng);
        _dinp = new float[inFloats];
        _out = Filled(outFloats, ref rng);
        _weight = Filled(maxWeight, ref rng, 0.02f);
        _dweight = new float[maxWeight];
        _bias = config.Bias ? Filled(linears.Max(l => l.OC), ref rng, 0.02f) : [];
        _dbias = new float[_bias.Length];
        _attention = new AttentionBuffers(config, B, T, ref rng);
    }

    private static float[] Filled(long n, ref Rng rng, float std = 1f)
    {
        var a = new float[n];
        rng.FillNormal(a, 0, std);
        return a;
    }

    /// <summary>Seconds of one step's matrix products and of its attention (forward and backward, every layer).</summary>
    public (double MatmulSeconds, double AttentionSeconds) Run()
    {
        int N = _b * _t;
        long matmul = 0, attention = 0;
        foreach (var l in Linears(_cfg))
        {
            bool head = l.Name == "lm_head";
            int rows = head ? HeadRows(_cfg, N) : N;
            var bias = head || !_cfg.Bias ? default : _bias.AsSpan(0, l.OC);
            var dbias = head || !_cfg.Bias ? default : _dbias.AsSpan(0, l.OC);
            var w = _weight.AsSpan(0, l.C * l.OC);
            var dw = _dweight.AsSpan(0, l.C * l.OC);
            for (int k = 0; k < l.Count; k++)
                for (int r0 = 0; r0 < N; r0 += rows)
                {
                    int n = Math.Min(rows, N - r0);
                    var x = _inp.AsSpan(0, n * l.C);
                    var y = _out.AsSpan(0, n * l.OC);
                    long t0 = Stopwatch.GetTimestamp();
                    Matmul.Forward(x, w, bias, y, n, l.C, l.OC);
                    Matmul.Backward(y, x, w, _dinp.AsSpan(0, n * l.C), dw, dbias, n, l.C, l.OC);
                    matmul += Stopwatch.GetTimestamp() - t0;
                }
        }
        for (int layer = 0; layer < _cfg.Layers; layer++)
        {
            long t0 = Stopwatch.GetTimestamp();
            _attention.ForwardBackward();
            attention += Stopwatch.GetTimestamp() - t0;
        }
        return ((double)matmul / Stopwatch.Frequency, (double)attention / Stopwatch.Frequency);
    }

    /// <summary>One layer's attention buffers and kernel calls (grouped-query models read NKV key/value heads).</summary>
    private sealed class AttentionBuffers
    {
        private readonly float[] _qkv, _out, _scratch, _dout, _dqkv;
        private readonly int _b, _t, _nh, _nkv, _hs;

        public AttentionBuffers(GptConfig cfg, int B, int T, ref Rng rng)
        {
            _b = B; _t = T; _nh = cfg.Heads; _nkv = cfg.KvHeadCount; _hs = cfg.HeadSize;
            int N = B * T, Cq = _nh * _hs;
            _qkv = Filled((long)N * cfg.QkvSize, ref rng);
            _out = new float[N * Cq];
            _scratch = new float[Attention.ScratchSize(B, T, _nh)];
            _dout = Filled((long)N * Cq, ref rng);
            _dqkv = new float[N * cfg.QkvSize];
        }

        public void ForwardBackward()
        {
            Attention.Forward(_qkv, _out, _scratch, default, _b, _t, _nh, _nkv, _hs);
            Attention.Backward(_dout, _qkv, _out, _scratch, default, _dqkv, _b, _t, _nh, _nkv, _hs);
        }
    }
}
