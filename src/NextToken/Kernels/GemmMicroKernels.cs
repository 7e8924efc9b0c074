// GemmMicroKernels: the register-tiled inner loops of Gemm (8x32 Vector512, 6x16 Vector256, 4x4 scalar).
// Each SIMD kernel is unrolled over the rows of its tile so every accumulator lives in its own register.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NextToken.Kernels;

/// <summary>
/// Micro-kernels: one MR x NR tile of C held in registers while k runs over a packed A panel (kc, MR) and a packed
/// B panel (kc, NR), both k-major, so each k step is NR/W vector loads of B, MR broadcasts of A and 2·MR FMAs.
/// Every tile element is summed in k order from its starting value, so results never depend on the tiling.
/// </summary>
internal static unsafe class GemmMicroKernels
{
    /// <summary>Rows of the Vector512 register tile.</summary>
    public const int Mr512 = 8;
    /// <summary>Columns of the Vector512 register tile (two vectors).</summary>
    public const int Nr512 = 32;
    /// <summary>Rows of the Vector256 register tile.</summary>
    public const int Mr256 = 6;
    /// <summary>Columns of the Vector256 register tile (two vectors).</summary>
    public const int Nr256 = 16;
    /// <summary>Rows and columns of the scalar tile.</summary>
    public const int MrScalar = 4, NrScalar = 4;

    /// <summary>Vector512 micro-kernel: the 8x32 tile c (row stride ldc) = (loadC ? c : init or 0) + pa (kc, 8)^T pb (kc, 32), k in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel512(int kc, float* pa, float* pb, float* c, nint ldc, float* init, bool loadC)
    {
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (loadC)
        {
            c00 = Vector512.Load(c + 0 * ldc); c01 = Vector512.Load(c + 0 * ldc + 16);
            c10 = Vector512.Load(c + 1 * ldc); c11 = Vector512.Load(c + 1 * ldc + 16);
            c20 = Vector512.Load(c + 2 * ldc); c21 = Vector512.Load(c + 2 * ldc + 16);
            c30 = Vector512.Load(c + 3 * ldc); c31 = Vector512.Load(c + 3 * ldc + 16);
            c40 = Vector512.Load(c + 4 * ldc); c41 = Vector512.Load(c + 4 * ldc + 16);
            c50 = Vector512.Load(c + 5 * ldc); c51 = Vector512.Load(c + 5 * ldc + 16);
            c60 = Vector512.Load(c + 6 * ldc); c61 = Vector512.Load(c + 6 * ldc + 16);
            c70 = Vector512.Load(c + 7 * ldc); c71 = Vector512.Load(c + 7 * ldc + 16);
        }
        else
        {
            var i0 = init != null ? Vector512.Load(init) : Vector512<float>.Zero;
            var i1 = init != null ? Vector512.Load(init + 16) : Vector512<float>.Zero;
            c00 = i0; c01 = i1; c10 = i0; c11 = i1; c20 = i0; c21 = i1; c30 = i0; c31 = i1; c40 = i0; c41 = i1; c50 = i0; c51 = i1; c60 = i0; c61 = i1; c70 = i0; c71 = i1;
        }
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(pb); var b1 = Vector512.Load(pb + 16);
            var a0 = Vector512.Create(pa[0]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(pa[1]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(pa[2]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(pa[3]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector512.Create(pa[4]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector512.Create(pa[5]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            var a6 = Vector512.Create(pa[6]); c60 = Vector512.FusedMultiplyAdd(a6, b0, c60); c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
            var a7 = Vector512.Create(pa[7]); c70 = Vector512.FusedMultiplyAdd(a7, b0, c70); c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
            pa += 8; pb += 32;
        }
        Vector512.Store(c00, c + 0 * ldc); Vector512.Store(c01, c + 0 * ldc + 16);
        Vector512.Store(c10, c + 1 * ldc); Vector512.Store(c11, c + 1 * ldc + 16);
        Vector512.Store(c20, c + 2 * ldc); Vector512.Store(c21, c + 2 * ldc + 16);
        Vector512.Store(c30, c + 3 * ldc); Vector512.Store(c31, c + 3 * ldc + 16);
        Vector512.Store(c40, c + 4 * ldc); Vector512.Store(c41, c + 4 * ldc + 16);
        Vector512.Store(c50, c + 5 * ldc); Vector512.Store(c51, c + 5 * ldc + 16);
        Vector512.Store(c60, c + 6 * ldc); Vector512.Store(c61, c + 6 * ldc + 16);
        Vector512.Store(c70, c + 7 * ldc); Vector512.Store(c71, c + 7 * ldc + 16);
    }

    /// <summary>Vector256 micro-kernel: the 6x16 tile c (row stride ldc) = (loadC ? c : init or 0) + pa (kc, 6)^T pb (kc, 16), k in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel256(int kc, float* pa, float* pb, float* c, nint ldc, float* init, bool loadC)
    {
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (loadC)
        {
            c00 = Vector256.Load(c + 0 * ldc); c01 = Vector256.Load(c + 0 * ldc + 8);
            c10 = Vector256.Load(c + 1 * ldc); c11 = Vector256.Load(c + 1 * ldc + 8);
            c20 = Vector256.Load(c + 2 * ldc); c21 = Vector256.Load(c + 2 * ldc + 8);
            c30 = Vector256.Load(c + 3 * ldc); c31 = Vector256.Load(c + 3 * ldc + 8);
            c40 = Vector256.Load(c + 4 * ldc); c41 = Vector256.Load(c + 4 * ldc + 8);
            c50 = Vector256.Load(c + 5 * ldc); c51 = Vector256.Load(c + 5 * ldc + 8);
        }
        else
        {
            var i0 = init != null ? Vector256.Load(init) : Vector256<float>.Zero;
            var i1 = init != null ? Vector256.Load(init + 8) : Vector256<float>.Zero;
            c00 = i0; c01 = i1; c10 = i0; c11 = i1; c20 = i0; c21 = i1; c30 = i0; c31 = i1; c40 = i0; c41 = i1; c50 = i0; c51 = i1;
        }
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(pb); var b1 = Vector256.Load(pb + 8);
            var a0 = Vector256.Create(pa[0]); c00 = Vector256.FusedMultiplyAdd(a0, b0, c00); c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector256.Create(pa[1]); c10 = Vector256.FusedMultiplyAdd(a1, b0, c10); c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector256.Create(pa[2]); c20 = Vector256.FusedMultiplyAdd(a2, b0, c20); c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector256.Create(pa[3]); c30 = Vector256.FusedMultiplyAdd(a3, b0, c30); c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector256.Create(pa[4]); c40 = Vector256.FusedMultiplyAdd(a4, b0, c40); c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector256.Create(pa[5]); c50 = Vector256.FusedMultiplyAdd(a5, b0, c50); c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            pa += 6; pb += 16;
        }
        Vector256.Store(c00, c + 0 * ldc); Vector256.Store(c01, c + 0 * ldc + 8);
        Vector256.Store(c10, c + 1 * ldc); Vector256.Store(c11, c + 1 * ldc + 8);
        Vector256.Store(c20, c + 2 * ldc); Vector256.Store(c21, c + 2 * ldc + 8);
        Vector256.Store(c30, c + 3 * ldc); Vector256.Store(c31, c + 3 * ldc + 8);
        Vector256.Store(c40, c + 4 * ldc); Vector256.Store(c41, c + 4 * ldc + 8);
        Vector256.Store(c50, c + 5 * ldc); Vector256.Store(c51, c + 5 * ldc + 8);
    }

    /// <summary>Scalar micro-kernel (4x4), the fallback without AVX2; same contract as <see cref="Kernel512"/>.</summary>
    internal static void KernelScalar(int kc, float* pa, float* pb, float* c, nint ldc, float* init, bool loadC)
    {
        float* acc = stackalloc float[MrScalar * NrScalar];
        for (int i = 0; i < MrScalar; i++)
            for (int j = 0; j < NrScalar; j++)
                acc[i * NrScalar + j] = loadC ? c[i * ldc + j] : init != null ? init[j] : 0f;
        for (int k = 0; k < kc; k++, pa += MrScalar, pb += NrScalar)
            for (int i = 0; i < MrScalar; i++)
            {
                float a = pa[i];
                for (int j = 0; j < NrScalar; j++) acc[i * NrScalar + j] += a * pb[j];
            }
        for (int i = 0; i < MrScalar; i++)
            for (int j = 0; j < NrScalar; j++) c[i * ldc + j] = acc[i * NrScalar + j];
    }
}
