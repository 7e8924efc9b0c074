// ICliCommand: each `nexttoken` subcommand is one class implementing this; Program discovers them all.
using System.CommandLine;

namespace NextToken.Cli;

/// <summary>One subcommand of <c>nexttoken</c>. Classes implementing it need a public parameterless constructor.</summary>
internal interface ICliCommand
{
    /// <summary>Builds the command with its options and action.</summary>
    Command Build();
}
