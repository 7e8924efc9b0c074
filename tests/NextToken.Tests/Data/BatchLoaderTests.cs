// Tests of BatchLoader: shifted targets, llm.c's sequential walk, random offsets, exact resume from saved state.
using NextToken.Data;

namespace NextToken.Tests.Data;

public sealed class BatchLoaderTests
{
    private static int[] Ramp(int n) => Enumerable.Range(0, n).ToArray();

    [Theory]
    [InlineData(BatchOrder.Sequential)]
    [InlineData(BatchOrder.Random)]
    public void Next_AnyOrder_TargetsAreInputsShiftedByOne(BatchOrder order)
    {
        var tokens = Ramp(1000).Select(i => (i * 31) % 977).ToArray();
        var loader = new BatchLoader(tokens, 4, 8, order, 1);
        var x = new int[32]; var y = new int[32];
        for (int step = 0; step < 50; step++)
        {
            loader.Next(x, y);
            for (int b = 0; b < 4; b++)
            {
                int start = Array.IndexOf(tokens, x[b * 8]); // tokens are distinct, so this finds the window
                for (int t = 0; t < 8; t++)
                {
                    Assert.Equal(tokens[start + t], x[b * 8 + t]);
                    Assert.Equal(tokens[start + t + 1], y[b * 8 + t]);
                }
            }
        }
    }

    [Fact]
    public void Next_Sequential_WalksConsecutiveWindowsAndWraps()
    {
        var loader = new BatchLoader(Ramp(20), 2, 4, BatchOrder.Sequential, 0);
        var x = new int[8]; var y = new int[8];
        loader.Next(x, y);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], x);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], y);
        loader.Next(x, y);
        Assert.Equal([8, 9, 10, 11, 12, 13, 14, 15], x);
        loader.Next(x, y); // a window at 16 would need token 20: wrap
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], x);
    }

    [Fact]
    public void Next_Random_SameSeedSameBatchesOtherSeedDiffers()
    {
        var tokens = Ramp(5000);
        var a = new BatchLoader(tokens, 3, 5, BatchOrder.Random, 7);
        var b = new BatchLoader(tokens, 3, 5, BatchOrder.Random, 7);
        var c = new BatchLoader(tokens, 3, 5, BatchOrder.Random, 8);
        int[] xa = new int[15], ya = new int[15], xb = new int[15], yb = new int[15], xc = new int[15], yc = new int[15];
        a.Next(xa, ya); b.Next(xb, yb); c.Next(xc, yc);
        Assert.Equal(xa, xb);
        Assert.NotEqual(xa, xc);
    }

    [Fact]
    public void Next_Random_CoversEveryStartIncludingTheLast()
    {
        var loader = new BatchLoader(Ramp(10), 1, 3, BatchOrder.Random, 3);
        var seen = new HashSet<int>();
        var x = new int[3]; var y = new int[3];
        for (int i = 0; i < 500; i++) { loader.Next(x, y); seen.Add(x[0]); }
        Assert.Equal(Ramp(7), seen.Order()); // starts 0..6: the last window is 6,7,8 -> 7,8,9
    }

    [Theory]
    [InlineData(BatchOrder.Sequential)]
    [InlineData(BatchOrder.Random)]
    public void Restore_SavedState_ReproducesSubsequentBatches(BatchOrder order)
    {
        var tokens = Ramp(3001);
        var run = new BatchLoader(tokens, 4, 16, order, 99);
        var x = new int[64]; var y = new int[64];
        for (int i = 0; i < 17; i++) run.Next(x, y);
        var saved = run.State;
        var expectedX = new List<int[]>(); var expectedY = new List<int[]>();
        for (int i = 0; i < 30; i++) { run.Next(x, y); expectedX.Add(x.ToArray()); expectedY.Add(y.ToArray()); }

        var resumed = new BatchLoader(tokens, 4, 16, order, 12345); // seed is overwritten by the state
        resumed.Restore(saved);
        for (int i = 0; i < 30; i++)
        {
            resumed.Next(x, y);
            Assert.Equal(expectedX[i], x);
            Assert.Equal(expectedY[i], y);
        }
    }

    [Fact]
    public void Constructor_TooFewTokens_ThrowsClearError()
    {
        var e = Assert.Throws<ArgumentException>(() => new BatchLoader(Ramp(8), 1, 8, BatchOrder.Sequential, 0));
        Assert.Contains("at least 9", e.Message);
        _ = new BatchLoader(Ramp(9), 5, 8, BatchOrder.Sequential, 0); // T+1 is enough, even for B>1
    }

    [Fact]
    public void Constructor_EmptyTokenFile_Throws()
    {
        using var dir = new TempDir();
        TokenFile.Write(dir.File("empty.bin"), [], 10);
        using var f = TokenFile.Open(dir.File("empty.bin"));
        Assert.Equal(0, f.Count);
        Assert.Throws<ArgumentException>(() => new BatchLoader(f, 1, 4, BatchOrder.Random, 0));
    }

    [Fact]
    public void Next_WrongSpanLength_Throws()
    {
        var loader = new BatchLoader(Ramp(100), 2, 4, BatchOrder.Sequential, 0);
        Assert.Throws<ArgumentException>(() => loader.Next(new int[7], new int[8]));
        Assert.Throws<ArgumentException>(() => loader.Next(new int[8], new int[9]));
    }

    [Fact]
    public void Next_FromTokenFile_MatchesInMemory()
    {
        using var dir = new TempDir();
        var tokens = Ramp(777).Select(i => i % 300).ToArray();
        TokenFile.Write(dir.File("f.bin"), tokens, 300);
        using var f = TokenFile.Open(dir.File("f.bin"));
        var fromFile = new BatchLoader(f, 3, 10, BatchOrder.Random, 5);
        var fromArray = new BatchLoader(tokens, 3, 10, BatchOrder.Random, 5);
        int[] x1 = new int[30], y1 = new int[30], x2 = new int[30], y2 = new int[30];
        for (int i = 0; i < 20; i++)
        {
            fromFile.Next(x1, y1); fromArray.Next(x2, y2);
            Assert.Equal(x2, x1); Assert.Equal(y2, y1);
        }
    }
}
