// ServeProcessTests: the real `nexttoken serve` in a child process on a checkpoint saved here, called with the OpenAI client.
#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI client
using System.ClientModel;
using System.Diagnostics;
using System.Text.RegularExpressions;
using NextToken.Tests.Data;
using NextToken.Training;
using OpenAI;
using OpenAI.Chat;

namespace NextToken.Tests.Serving;

/// <summary>Skips with a message when the CLI was not built beside the tests (it normally is: the test project references it).</summary>
public sealed class CliDllFactAttribute : FactAttribute
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "NextToken.Cli.dll");

    public CliDllFactAttribute()
    {
        if (!File.Exists(Dll)) Skip = $"serve process test skipped: {Dll} not found (build src/NextToken.Cli, e.g. dotnet build tests/NextToken.Tests)";
    }
}

public sealed partial class ServeProcessTests
{
    [GeneratedRegex(@"listening on (http://\S+?)/? ")]
    private static partial Regex Listening();

    [CliDllFact]
    public async Task Serve_ChildProcess_HealthThenOneChatCompletion()
    {
        using var dir = new TempDir();
        string checkpoint = dir.File("tiny");
        Checkpoint.Save(checkpoint, TinyServing.Model(), tokenizer: TinyServing.Tokenizer());
        // --port 0: the OS picks a free port, and serve prints the address it bound (no race with other tests for a port).
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { CliDllFactAttribute.Dll, "serve", "--checkpoint", checkpoint, "--port", "0", "--api-key", TinyServing.Key, "--max-batch", "2", "--threads", "1" })
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            string? line;
            Match m;
            do
            {
                line = await process.StandardOutput.ReadLineAsync(limit.Token);
                if (line is null) Assert.Fail("serve exited before listening: " + await Stderr(process, stderr));
                m = Listening().Match(line);
            } while (!m.Success);
            var address = new Uri(m.Groups[1].Value + "/");
            _ = process.StandardOutput.ReadToEndAsync(); // keep draining
            using var http = new HttpClient { BaseAddress = address };
            while ((await http.GetAsync("/health", limit.Token)).StatusCode != System.Net.HttpStatusCode.OK)
            {
                if (process.HasExited) Assert.Fail("serve exited while loading: " + await Stderr(process, stderr));
                await Task.Delay(50, limit.Token);
            }
            var chat = new OpenAIClient(new ApiKeyCredential(TinyServing.Key), new OpenAIClientOptions { Endpoint = new Uri(address, "v1") })
                .GetChatClient("tiny"); // --model-name defaults to the checkpoint directory's name
            var c = (await chat.CompleteChatAsync([new UserChatMessage("hello")], new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 8, Seed = 1 }, limit.Token)).Value;
            Assert.Equal(ChatFinishReason.Length, c.FinishReason);
            Assert.Equal(8, c.Usage.OutputTokenCount);
            Assert.NotEmpty(c.Content[0].Text);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    static async Task<string> Stderr(Process process, Task<string> stderr)
    {
        await process.WaitForExitAsync();
        return $"exit {process.ExitCode}, stderr: {(await stderr).Trim()}";
    }
}
