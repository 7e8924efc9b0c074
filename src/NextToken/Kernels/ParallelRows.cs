// ParallelRows: an allocation-free parallel loop over the .NET thread pool for kernels (a closure-free Parallel.For).
using System.Runtime.CompilerServices;

namespace NextToken.Kernels;

/// <summary>
/// Runs <c>body(ctx, i)</c> for i in [0, count) on the calling thread plus up to <see cref="Threading.MaxThreads"/>-1 thread-pool
/// workers that claim indices one at a time. Unlike <c>Parallel.For</c> with a lambda it allocates nothing: the body is
/// a static function pointer, the context a pointer to the caller's (unmanaged) struct, and the workers are a fixed
/// set of <see cref="IThreadPoolWorkItem"/> objects that are queued at most once at a time and join whatever loop is
/// open when they run. One loop owns the workers at a time; a loop started meanwhile on another thread (concurrent
/// generators in the server) or from inside a body runs on its caller alone, so nothing can deadlock.
/// Results are deterministic as long as each index writes its own outputs.
/// </summary>
internal static unsafe class ParallelRows
{
    private static readonly Helper[] Helpers = CreateHelpers();

    // The open loop (valid while _open == 1; written by the owner before it opens the loop).
    private static delegate*<void*, int, void> _body;
    private static void* _ctx;
    private static int _count, _next, _done, _open, _busy, _participants;
    private static Exception? _error;

    /// <summary>The public setting <see cref="Threading.MaxThreads"/> (kept for the kernels' tests).</summary>
    public static int MaxThreads
    {
        get => Threading.MaxThreads;
        set => Threading.MaxThreads = value;
    }

    private static Helper[] CreateHelpers()
    {
        var h = new Helper[Math.Max(0, Environment.ProcessorCount - 1)];
        for (int i = 0; i < h.Length; i++) h[i] = new Helper();
        return h;
    }

    /// <summary>Runs body(ctx, i) for every i in [0, count).</summary>
    public static void For(int count, void* ctx, delegate*<void*, int, void> body)
    {
        if (count <= 0) return;
        int helpers = Math.Min(Math.Min(Threading.MaxThreads, Helpers.Length + 1), count) - 1;
        if (helpers <= 0 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++) body(ctx, i);
            return;
        }
        _body = body; _ctx = ctx; _count = count; _next = 0; _done = 0; _error = null;
        Volatile.Write(ref _open, 1);
        for (int k = 0; k < helpers; k++)
            if (Interlocked.Exchange(ref Helpers[k].Queued, 1) == 0) ThreadPool.UnsafeQueueUserWorkItem(Helpers[k], preferLocal: false);
        Work();
        var spin = new SpinWait();
        while (Volatile.Read(ref _done) < count) spin.SpinOnce(sleep1Threshold: -1);
        // Close the loop, then wait for workers that joined it to leave before the next loop may reuse the fields.
        Volatile.Write(ref _open, 0);
        while (Volatile.Read(ref _participants) != 0) spin.SpinOnce(sleep1Threshold: -1);
        var error = _error;
        Volatile.Write(ref _busy, 0);
        if (error is not null) throw new AggregateException(error);
    }

    private static void Work()
    {
        int i, count = _count;
        while ((i = Interlocked.Increment(ref _next) - 1) < count)
        {
            try { _body(_ctx, i); }
            catch (Exception e) { _error ??= e; }
            Interlocked.Increment(ref _done);
        }
    }

    private const int ClearChunk = 1 << 16;

    private struct ClearCtx
    {
        public float* Data;
        public long N;
    }

    /// <summary>Sets every element of <paramref name="data"/> to zero in parallel chunks (a 0.5 GB gradient arena needs both cores' bandwidth).</summary>
    public static void Clear(float[] data) => Clear(data.AsSpan());

    /// <summary>Sets every element of <paramref name="data"/> to zero, in parallel chunks when it is large.</summary>
    public static void Clear(Span<float> data)
    {
        if (data.Length <= ClearChunk) { data.Clear(); return; }
        fixed (float* p = data)
        {
            var ctx = new ClearCtx { Data = p, N = data.Length };
            For((int)((data.Length + ClearChunk - 1) / ClearChunk), &ctx, &ClearItem);
        }
    }

    private static void ClearItem(void* p, int k)
    {
        ref var c = ref *(ClearCtx*)p;
        long i = (long)k * ClearChunk;
        new Span<float>(c.Data + i, (int)Math.Min(ClearChunk, c.N - i)).Clear();
    }

    private sealed class Helper : IThreadPoolWorkItem
    {
        public int Queued;

        public void Execute()
        {
            Volatile.Write(ref Queued, 0);
            // Count ourselves in before looking at the loop, so its owner cannot close it and start another under us.
            Interlocked.Increment(ref _participants);
            if (Volatile.Read(ref _open) == 1) Work();
            Interlocked.Decrement(ref _participants);
        }
    }
}
