// ThreadsOption: the --threads option of the commands that run the model; it sets the library's Threading.MaxThreads.
using System.CommandLine;
using NextToken.Kernels;

namespace NextToken.Cli;

/// <summary>Creates and applies <c>--threads</c> (train, sample, eval, bench train, bench generate).</summary>
internal static class ThreadsOption
{
    /// <summary>The option; its default is the library's (one thread per core).</summary>
    public static Option<int> Create() => new("--threads")
    {
        Description = "Threads per kernel call (NextToken.Kernels.Threading.MaxThreads; results are identical for any count)",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };

    /// <summary>Sets <see cref="Threading.MaxThreads"/> from the option, or says what is wrong with it.</summary>
    public static int Apply(ParseResult parse, Option<int> option)
    {
        int threads = parse.GetValue(option);
        if (threads < 1) throw new ArgumentException($"--threads must be at least 1 (got {threads})");
        Threading.MaxThreads = threads;
        return threads;
    }
}
