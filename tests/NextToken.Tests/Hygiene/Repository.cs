// Repository: locates the checkout the tests were built from (the folder holding NextToken.slnx).
namespace NextToken.Tests.Hygiene;

internal static class Repository
{
    /// <summary>The repository root: the nearest ancestor of the test's base directory that holds NextToken.slnx.</summary>
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "NextToken.slnx"))) return dir.FullName;
            throw new DirectoryNotFoundException($"no NextToken.slnx above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>The build configuration the tests run in (Release or Debug), read from their own output path.</summary>
    public static string Configuration
    {
        get
        {
            var parts = AppContext.BaseDirectory.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
            int bin = Array.LastIndexOf(parts, "bin");
            return bin >= 0 && bin + 1 < parts.Length ? parts[bin + 1] : "Release";
        }
    }

    /// <summary>Every C# file of the library (src/NextToken), build outputs excluded.</summary>
    public static IEnumerable<string> LibrarySources() =>
        Directory.EnumerateFiles(Path.Combine(Root, "src", "NextToken"), "*.cs", SearchOption.AllDirectories)
                 .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") &&
                             !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"));
}
