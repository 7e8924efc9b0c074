// GemmPacking: copies a block of a strided operand into k-major micro-panels (kc, R) that the micro-kernels stream.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NextToken.Kernels;

/// <summary>
/// Packing of GEMM operands. A panel holds R rows (of A) or R columns (of B) over kc values of k, stored k-major:
/// dst[k·R + i]; rows or columns past the matrix edge are zero, so the micro-kernel never branches on edges.
/// Two source layouts occur in training: the R lines are strided and contiguous in k (A of the forward and input
/// gradient, B of the forward: a transpose, done in 8x8 register blocks), or each k holds R contiguous values
/// (B of the input and weight gradients, A of the weight gradient: a copy).
/// </summary>
internal static unsafe class GemmPacking
{
    /// <summary>
    /// src element (i, k) is src[i·lineStride + k·kStride] for i &lt; lines, k &lt; kc; writes ceil(lines/R) panels,
    /// panel q at dst + q·R·kc holding lines q·R.. as (kc, R) k-major, lines past the edge zero-filled.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(float* src, nint lineStride, nint kStride, int lines, int kc, int R, float* dst, bool simd)
    {
        Debug.Assert(lines > 0 && kc > 0);
        if (kStride == 1)
        {
            for (int q = 0; q < lines; q += R)
                PackTransposed(src + q * lineStride, lineStride, Math.Min(R, lines - q), kc, R, dst + (nint)q * kc, simd);
        }
        else if (lineStride == 1) PackCopy(src, kStride, lines, kc, R, dst, simd);
        else
        {
            for (int q = 0; q < lines; q += R)
            {
                int n = Math.Min(R, lines - q);
                for (int k = 0; k < kc; k++)
                {
                    float* d = dst + (nint)q * kc + (nint)k * R;
                    for (int i = 0; i < n; i++) d[i] = src[(q + i) * lineStride + k * kStride];
                    for (int i = n; i < R; i++) d[i] = 0f;
                }
            }
        }
    }

    // dst panel q, row k = src[k·kStride + q·R ..+R]: each k reads one contiguous run of all the lines (a whole row
    // of the source, friendly to caches and TLB) and scatters it to the panels; full panels by vector copies.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackCopy(float* src, nint kStride, int lines, int kc, int R, float* dst, bool simd)
    {
        int full = lines / R * R;
        nint panel = (nint)R * kc;
        for (int k = 0; k < kc; k++, src += kStride)
        {
            float* d = dst + (nint)k * R;
            int q = 0;
            if (simd && Vector512.IsHardwareAccelerated && (R & 15) == 0)
            {
                for (; q < full; q += R, d += panel)
                    for (int i = 0; i < R; i += 16) Vector512.Store(Vector512.Load(src + q + i), d + i);
            }
            else if (simd && Vector256.IsHardwareAccelerated && (R & 7) == 0)
            {
                for (; q < full; q += R, d += panel)
                    for (int i = 0; i < R; i += 8) Vector256.Store(Vector256.Load(src + q + i), d + i);
            }
            for (; q < lines; q += R, d += panel)
            {
                int n = Math.Min(R, lines - q), i = 0;
                for (; i < n; i++) d[i] = src[q + i];
                for (; i < R; i++) d[i] = 0f;
            }
        }
    }

    // dst[k·R + i] = src[i·lineStride + k]: R lines each contiguous in k; 8 lines x 8 k at a time through registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackTransposed(float* src, nint lineStride, int lines, int kc, int R, float* dst, bool simd)
    {
        int i0 = 0;
        if (simd && Avx.IsSupported)
        {
            for (; i0 + 8 <= lines; i0 += 8)
            {
                float* s = src + i0 * lineStride;
                int k = 0;
                for (; k + 8 <= kc; k += 8) Transpose8x8(s + k, lineStride, dst + (nint)k * R + i0, R);
                for (; k < kc; k++)
                    for (int i = 0; i < 8; i++) dst[(nint)k * R + i0 + i] = s[i * lineStride + k];
            }
        }
        for (int i = i0; i < R; i++)
        {
            float* d = dst + i;
            if (i < lines)
            {
                float* s = src + i * lineStride;
                for (int k = 0; k < kc; k++) d[(nint)k * R] = s[k];
            }
            else
                for (int k = 0; k < kc; k++) d[(nint)k * R] = 0f;
        }
    }

    // Reads rows s[r·ld .. +8] for r < 8 and writes their columns: d[q·dstStride + r] = s[r·ld + q].
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* s, nint ld, float* d, nint dstStride)
    {
        var r0 = Avx.LoadVector256(s); var r1 = Avx.LoadVector256(s + ld);
        var r2 = Avx.LoadVector256(s + 2 * ld); var r3 = Avx.LoadVector256(s + 3 * ld);
        var r4 = Avx.LoadVector256(s + 4 * ld); var r5 = Avx.LoadVector256(s + 5 * ld);
        var r6 = Avx.LoadVector256(s + 6 * ld); var r7 = Avx.LoadVector256(s + 7 * ld);
        // Interleave pairs of rows (per 128-bit lane): t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], ...
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        // Then pairs of pairs: u0 = column 0 of rows 0..3 | column 4 of rows 0..3, ...
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // Finally join rows 0..3 with rows 4..7 across the 128-bit lanes.
        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 2 * dstStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 3 * dstStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 4 * dstStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 5 * dstStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 6 * dstStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 7 * dstStride, Avx.Permute2x128(u3, u7, 0x31));
    }
}
