// BenchCommand: `nexttoken bench train|generate|gemm …`; every IBenchSubcommand in this assembly becomes a subcommand.
using System.CommandLine;
using System.Reflection;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken bench</c>: throughput measurements (ms/step, tokens/s, GFLOP/s, MFU, peak memory).</summary>
internal sealed class BenchCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var cmd = new Command("bench", "Measure throughput: training steps, generation, matrix products.\n" +
                                       "Each subcommand's last stdout line with --json is one JSON object.");
        foreach (var type in Assembly.GetExecutingAssembly().GetTypes()
                     .Where(t => typeof(IBenchSubcommand).IsAssignableFrom(t) && t is { IsInterface: false, IsAbstract: false })
                     .OrderBy(t => t.Name, StringComparer.Ordinal))
            cmd.Subcommands.Add(((IBenchSubcommand)Activator.CreateInstance(type)!).Build());
        return cmd;
    }
}
