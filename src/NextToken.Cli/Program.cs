// nexttoken: the command-line entry point. Every ICliCommand in this assembly becomes a subcommand.
using System.CommandLine;
using System.Reflection;
using NextToken.Cli;

var root = new RootCommand("NextToken: train, load and sample GPT models in pure managed C#.\n" +
                           "Run 'nexttoken train' with no arguments to train on the built-in corpus.");
foreach (var type in Assembly.GetExecutingAssembly().GetTypes()
             .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsInterface: false, IsAbstract: false })
             .OrderBy(t => t.Name, StringComparer.Ordinal))
{
    root.Subcommands.Add(((ICliCommand)Activator.CreateInstance(type)!).Build());
}
return CliRunner.Run(root, args);
