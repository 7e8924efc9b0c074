// Dtypes: fp32 → bf16 / fp16 rounding for exports (round to nearest even; NaN stays NaN).
namespace NextToken.Interop;

internal static class Dtypes
{
    /// <summary>bfloat16 bits of <paramref name="x"/>, rounded to nearest even (what torch's .to(bfloat16) does).</summary>
    public static ushort ToBf16(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        if (float.IsNaN(x)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>IEEE half bits of <paramref name="x"/> (round to nearest even, overflow to infinity).</summary>
    public static ushort ToF16(float x) => BitConverter.HalfToUInt16Bits((Half)x);
}
