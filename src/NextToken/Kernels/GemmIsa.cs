// GemmIsa: which micro-kernel family Gemm runs; Auto picks the widest the JIT accelerates.
using System.Runtime.Intrinsics;

namespace NextToken.Kernels;

/// <summary>Instruction-set path of <see cref="Gemm"/> (and of <see cref="RmsNorm"/>, <see cref="SwiGlu"/>, <see cref="Attention"/>); tests force each one in-process, production uses <see cref="Auto"/>.</summary>
internal enum GemmIsa
{
    /// <summary>Widest accelerated: Vector512, else Vector256, else scalar (follows DOTNET_EnableAVX512F / DOTNET_EnableAVX2).</summary>
    Auto,
    /// <summary>Plain scalar loops (4x4 tile).</summary>
    Scalar,
    /// <summary>Vector256 FMA (6x16 tile).</summary>
    Vector256,
    /// <summary>Vector512 FMA (8x32 tile).</summary>
    Vector512,
}

/// <summary>Resolution of <see cref="GemmIsa.Auto"/>.</summary>
internal static class GemmIsaExtensions
{
    /// <summary>The concrete path for <paramref name="isa"/>; an explicit request the hardware lacks is an error.</summary>
    public static GemmIsa Resolve(this GemmIsa isa) => isa switch
    {
        GemmIsa.Auto => Vector512.IsHardwareAccelerated ? GemmIsa.Vector512
                      : Vector256.IsHardwareAccelerated ? GemmIsa.Vector256 : GemmIsa.Scalar,
        GemmIsa.Vector512 when !Vector512.IsHardwareAccelerated => throw new PlatformNotSupportedException("Vector512 is not accelerated here"),
        GemmIsa.Vector256 when !Vector256.IsHardwareAccelerated => throw new PlatformNotSupportedException("Vector256 is not accelerated here"),
        _ => isa,
    };
}
