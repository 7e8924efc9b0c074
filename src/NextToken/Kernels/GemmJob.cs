// GemmJob: runs the tasks of one Gemm call on the calling thread plus pool threads, without allocating per call.
namespace NextToken.Kernels;

/// <summary>
/// One reusable work item per calling thread: the caller arms it with a problem and a task count, queues it to
/// the .NET thread pool (threads − 1) times and works too; every participant claims task indices from a shared
/// counter until none are left. Which thread runs a task never changes what the task computes, so results are
/// bit-identical for any thread count. No per-call allocation (Parallel.For allocates its closures and tasks).
/// </summary>
internal sealed class GemmJob : IThreadPoolWorkItem
{
    [ThreadStatic] private static GemmJob? t_current;

    private readonly ManualResetEventSlim _done = new(false);
    private int _next, _pending, _tasks;

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
            _done.Reset();
            Volatile.Write(ref _pending, helpers);
            for (int h = 0; h < helpers; h++) ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
        Work();
        if (helpers > 0) _done.Wait();
    }

    void IThreadPoolWorkItem.Execute()
    {
        Work();
        if (Interlocked.Decrement(ref _pending) == 0) _done.Set();
    }

    private void Work()
    {
        int t;
        while ((t = Interlocked.Increment(ref _next) - 1) < _tasks) Gemm.RunTask(ref Problem, t);
    }
}
