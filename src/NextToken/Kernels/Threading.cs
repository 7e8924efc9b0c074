// Threading: the one process-wide thread count that every parallel kernel obeys.
namespace NextToken.Kernels;

/// <summary>
/// The most threads a kernel call uses, the calling thread included: matrix products (<see cref="Matmul"/>), attention,
/// normalisation, element-wise loops and gradient clearing all read it at each call. Results never depend on it (every
/// kernel is bit-identical for any thread count), only the speed does. Process-wide: set it before a run, not from
/// inside one. Loops over rows use at most one thread per core whatever the value.
/// </summary>
public static class Threading
{
    private static int _maxThreads = Environment.ProcessorCount;

    /// <summary>Threads per kernel call, at least 1 (1 runs every kernel on the calling thread). Default: <see cref="Environment.ProcessorCount"/>.</summary>
    public static int MaxThreads
    {
        get => Volatile.Read(ref _maxThreads);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref _maxThreads, value);
        }
    }
}
