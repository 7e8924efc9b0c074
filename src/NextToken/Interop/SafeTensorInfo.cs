// SafeTensorInfo: one entry of a safetensors header.
namespace NextToken.Interop;

/// <summary>A tensor of a safetensors file: dtype name (F32, F16, BF16, …), shape, and byte range within the data block.</summary>
public sealed record SafeTensorInfo(string Name, string Dtype, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements (the product of the shape; 1 for a scalar).</summary>
    public long ElementCount
    {
        get { long n = 1; foreach (long d in Shape) n *= d; return n; }
    }

    /// <summary>The shape as text, e.g. (768, 2304).</summary>
    public string ShapeText => "(" + string.Join(", ", Shape) + ")";
}
