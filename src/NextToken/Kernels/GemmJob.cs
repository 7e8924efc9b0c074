// GemmJob: runs the tasks of one Gemm call on the calling thread plus pool threads, without allocating per call.
namespace NextToken.Kernels;

/// <summary>
/// One reusable work item per calling thread: the caller arms it with a problem and a task count, queues it to
/// the .NET thread pool (threads − 1) times and works too; every participant claims task indices from a shared
/// counter until none are left. Which thread runs a task never changes what the task computes, so results are
/// bit-identical for any thread count. No per-call allocation (Parallel.For allocates its closures and tasks).
/// <para>
/// A helper joins only by taking one of the call's slots; when the caller has run out of tasks it withdraws the
/// slots nobody took, so it never waits for a pool thread that has not started (a busy or nested pool cannot
/// stall it). A queued item that runs later either takes a slot of the call then in progress, whose problem is
/// already published, or finds none and returns without touching the job.
/// </para>
/// </summary>
internal sealed class GemmJob : IThreadPoolWorkItem
{
    [ThreadStatic] private static GemmJob? t_current;

    private int _next, _tasks, _slots, _pending;

    /// <summary>The product being computed (read by every participant).</summary>
    public Gemm.Problem Problem;

    /// <summary>The calling thread's job.</summary>
    public static GemmJob Current => t_current ??= new GemmJob();

    /// <summary>Runs tasks 0..tasks−1 of <see cref="Problem"/> on up to <paramref name="threads"/> threads; returns when all are done.</summary>
    public void Run(int tasks, int threads)
    {
        _tasks = tasks;
        _next = 0;
        int helpers = Math.Min(threads, tasks) - 1;
        if (helpers > 0)
        {
            _pending = helpers + 1; // the helpers, and the caller itself
            Volatile.Write(ref _slots, helpers); // publishes Problem, _tasks and _next to helpers that take a slot
            for (int h = 0; h < helpers; h++) ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
        Work();
        if (helpers > 0)
        {
            // Withdraw the slots nobody took, then wait for the helpers that did: their last act on the job is the
            // decrement, so once the count is zero the job is free for the next call. Spinning with yields (no
            // event) keeps the wait allocation-free; it is short, since helpers that started are computing.
            int unstarted = Math.Max(0, Interlocked.Exchange(ref _slots, int.MinValue / 2));
            Interlocked.Add(ref _pending, -(unstarted + 1));
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    void IThreadPoolWorkItem.Execute()
    {
        if (Interlocked.Decrement(ref _slots) < 0) return;
        Work();
        Interlocked.Decrement(ref _pending);
    }

    private void Work()
    {
        int t;
        while ((t = Interlocked.Increment(ref _next) - 1) < _tasks) Gemm.RunTask(ref Problem, t);
    }
}
