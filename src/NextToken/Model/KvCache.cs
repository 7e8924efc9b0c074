// KvCache: keys and values of every layer for one sequence, so each new token costs O(context), not a recompute.
namespace NextToken.Model;

/// <summary>
/// Cached attention keys and values of one sequence. <c>Keys</c> and <c>Values</c> are (L, Capacity, W) with W = NKV·HS,
/// the key/value heads side by side as in the QKV projection (head h owns columns h*HS .. h*HS+HS-1), so a
/// grouped-query model caches NKV heads, not NH. For rotary models
/// the cached keys are already rotated. <see cref="Truncate"/> rolls back (speculative decoding's rejections);
/// <see cref="CopyFrom"/> forks (beam search).
/// </summary>
public sealed unsafe class KvCache
{
    /// <summary>Creates an empty cache for <paramref name="layers"/> layers of width <paramref name="width"/>.</summary>
    public KvCache(int layers, int capacity, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        Layers = layers;
        Capacity = capacity;
        Width = width;
        // Pinned (pinned object heap): batched decoding hands the kernels raw pointers to many caches at once.
        Keys = GC.AllocateArray<float>(checked(layers * capacity * width), pinned: true);
        Values = GC.AllocateArray<float>(checked(layers * capacity * width), pinned: true);
    }

    /// <summary>Number of layers (L).</summary>
    public int Layers { get; }
    /// <summary>Maximum number of positions (the model's context length).</summary>
    public int Capacity { get; }
    /// <summary>Key/value width per position (NKV·HS: C for multi-head attention).</summary>
    public int Width { get; }
    /// <summary>Number of positions filled so far.</summary>
    public int Length { get; internal set; }
    /// <summary>Keys, (L, Capacity, W).</summary>
    public float[] Keys { get; }
    /// <summary>Values, (L, Capacity, W).</summary>
    public float[] Values { get; }

    /// <summary>Keys of layer <paramref name="layer"/>, (Capacity, W).</summary>
    public Span<float> LayerKeys(int layer) => Keys.AsSpan(layer * Capacity * Width, Capacity * Width);
    /// <summary>Values of layer <paramref name="layer"/>, (Capacity, W).</summary>
    public Span<float> LayerValues(int layer) => Values.AsSpan(layer * Capacity * Width, Capacity * Width);

    /// <summary>Address of layer <paramref name="layer"/>'s keys (the arrays are pinned: it never changes).</summary>
    internal float* LayerKeysPointer(int layer) =>
        (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(Keys)) + (long)layer * Capacity * Width;
    /// <summary>Address of layer <paramref name="layer"/>'s values.</summary>
    internal float* LayerValuesPointer(int layer) =>
        (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(Values)) + (long)layer * Capacity * Width;

    /// <summary>Forgets every position from <paramref name="length"/> on.</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        Length = length;
    }

    /// <summary>Empties the cache.</summary>
    public void Clear() => Length = 0;

    /// <summary>Makes this cache a copy of <paramref name="source"/> (same shape), copying only the filled positions.</summary>
    public void CopyFrom(KvCache source)
    {
        if (source.Layers != Layers || source.Capacity != Capacity || source.Width != Width)
            throw new ArgumentException("caches of different shapes cannot be copied into each other");
        int n = source.Length * Width;
        for (int l = 0; l < Layers; l++)
        {
            source.LayerKeys(l)[..n].CopyTo(LayerKeys(l));
            source.LayerValues(l)[..n].CopyTo(LayerValues(l));
        }
        Length = source.Length;
    }
}
