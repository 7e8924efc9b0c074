// ParameterStore: the parameter arena and, for the trainable tensors only, the gradient arena.
using NextToken.Tensors;

namespace NextToken.Model;

/// <summary>
/// Parameters live in one arena laid out by <see cref="Layout"/>. Gradients exist for trainable tensors only: they get
/// their own, smaller layout (<see cref="GradientLayout"/>, same names), so a frozen tensor costs no gradient memory,
/// no optimizer state and — since its gradient span is empty — no weight-gradient product in backward.
/// </summary>
internal sealed class ParameterStore
{
    private readonly bool[] _trainable;
    private long[] _gradientOffset;

    public ParameterStore(TensorLayout layout)
    {
        Layout = layout;
        Values = new float[layout.Size];
        _trainable = Enumerable.Repeat(true, layout.Slots.Count).ToArray();
        _gradientOffset = new long[layout.Slots.Count];
        GradientLayout = BuildGradientLayout();
    }

    public TensorLayout Layout { get; }
    public float[] Values { get; }
    public float[]? Gradients { get; private set; }
    public TensorLayout GradientLayout { get; private set; }

    public bool IsTrainable(TensorSlot slot) => _trainable[slot.Index];

    /// <summary>Marks tensors trainable or frozen; the gradient arena (if any) is reallocated, zeroed.</summary>
    public void SetTrainable(Func<TensorSlot, bool> select, bool trainable)
    {
        bool changed = false;
        foreach (var s in Layout.Slots)
            if (select(s) && _trainable[s.Index] != trainable) { _trainable[s.Index] = trainable; changed = true; }
        if (!changed) return;
        GradientLayout = BuildGradientLayout();
        if (Gradients is not null) Gradients = new float[GradientLayout.Size];
    }

    private TensorLayout BuildGradientLayout()
    {
        var g = new TensorLayout();
        _gradientOffset = new long[Layout.Slots.Count];
        foreach (var s in Layout.Slots)
        {
            if (!_trainable[s.Index]) { _gradientOffset[s.Index] = -1; continue; }
            _gradientOffset[s.Index] = g.Add(s.Name, s.Kind, s.Shape).Offset;
        }
        return g;
    }

    public void EnableGradients() => Gradients ??= new float[GradientLayout.Size];

    /// <summary>The parameter tensor (empty for a missing optional tensor).</summary>
    public Span<float> P(TensorSlot? s) => s is null ? Span<float>.Empty : Values.AsSpan((int)s.Offset, (int)s.Length);

    /// <summary>The gradient of a tensor; empty when it is frozen, missing, or gradients are not enabled (backward then skips it).</summary>
    public Span<float> G(TensorSlot? s)
    {
        if (s is null || Gradients is null) return Span<float>.Empty;
        long off = _gradientOffset[s.Index];
        return off < 0 ? Span<float>.Empty : Gradients.AsSpan((int)off, (int)s.Length);
    }
}
