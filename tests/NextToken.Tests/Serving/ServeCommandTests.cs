// ServeCommandTests: `nexttoken serve` refuses bad input with one line and a non-zero exit, before binding a port.
using NextToken.Tests.Cli;

namespace NextToken.Tests.Serving;

public sealed class ServeCommandTests
{
    [Fact]
    public void MissingCheckpoint_OneLineError() =>
        CliProcess.AssertOneLineError(CliProcess.Run("serve", "--checkpoint", "no/such/dir", "--port", "0"), "no/such/dir");

    [Fact]
    public void ZeroMaxBatch_OneLineError()
    {
        string dir = Directory.CreateTempSubdirectory("nt-serve").FullName;
        try { CliProcess.AssertOneLineError(CliProcess.Run("serve", "--checkpoint", dir, "--port", "0", "--max-batch", "0"), "--max-batch"); }
        finally { Directory.Delete(dir, true); }
    }
}
