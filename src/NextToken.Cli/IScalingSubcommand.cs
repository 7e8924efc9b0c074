// IScalingSubcommand: each `nexttoken scaling X` is one class implementing this; ScalingCommand discovers them all.
using System.CommandLine;

namespace NextToken.Cli;

/// <summary>One subcommand of <c>nexttoken scaling</c> (count, sweep, fit, plan, study). Needs a public parameterless constructor.</summary>
internal interface IScalingSubcommand
{
    /// <summary>Builds the subcommand with its options and action.</summary>
    Command Build();
}
