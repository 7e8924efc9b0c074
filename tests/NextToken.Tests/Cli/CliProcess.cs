// CliProcess: runs the built nexttoken CLI in a child process so tests see its real exit code, stdout and stderr.
using System.Diagnostics;
using System.Text.Json;

namespace NextToken.Tests.Cli;

internal static class CliProcess
{
    public static (int Exit, string Out, string Err) Run(params string[] args) => RunWithEnvironment([], args);

    /// <summary>Runs the CLI with extra environment variables set in the child (e.g. DOTNET_EnableAVX2=0).</summary>
    public static (int Exit, string Out, string Err) RunWithEnvironment(IEnumerable<(string Name, string Value)> environment, params string[] args) =>
        RunFor(TimeSpan.FromSeconds(120), environment, args);

    /// <summary>Runs the CLI, allowing it <paramref name="limit"/> (the slow tests' full training runs need minutes).</summary>
    public static (int Exit, string Out, string Err) RunFor(TimeSpan limit, IEnumerable<(string Name, string Value)> environment, params string[] args) =>
        RunWithInput(limit, environment, "", args);

    /// <summary>Runs the CLI with <paramref name="stdin"/> piped to its standard input (then closed).</summary>
    public static (int Exit, string Out, string Err) RunWithInput(TimeSpan limit, IEnumerable<(string Name, string Value)> environment, string stdin, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "NextToken.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        using var p = Process.Start(psi)!;
        if (stdin.Length > 0) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(limit)) { p.Kill(true); throw new TimeoutException($"nexttoken did not finish in {limit.TotalSeconds:F0} s"); }
        return (p.ExitCode, so.Result, se.Result);
    }

    /// <summary>The CLI's bad-input contract: non-zero exit and exactly one line on stderr, starting "error:", naming the problem.</summary>
    public static void AssertOneLineError((int Exit, string Out, string Err) r, string expected)
    {
        Assert.NotEqual(0, r.Exit);
        string err = r.Err.Trim();
        Assert.StartsWith("error:", err);
        Assert.DoesNotContain("\n", err);
        Assert.Contains(expected, err);
    }

    /// <summary>The CLI's --json contract: the last line of stdout is one JSON object.</summary>
    public static JsonDocument LastJson(string stdout) => JsonDocument.Parse(LastLine(stdout));

    /// <summary>The last non-empty line of <paramref name="stdout"/>.</summary>
    public static string LastLine(string stdout) => stdout.TrimEnd().Split('\n')[^1];
}
