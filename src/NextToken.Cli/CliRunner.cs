// CliRunner: parses, runs, and turns any exception into one line on stderr with a non-zero exit code.
using System.CommandLine;

namespace NextToken.Cli;

/// <summary>
/// Runs the parsed command; errors become one line on stderr (with the flag to change, <see cref="CliErrors"/>) and
/// exit code 1 (2 for usage errors).
/// </summary>
internal static class CliRunner
{
    public static int Run(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var inner = e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerException! : e;
            Console.Error.WriteLine($"error: {CliErrors.Line(inner)}");
            if (Environment.GetEnvironmentVariable("NEXTTOKEN_DEBUG") == "1") Console.Error.WriteLine(inner);
            return 1;
        }
    }
}
