// ScalingCommand: `nexttoken scaling count|sweep|fit|plan|study`; every IScalingSubcommand in this assembly becomes a subcommand.
using System.CommandLine;
using System.Reflection;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken scaling</c>: parameter/FLOP/memory accounting, sweeps, scaling-law fits and compute-optimal plans.</summary>
internal sealed class ScalingCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var cmd = new Command("scaling", "Scaling laws: count parameters, FLOPs and memory; run sweeps; fit Kaplan and Chinchilla laws; plan compute-optimal runs.\n" +
                                         "Each subcommand's last stdout line with --json is one JSON object (docs/scaling.md).");
        foreach (var type in Assembly.GetExecutingAssembly().GetTypes()
                     .Where(t => typeof(IScalingSubcommand).IsAssignableFrom(t) && t is { IsInterface: false, IsAbstract: false })
                     .OrderBy(t => t.Name, StringComparer.Ordinal))
            cmd.Subcommands.Add(((IScalingSubcommand)Activator.CreateInstance(type)!).Build());
        return cmd;
    }
}
