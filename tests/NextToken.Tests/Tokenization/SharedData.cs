// SharedData: locates data files kept outside the repository, in <repo>/../shared/data.
namespace NextToken.Tests.Tokenization;

/// <summary>Finds files of the shared data folder that sits beside the repository.</summary>
public static class SharedData
{
    /// <summary>
    /// Full path of <c>shared/data/<paramref name="fileName"/></c> found in the nearest ancestor of the test's
    /// base directory, or null when there is none.
    /// </summary>
    public static string? Path(string fileName)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "shared", "data", fileName);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>The text of a shared data file; call only from a <see cref="SharedDataFactAttribute"/> test.</summary>
    public static string ReadText(string fileName) =>
        File.ReadAllText(Path(fileName) ?? throw new FileNotFoundException($"shared/data/{fileName} not found", fileName));
}
