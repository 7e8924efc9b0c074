// The library package carries no plotting, no profiling hooks, no CLI vocabulary in its errors and no dead code.
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Training;

namespace NextToken.Tests.Hygiene;

public sealed class LibraryHygieneTests
{
    private static readonly Assembly Core = typeof(GptModel).Assembly;

    [Fact]
    public void CoreAssembly_ReferencesNoPlottingPackage()
    {
        var names = Core.GetReferencedAssemblies().Select(a => a.Name ?? "").ToList();
        foreach (var name in names)
            Assert.False(name.StartsWith("ScottPlot", StringComparison.Ordinal) || name.StartsWith("SkiaSharp", StringComparison.Ordinal) ||
                         name.StartsWith("HarfBuzz", StringComparison.Ordinal), $"the core library references {name}");
    }

    [Fact]
    public void CoreBuildOutput_ShipsNoNativeBinaries()
    {
        // The core project's own build output (built as a dependency of this test project, same configuration).
        string dir = Path.Combine(Repository.Root, "src", "NextToken", "bin", Repository.Configuration, "net10.0");
        string deps = Path.Combine(dir, "NextToken.deps.json");
        Assert.True(File.Exists(deps), $"{deps} is missing: build the solution first");
        string json = File.ReadAllText(deps);
        foreach (var package in new[] { "ScottPlot", "SkiaSharp", "HarfBuzz" })
            Assert.DoesNotContain(package, json, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("\"native\"", json);
        // A stale runtimes/ folder would come from an older build; the packages above are what would put one there.
        string csproj = File.ReadAllText(Path.Combine(Repository.Root, "src", "NextToken", "NextToken.csproj"));
        Assert.DoesNotContain("ScottPlot", csproj);
    }

    [Fact]
    public void CoreAssembly_HasNoProfilingHooks()
    {
        Assert.Null(Core.GetType("NextToken.Model.StepProfile"));
        Assert.Null(typeof(GptModel).GetProperty("Profile", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic));
    }

    [Fact]
    public void LibraryErrors_NameNoCommandLineFlags()
    {
        // Lines that build an exception message must speak the library's terms; the CLI adds its flags (CliErrors).
        var flag = new Regex(@"--[a-z]|nexttoken [a-z]|try --|CLI:", RegexOptions.CultureInvariant);
        var offenders = new List<string>();
        foreach (var file in Repository.LibrarySources())
        {
            int n = 0;
            foreach (var line in File.ReadLines(file))
            {
                n++;
                if (line.TrimStart().StartsWith("//", StringComparison.Ordinal)) continue;
                if ((line.Contains("Exception(", StringComparison.Ordinal) || line.Contains("Fail(", StringComparison.Ordinal)) && flag.IsMatch(line))
                    offenders.Add($"{Path.GetFileName(file)}:{n}: {line.Trim()}");
            }
        }
        Assert.True(offenders.Count == 0, "library messages mentioning CLI flags:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void TrainOptionsAndConfigErrors_NameTheProperty()
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainOptions { BatchSize = 0 }.Validate());
        Assert.Equal(nameof(TrainOptions.BatchSize), e.ParamName);
        Assert.DoesNotContain("--", e.Message);
        var h = Assert.Throws<ArgumentException>(() => new GptConfig { Heads = 5, EmbeddingSize = 16 }.Validate());
        Assert.Equal(nameof(GptConfig.Heads), h.ParamName);
        Assert.Contains("must divide", h.Message);
    }

    [Fact]
    public void PackagePins_AreAllReferenced()
    {
        var props = XDocument.Load(Path.Combine(Repository.Root, "Directory.Packages.props"));
        var pinned = props.Descendants("PackageVersion").Select(e => (string)e.Attribute("Include")!).ToList();
        var referenced = Directory.EnumerateFiles(Repository.Root, "*.csproj", SearchOption.AllDirectories)
            .SelectMany(p => XDocument.Load(p).Descendants("PackageReference").Select(e => (string)e.Attribute("Include")!))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var p in pinned) Assert.True(referenced.Contains(p), $"Directory.Packages.props pins {p}, which no project references");
    }

    [Fact]
    public void DeadCode_IsGone()
    {
        Assert.Null(typeof(Residual).GetMethod("Backward"));
        Assert.Null(typeof(TensorLayout).GetProperty("ElementCount"));
        foreach (var file in Repository.LibrarySources())
            Assert.DoesNotContain("&& false", File.ReadAllText(file));
    }
}
