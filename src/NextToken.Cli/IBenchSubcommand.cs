// IBenchSubcommand: each `nexttoken bench X` is one class implementing this; BenchCommand discovers them all.
using System.CommandLine;

namespace NextToken.Cli;

/// <summary>One subcommand of <c>nexttoken bench</c> (train, generate, gemm, …). Needs a public parameterless constructor.</summary>
internal interface IBenchSubcommand
{
    /// <summary>Builds the subcommand with its options and action.</summary>
    Command Build();
}
