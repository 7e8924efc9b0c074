// DataSharedFileFactAttribute: a [Fact] that skips when a file under /work/shared/data is absent.
namespace NextToken.Tests.Data;

internal sealed class DataSharedFileFactAttribute : FactAttribute
{
    public const string Root = "/work/shared/data";

    public DataSharedFileFactAttribute(string fileName)
    {
        FullPath = System.IO.Path.Combine(Root, fileName);
        if (!File.Exists(FullPath)) Skip = $"{FullPath} is not present on this machine";
    }

    public string FullPath { get; }
}
