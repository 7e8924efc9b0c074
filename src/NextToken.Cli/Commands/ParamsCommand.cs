// ParamsCommand: `nexttoken params --preset NAME [--json]` prints the exact parameter count (and a breakdown).
using System.CommandLine;
using System.Text.Json;
using NextToken.Model;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken params</c>.</summary>
internal sealed class ParamsCommand : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var preset = new Option<string>("--preset") { Description = $"Model preset: {string.Join(", ", GptPresets.All.Keys)}", Required = true };
        var json = new Option<bool>("--json") { Description = "Print a JSON object with the per-part breakdown" };
        var cmd = new Command("params", "Print a model's parameter count.\nExample: nexttoken params --preset gpt2   (prints 124439808)");
        cmd.Options.Add(preset);
        cmd.Options.Add(json);
        cmd.SetAction(pr =>
        {
            string name = pr.GetValue(preset)!;
            var cfg = GptPresets.Get(name);
            var parts = GptParameters.Breakdown(cfg);
            if (pr.GetValue(json))
            {
                var doc = new Dictionary<string, object> { ["preset"] = name, ["parameters"] = parts["total"], ["breakdown"] = parts, ["config"] = JsonDocument.Parse(cfg.ToJson()).RootElement };
                Console.WriteLine(JsonSerializer.Serialize(doc));
            }
            else Console.WriteLine(parts["total"]);
            return 0;
        });
        return cmd;
    }
}
