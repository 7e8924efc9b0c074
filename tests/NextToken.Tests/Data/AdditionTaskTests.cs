// Tests of the addition task: format, a disjoint deterministic split, and exact-match scoring.
using NextToken.Data;

namespace NextToken.Tests.Data;

public sealed class AdditionTaskTests
{
    [Fact]
    public void Format_TwoDigits_ReversedZeroPaddedSum()
    {
        Assert.Equal(("23+45=", "860"), AdditionTask.Format(23, 45, 2));
        Assert.Equal(("99+99=", "891"), AdditionTask.Format(99, 99, 2));
        Assert.Equal(("00+07=", "700"), AdditionTask.Format(0, 7, 2));
        Assert.Equal(("5+5=", "01"), AdditionTask.Format(5, 5, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => AdditionTask.Format(100, 1, 2));
    }

    [Fact]
    public void Generate_TwoDigits_DisjointCompleteDeterministicSplit()
    {
        var (train, heldOut) = AdditionTask.Generate(2, 1337, 0.1);
        var trainLines = train.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var heldLines = heldOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(9000, trainLines.Length);
        Assert.Equal(1000, heldLines.Length);
        Assert.Empty(trainLines.Intersect(heldLines));
        Assert.Equal(10_000, trainLines.Concat(heldLines).Distinct().Count());
        Assert.All(trainLines, l => Assert.Equal(9, l.Length));
        Assert.Equal((train, heldOut), AdditionTask.Generate(2, 1337, 0.1));
        Assert.NotEqual(heldOut, AdditionTask.Generate(2, 1338, 0.1).HeldOut);
    }

    [Fact]
    public void HeldOutProblems_MatchHeldOutText()
    {
        var problems = AdditionTask.HeldOutProblems(2, 7, 0.2);
        var (_, heldOut) = AdditionTask.Generate(2, 7, 0.2);
        Assert.Equal(heldOut, string.Concat(problems.Select(p => p.Prompt + p.Expected + "\n")));
    }

    [Fact]
    public void ExactMatch_PerfectAndWrongDelegates_OneAndZero()
    {
        var problems = AdditionTask.HeldOutProblems(2, 3, 0.1);
        static string Solve(string prompt)
        {
            var parts = prompt.TrimEnd('=').Split('+');
            return AdditionTask.Format(int.Parse(parts[0]), int.Parse(parts[1]), parts[0].Length).Expected + "\n12+";
        }
        Assert.Equal(1.0, AdditionTask.ExactMatch(problems, Solve));
        Assert.Equal(0.0, AdditionTask.ExactMatch(problems, p => "xyz"));
        Assert.Equal(0.0, AdditionTask.ExactMatch(problems, p => Solve(p)[..2])); // a digit short
        Assert.Equal(0.5, AdditionTask.ExactMatch([("1+1=", "20"), ("1+2=", "30")], p => "20"));
        Assert.Throws<ArgumentException>(() => AdditionTask.ExactMatch([], p => ""));
    }
}
