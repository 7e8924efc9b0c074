// Tests of the llm.c-layout token file: round trips in both widths, header checks, atomic overwrite.
using System.Buffers.Binary;
using NextToken.Data;

namespace NextToken.Tests.Data;

public sealed class TokenFileTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(257)]
    [InlineData(100_003)]
    public void WriteOpen_UInt16_RoundTrips(int n)
    {
        using var dir = new TempDir();
        var tokens = Enumerable.Range(0, n).Select(i => (i * 7919) % 65536).ToArray();
        TokenFile.Write(dir.File("a.bin"), tokens, 65536);
        Assert.Equal(1024 + 2L * n, new FileInfo(dir.File("a.bin")).Length);
        using var f = TokenFile.Open(dir.File("a.bin"));
        Assert.Equal(n, f.Count);
        Assert.Equal(2, f.BytesPerToken);
        Assert.Equal(tokens, f.ToArray());
        if (n > 0) Assert.Equal(tokens[n - 1], f[n - 1]);
    }

    [Fact]
    public void WriteOpen_VocabAboveUInt16_UsesUInt32AndRoundTrips()
    {
        using var dir = new TempDir();
        int[] tokens = [0, 65535, 65536, 100_276, 42];
        TokenFile.Write(dir.File("b.bin"), tokens, 100_277);
        using var f = TokenFile.Open(dir.File("b.bin"));
        Assert.Equal(4, f.BytesPerToken);
        Assert.Equal(tokens, f.ToArray());
        Assert.Equal(100_276, f[3]);
        var header = File.ReadAllBytes(dir.File("b.bin")).AsSpan(0, 12);
        Assert.Equal(TokenFile.Magic, BinaryPrimitives.ReadInt32LittleEndian(header));
        Assert.Equal(TokenFile.VersionUInt32, BinaryPrimitives.ReadInt32LittleEndian(header[4..]));
        Assert.Equal(5, BinaryPrimitives.ReadInt32LittleEndian(header[8..]));
    }

    [Fact]
    public void Write_UInt16_MatchesLlmcLayoutByteForByte()
    {
        using var dir = new TempDir();
        TokenFile.Write(dir.File("c.bin"), [1, 258], 50257);
        var bytes = File.ReadAllBytes(dir.File("c.bin"));
        Assert.Equal(1028, bytes.Length);
        Assert.Equal(20240520, BinaryPrimitives.ReadInt32LittleEndian(bytes));
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4)));
        Assert.Equal(2, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)));
        Assert.All(bytes[12..1024], b => Assert.Equal(0, b));
        Assert.Equal(new byte[] { 1, 0, 2, 1 }, bytes[1024..]);
    }

    [Fact]
    public void Write_TokenOutsideVocab_Throws()
    {
        using var dir = new TempDir();
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenFile.Write(dir.File("d.bin"), [3, 10], 10));
        Assert.False(File.Exists(dir.File("d.bin")));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Write_ExistingFile_ReplacedWhole()
    {
        using var dir = new TempDir();
        TokenFile.Write(dir.File("e.bin"), [1, 2, 3, 4, 5], 10);
        TokenFile.Write(dir.File("e.bin"), [7], 10);
        using var f = TokenFile.Open(dir.File("e.bin"));
        Assert.Equal([7], f.ToArray());
        Assert.Single(Directory.GetFiles(dir.Path)); // no temp file left behind
    }

    [Fact]
    public void Open_Missing_ThrowsFileNotFoundNamingPath()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => TokenFile.Open(dir.File("nope.bin")));
        Assert.Contains("nope.bin", e.Message);
    }

    [Fact]
    public void Open_WrongMagic_ThrowsInvalidData()
    {
        using var dir = new TempDir();
        TokenFile.Write(dir.File("m.bin"), [1, 2], 10);
        var bytes = File.ReadAllBytes(dir.File("m.bin"));
        BinaryPrimitives.WriteInt32LittleEndian(bytes, 12345);
        File.WriteAllBytes(dir.File("m.bin"), bytes);
        var e = Assert.Throws<InvalidDataException>(() => TokenFile.Open(dir.File("m.bin")));
        Assert.Equal($"'{dir.File("m.bin")}' is not a token file: magic is 12345, expected 20240520", e.Message);
    }

    [Fact]
    public void Open_UnknownVersion_ThrowsInvalidData()
    {
        using var dir = new TempDir();
        TokenFile.Write(dir.File("v.bin"), [1, 2], 10);
        var bytes = File.ReadAllBytes(dir.File("v.bin"));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), 9);
        File.WriteAllBytes(dir.File("v.bin"), bytes);
        var e = Assert.Throws<InvalidDataException>(() => TokenFile.Open(dir.File("v.bin")));
        Assert.Contains("version 9", e.Message);
    }

    [Fact]
    public void Open_Truncated_ThrowsWithExpectedAndFoundSizes()
    {
        using var dir = new TempDir();
        TokenFile.Write(dir.File("t.bin"), [1, 2, 3], 10);
        var bytes = File.ReadAllBytes(dir.File("t.bin"));
        File.WriteAllBytes(dir.File("t.bin"), bytes[..^1]);
        var e = Assert.Throws<InvalidDataException>(() => TokenFile.Open(dir.File("t.bin")));
        Assert.Contains("truncated: expected 1030 bytes, found 1029", e.Message);
        File.WriteAllBytes(dir.File("t.bin"), bytes[..100]);
        Assert.Throws<InvalidDataException>(() => TokenFile.Open(dir.File("t.bin")));
    }

    [Fact]
    public void Read_OutOfRange_Throws()
    {
        using var dir = new TempDir();
        TokenFile.Write(dir.File("r.bin"), [1, 2, 3], 10);
        using var f = TokenFile.Open(dir.File("r.bin"));
        Assert.Throws<ArgumentOutOfRangeException>(() => f.Read(2, new int[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => f[3]);
        Assert.Throws<ArgumentOutOfRangeException>(() => f[-1]);
        var two = new int[2];
        f.Read(1, two);
        Assert.Equal([2, 3], two);
    }
}
