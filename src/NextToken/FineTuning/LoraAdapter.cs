// LoraAdapter: y[:, rows of a segment] += (α/r)·dropout(x)·Aᵀ·Bᵀ for each segment of one Linear layer (a fused q/k/v or
// gate/up layer carries one A, B pair per Hugging Face module, as PEFT adapts them separately).
using NextToken.Kernels;
using NextToken.Model.Blocks;
using NextToken.Tensors;

namespace NextToken.FineTuning;

/// <summary>One LoRA pair on output rows [<see cref="Row"/>, Row + <see cref="Rows"/>) of a layer: A (r, In), B (Rows, r).</summary>
public sealed record LoraSegment(string Module, int Row, int Rows, TensorSlot A, TensorSlot B);

/// <summary>
/// The LoRA adapters of one <see cref="Linear"/> layer; parameters and gradients live in the <see cref="LoraSet"/>'s arenas.
/// Keeps u = x·Aᵀ (N, r) per segment (and the dropout mask) from the forward for the backward.
/// </summary>
public sealed class LoraAdapter : ILinearAdapter
{
    private readonly LoraSet _set;
    private readonly int _in, _out, _r;
    private readonly float _scale;
    private float[] _u = [], _tmp = [], _xd = [], _mask = [], _dy = [], _du = [], _dxd = [];

    internal LoraAdapter(LoraSet set, Linear layer, IReadOnlyList<LoraSegment> segments, int rank, float scale)
    {
        _set = set; Layer = layer; Segments = segments; _in = layer.In; _out = layer.Out; _r = rank; _scale = scale;
    }

    /// <summary>The adapted layer.</summary>
    public Linear Layer { get; }
    /// <summary>Its LoRA pairs.</summary>
    public IReadOnlyList<LoraSegment> Segments { get; }

    private static Span<float> Slice(float[] arena, TensorSlot s) => arena.AsSpan((int)s.Offset, (int)s.Length);
    private static void Ensure(ref float[] buffer, long n) { if (buffer.Length < n) buffer = new float[n]; }

    /// <inheritdoc/>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, int N)
    {
        // x (N, In), y (N, Out); u (S, N, r) kept, tmp (N, Rows) scratch.
        int S = Segments.Count, r = _r;
        ReadOnlySpan<float> xin = x[..(N * _in)];
        float p = _set.Training ? _set.Options.Dropout : 0f;
        if (p > 0)
        {
            Ensure(ref _xd, N * _in); Ensure(ref _mask, N * _in);
            Dropout.Forward(xin, _xd, _mask, p, ref _set.DropoutRng, N * _in);
            xin = _xd.AsSpan(0, N * _in);
        }
        _lastDropout = p > 0;
        Ensure(ref _u, (long)S * N * r);
        for (int s = 0; s < S; s++)
        {
            var seg = Segments[s];
            var u = _u.AsSpan(s * N * r, N * r);
            Matmul.Forward(xin, Slice(_set.Parameters, seg.A), default, u, N, _in, r);
            Ensure(ref _tmp, (long)N * seg.Rows);
            var tmp = _tmp.AsSpan(0, N * seg.Rows);
            Matmul.Forward(u, Slice(_set.Parameters, seg.B), default, tmp, N, r, seg.Rows);
            for (int n = 0; n < N; n++)
            {
                var yr = y.Slice(n * _out + seg.Row, seg.Rows);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(tmp.Slice(n * seg.Rows, seg.Rows), _scale, yr, yr);
            }
        }
    }

    private bool _lastDropout;

    /// <inheritdoc/>
    public void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int N)
    {
        // dy (N, Out), x (N, In), dx (N, In) or empty; dyS (N, Rows) = s·dy[:, seg], du (N, r).
        int S = Segments.Count, r = _r;
        ReadOnlySpan<float> xin = _lastDropout ? _xd.AsSpan(0, N * _in) : x[..(N * _in)];
        if (_u.Length < (long)S * N * r) throw new InvalidOperationException("LoRA backward without a forward of the same rows");
        Ensure(ref _du, N * r);
        bool wantDx = !dx.IsEmpty;
        if (wantDx && _lastDropout) { Ensure(ref _dxd, N * _in); _dxd.AsSpan(0, N * _in).Clear(); }
        Span<float> dxTarget = !wantDx ? default : _lastDropout ? _dxd.AsSpan(0, N * _in) : dx;
        var grads = _set.Gradients;
        for (int s = 0; s < S; s++)
        {
            var seg = Segments[s];
            Ensure(ref _dy, (long)N * seg.Rows);
            var dyS = _dy.AsSpan(0, N * seg.Rows);
            for (int n = 0; n < N; n++)
                System.Numerics.Tensors.TensorPrimitives.Multiply(dy.Slice(n * _out + seg.Row, seg.Rows), _scale, dyS.Slice(n * seg.Rows, seg.Rows));
            var u = _u.AsSpan(s * N * r, N * r);
            var du = _du.AsSpan(0, N * r);
            du.Clear();
            // dB (Rows, r) += dySᵀ·u; du = dyS·B.
            Matmul.Backward(dyS, u, Slice(_set.Parameters, seg.B), du, Slice(grads, seg.B), default, N, r, seg.Rows);
            // dA (r, In) += duᵀ·x; dx += du·A.
            Matmul.Backward(du, xin, Slice(_set.Parameters, seg.A), dxTarget, Slice(grads, seg.A), default, N, _in, r);
        }
        if (wantDx && _lastDropout)
        {
            var dxd = _dxd.AsSpan(0, N * _in);
            var mask = _mask.AsSpan(0, N * _in);
            for (int i = 0; i < N * _in; i++) dx[i] += dxd[i] * mask[i];
        }
    }
}
