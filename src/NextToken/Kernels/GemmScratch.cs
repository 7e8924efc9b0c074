// GemmScratch: per-thread packing buffers for Gemm, allocated once per thread (pinned, 64-byte aligned) and reused.
namespace NextToken.Kernels;

/// <summary>
/// The packed A block (MC x KC), packed B block (KC x NC), one edge tile and one padded bias row of the thread that
/// runs a Gemm task. Sized for the largest blocking of any path, so a thread allocates them once in its life and
/// a training or generation step allocates nothing.
/// </summary>
internal sealed unsafe class GemmScratch
{
    [ThreadStatic] private static GemmScratch? t_current;

    private readonly float[] _a, _b, _tile;

    /// <summary>The calling thread's buffers.</summary>
    public static GemmScratch Current => t_current ??= new GemmScratch();

    /// <summary>Packed A block, <see cref="Gemm.MaxPackedA"/> floats.</summary>
    public readonly float* A;
    /// <summary>Packed B block, <see cref="Gemm.MaxPackedB"/> floats.</summary>
    public readonly float* B;
    /// <summary>Edge tile (MR x NR of the widest path).</summary>
    public readonly float* Tile;
    /// <summary>Bias row padded to NR.</summary>
    public readonly float* Init;

    private GemmScratch()
    {
        _a = GC.AllocateUninitializedArray<float>(Gemm.MaxPackedA + 16, pinned: true);
        _b = GC.AllocateUninitializedArray<float>(Gemm.MaxPackedB + 16, pinned: true);
        _tile = GC.AllocateUninitializedArray<float>(2 * Gemm.MaxTile + 32, pinned: true);
        A = Align(_a); B = Align(_b); Tile = Align(_tile); Init = Tile + Gemm.MaxTile + 16;
    }

    // Pinned arrays never move, so the aligned interior pointer stays valid for the thread's life.
    private static float* Align(float[] array)
    {
        fixed (float* p = array) return (float*)(((nint)p + 63) & ~(nint)63);
    }
}
