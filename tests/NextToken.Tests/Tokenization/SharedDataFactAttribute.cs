// SharedDataFactAttribute: a [Fact] that is skipped, with the reason, when a file of <repo>/../shared/data is absent.
namespace NextToken.Tests.Tokenization;

/// <summary>
/// Marks a test that reads <c>shared/data/&lt;fileName&gt;</c> (found by walking up from the test's base
/// directory); the test is reported as skipped, saying where the file was looked for, when it is missing.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SharedDataFactAttribute : FactAttribute
{
    /// <summary>Requires <paramref name="fileName"/> (default tinyshakespeare.txt) in the shared data folder.</summary>
    public SharedDataFactAttribute(string fileName = "tinyshakespeare.txt")
    {
        if (SharedData.Path(fileName) is null)
            Skip = $"shared/data/{fileName} not found next to the repository (searched upwards from {AppContext.BaseDirectory}); run from a checkout with ../shared/data";
    }
}
