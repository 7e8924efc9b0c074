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
    private float[] _u = [];
    private bool _lastDropout;
    private Tensors.Rng _dropoutState; // the generator as the forward found it: the backward redraws the same mask

    internal LoraAdapter(LoraSet set, Linear layer, IReadOnlyList<LoraSegment> segments, int rank, float scale)
    {
        _set = set; Layer = layer; Segments = segments; _in = layer.In; _out = layer.Out; _r = rank; _scale = scale;
    }

    /// <summary>The adapted layer.</summary>
    public Linear Layer { get; }
    /// <summary>Its LoRA pairs.</summary>
    public IReadOnlyList<LoraSegment> Segments { get; }

    private static Span<float> Slice(float[] arena, TensorSlot s) => arena.AsSpan((int)s.Offset, (int)s.Length);

    // xd (N, In) = x ∘ mask with mask 0 or 1/(1-p) drawn from rng; mask kept in its own scratch.
    private static void DrawDropout(ReadOnlySpan<float> x, Span<float> xd, Span<float> mask, float p, ref Tensors.Rng rng) =>
        Dropout.Forward(x, xd, mask, p, ref rng, x.Length);

    /// <inheritdoc/>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, int N)
    {
        // x (N, In), y (N, Out); u (S, N, r) kept per adapter; the dropped-out input and tmp (N, Rows) are the set's shared scratch.
        int S = Segments.Count, r = _r;
        ReadOnlySpan<float> xin = x[..(N * _in)];
        float p = _set.Training || _set.Model.Training ? _set.Options.Dropout : 0f;
        _lastDropout = p > 0;
        if (_lastDropout)
        {
            _dropoutState = _set.DropoutRng;
            var xd = _set.Scratch(0, N * _in);
            DrawDropout(xin, xd, _set.Scratch(1, N * _in), p, ref _set.DropoutRng);
            xin = xd;
        }
        if (_u.Length < (long)S * N * r) _u = new float[S * N * r];
        for (int s = 0; s < S; s++)
        {
            var seg = Segments[s];
            var u = _u.AsSpan(s * N * r, N * r);
            Matmul.Forward(xin, Slice(_set.Parameters, seg.A), default, u, N, _in, r);
            var tmp = _set.Scratch(2, N * seg.Rows);
            Matmul.Forward(u, Slice(_set.Parameters, seg.B), default, tmp, N, r, seg.Rows);
            for (int n = 0; n < N; n++)
            {
                var yr = y.Slice(n * _out + seg.Row, seg.Rows);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(tmp.Slice(n * seg.Rows, seg.Rows), _scale, yr, yr);
            }
        }
    }

    /// <inheritdoc/>
    public void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int N)
    {
        // dy (N, Out), x (N, In), dx (N, In) or empty; dyS (N, Rows) = s·dy[:, seg], du (N, r): shared scratch.
        int S = Segments.Count, r = _r;
        if (_u.Length < (long)S * N * r) throw new InvalidOperationException("LoRA backward without a forward of the same rows");
        ReadOnlySpan<float> xin = x[..(N * _in)];
        Span<float> mask = default;
        if (_lastDropout)
        {
            var rng = _dropoutState;
            var xd = _set.Scratch(0, N * _in);
            mask = _set.Scratch(1, N * _in);
            DrawDropout(xin, xd, mask, _set.Options.Dropout, ref rng);
            xin = xd;
        }
        bool wantDx = !dx.IsEmpty;
        Span<float> dxTarget = !wantDx ? default : _lastDropout ? _set.Scratch(4, N * _in) : dx;
        if (wantDx && _lastDropout) dxTarget.Clear();
        var grads = _set.Gradients;
        var du = _set.Scratch(3, N * r);
        for (int s = 0; s < S; s++)
        {
            var seg = Segments[s];
            var dyS = _set.Scratch(2, N * seg.Rows);
            for (int n = 0; n < N; n++)
                System.Numerics.Tensors.TensorPrimitives.Multiply(dy.Slice(n * _out + seg.Row, seg.Rows), _scale, dyS.Slice(n * seg.Rows, seg.Rows));
            var u = _u.AsSpan(s * N * r, N * r);
            du.Clear();
            // dB (Rows, r) += dySᵀ·u; du = dyS·B.
            Matmul.Backward(dyS, u, Slice(_set.Parameters, seg.B), du, Slice(grads, seg.B), default, N, r, seg.Rows);
            // dA (r, In) += duᵀ·x; dx += du·A.
            Matmul.Backward(du, xin, Slice(_set.Parameters, seg.A), dxTarget, Slice(grads, seg.A), default, N, _in, r);
        }
        if (wantDx && _lastDropout)
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(dxTarget, mask, dx[..(N * _in)], dx[..(N * _in)]);
    }
}
