// Checkpoint tests: round trip, and clear errors for missing, truncated and foreign files.
using NextToken.Model;
using NextToken.Tests.Data;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Tests.Training;

public sealed class CheckpointTests
{
    private static readonly GptConfig Cfg = new() { VocabSize = 10, ContextLength = 8, Layers = 1, Heads = 2, EmbeddingSize = 8, Positions = PositionEncoding.Rotary };

    [Fact]
    public void SaveLoad_RoundTrip_SameWeightsConfigAndTokenizer()
    {
        using var dir = new TempDir();
        var model = new GptModel(Cfg, 3);
        var opt = new AdamW(model.Layout, new AdamWOptions()) { Step = 7 };
        opt.M[5] = 1.5f;
        Checkpoint.Save(dir.Path, model, opt, new TrainingState { Step = 7 }, CharTokenizer.FromText("abcdefghij"));
        var back = Checkpoint.LoadFull(dir.Path, withOptimizer: true);
        Assert.Equal(model.Config, back.Model.Config);
        Assert.Equal(model.Parameters, back.Model.Parameters);
        Assert.Equal(1.5f, back.Optimizer!.M[5]);
        Assert.Equal(7, back.Optimizer.Step);
        Assert.Equal("cab", back.Tokenizer!.Decode(back.Tokenizer.Encode("cab")));
        Assert.False(File.Exists(Path.Combine(dir.Path, Checkpoint.FileName + ".tmp")));
    }

    [Fact]
    public void Load_Missing_ThrowsFileNotFoundNamingPath()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => Checkpoint.Load(dir.Path));
        Assert.Contains(dir.Path, e.Message);
    }

    [Fact]
    public void Load_Truncated_ThrowsWithExpectedAndActualSize()
    {
        using var dir = new TempDir();
        Checkpoint.Save(dir.Path, new GptModel(Cfg, 1));
        string path = Path.Combine(dir.Path, Checkpoint.FileName);
        long size = new FileInfo(path).Length;
        using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(size - 100);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(dir.Path));
        Assert.Contains("truncated", e.Message);
        Assert.Contains(size.ToString(), e.Message);
    }

    [Fact]
    public void Load_WrongMagic_ThrowsNotACheckpoint()
    {
        using var dir = new TempDir();
        Checkpoint.Save(dir.Path, new GptModel(Cfg, 1));
        string path = Path.Combine(dir.Path, Checkpoint.FileName);
        var bytes = File.ReadAllBytes(path);
        bytes[0] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(dir.Path));
        Assert.Contains("magic", e.Message);
    }
}
