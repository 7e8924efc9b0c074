// TensorLayout: one (name, shape) list that places every tensor of an arena at a fixed offset.
namespace NextToken.Tensors;

/// <summary>Where one named tensor lives inside an arena.</summary>
/// <param name="Name">Hugging Face style name, e.g. <c>h.3.attn.c_attn.weight</c>.</param>
/// <param name="Shape">Row-major shape.</param>
/// <param name="Offset">First element inside the arena.</param>
/// <param name="Kind">What the tensor is for (decides weight decay, init, export).</param>
public sealed record TensorSlot(string Name, int[] Shape, long Offset, TensorKind Kind)
{
    /// <summary>Position in its layout's list (per-tensor tables, e.g. gradient offsets, are indexed by it).</summary>
    public int Index { get; init; }

    /// <summary>Number of elements.</summary>
    public long Length
    {
        get { long n = 1; foreach (int d in Shape) n *= d; return n; }
    }
}

/// <summary>The role of a tensor, used by init, weight decay and export.</summary>
public enum TensorKind
{
    /// <summary>A 2-D weight matrix (decayed by AdamW).</summary>
    Matrix,
    /// <summary>An embedding table (decayed, as nanoGPT does for every 2-D tensor).</summary>
    Embedding,
    /// <summary>A bias vector (not decayed).</summary>
    Bias,
    /// <summary>A LayerNorm gain (not decayed).</summary>
    Gain,
    /// <summary>An activation buffer (not a parameter).</summary>
    Activation,
}

/// <summary>
/// An ordered list of tensors with offsets into one contiguous float array. Parameters, gradients and both Adam
/// moments share one layout, so the optimizer is one loop and a checkpoint is one header plus one block.
/// Adding a tensor is one <see cref="Add"/> call.
/// </summary>
public sealed class TensorLayout
{
    private readonly List<TensorSlot> _slots = [];
    private readonly Dictionary<string, TensorSlot> _byName = new(StringComparer.Ordinal);

    /// <summary>Total number of floats.</summary>
    public long Size { get; private set; }

    /// <summary>The tensors in the order they were added.</summary>
    public IReadOnlyList<TensorSlot> Slots => _slots;

    /// <summary>Appends a tensor; offsets are rounded up to 16 floats (64 bytes) so every tensor starts on a cache line.</summary>
    public TensorSlot Add(string name, TensorKind kind, params int[] shape)
    {
        if (_byName.ContainsKey(name)) throw new ArgumentException($"tensor '{name}' is already in the layout", nameof(name));
        long offset = (Size + 15) & ~15L;
        var slot = new TensorSlot(name, shape, offset, kind) { Index = _slots.Count };
        _slots.Add(slot);
        _byName.Add(name, slot);
        Size = offset + slot.Length;
        return slot;
    }

    /// <summary>Looks a tensor up by name.</summary>
    public TensorSlot this[string name] =>
        _byName.TryGetValue(name, out var s) ? s : throw new KeyNotFoundException($"no tensor named '{name}' in this layout");

    /// <summary>True when the layout has a tensor called <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);
}
