// ParallelRows: an allocation-free parallel loop over the .NET thread pool for kernels (a closure-free Parallel.For).
using System.Runtime.CompilerServices;

namespace NextToken.Kernels;

/// <summary>
/// Runs <c>body(ctx, i)</c> for i in [0, count) on the calling thread plus up to <see cref="MaxThreads"/>-1 thread-pool
/// workers that claim indices one at a time. Unlike <c>Parallel.For</c> with a lambda it allocates nothing in steady
/// state: the body is a static function pointer, the context a pointer to the caller's (unmanaged) struct, and the
/// job objects are pooled. Results are deterministic as long as each index writes its own outputs.
/// The caller always works too, so the loop completes even when the pool is saturated (no deadlock when called
/// from pool threads, e.g. concurrent generators in the server); late workers find nothing left and return.
/// </summary>
internal static unsafe class ParallelRows
{
    private static int _maxThreads = Environment.ProcessorCount;
    private static readonly Stack<Job> Pool = new();

    /// <summary>Upper bound on the threads one loop uses (the caller included); 1 runs serially.</summary>
    public static int MaxThreads
    {
        get => _maxThreads;
        set => _maxThreads = Math.Max(1, value);
    }

    /// <summary>Runs body(ctx, i) for every i in [0, count).</summary>
    public static void For(int count, void* ctx, delegate*<void*, int, void> body)
    {
        if (count <= 0) return;
        int helpers = Math.Min(_maxThreads, count) - 1;
        if (helpers == 0)
        {
            for (int i = 0; i < count; i++) body(ctx, i);
            return;
        }
        Job job;
        lock (Pool) job = Pool.Count > 0 ? Pool.Pop() : new Job();
        job.Body = body; job.Ctx = ctx; job.Count = count; job.Next = 0; job.Done = 0; job.Error = null;
        job.Refs = helpers + 1;
        for (int k = 0; k < helpers; k++) ThreadPool.UnsafeQueueUserWorkItem(job, preferLocal: false);
        job.Work();
        var spin = new SpinWait();
        while (Volatile.Read(ref job.Done) < count) spin.SpinOnce(sleep1Threshold: -1);
        var error = job.Error;
        job.Release();
        if (error is not null) throw new AggregateException(error);
    }

    private const int ClearChunk = 1 << 16;

    private struct ClearCtx
    {
        public float* Data;
        public long N;
    }

    /// <summary>Sets every element of <paramref name="data"/> to zero in parallel chunks (a 0.5 GB gradient arena needs both cores' bandwidth).</summary>
    public static void Clear(float[] data)
    {
        fixed (float* p = data)
        {
            var ctx = new ClearCtx { Data = p, N = data.LongLength };
            For((int)((data.LongLength + ClearChunk - 1) / ClearChunk), &ctx, &ClearItem);
        }
    }

    private static void ClearItem(void* p, int k)
    {
        ref var c = ref *(ClearCtx*)p;
        long i = (long)k * ClearChunk;
        new Span<float>(c.Data + i, (int)Math.Min(ClearChunk, c.N - i)).Clear();
    }

    private sealed class Job : IThreadPoolWorkItem
    {
        public delegate*<void*, int, void> Body;
        public void* Ctx;
        public int Count, Next, Done, Refs;
        public Exception? Error;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Work()
        {
            int i;
            while ((i = Interlocked.Increment(ref Next) - 1) < Count)
            {
                try { Body(Ctx, i); }
                catch (Exception e) { Error ??= e; }
                Interlocked.Increment(ref Done);
            }
        }

        // Every party (the caller and each queued worker) releases once; the last returns the job to the pool, so a
        // worker that starts after the loop finished never sees the job reused under it.
        public void Release()
        {
            if (Interlocked.Decrement(ref Refs) == 0) lock (Pool) Pool.Push(this);
        }

        public void Execute()
        {
            Work();
            Release();
        }
    }
}
