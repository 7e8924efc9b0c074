// AdditionTask: minGPT's adder as text, with a deterministic train/held-out split of all digit pairs.
using System.Text;
using NextToken.Tensors;

namespace NextToken.Data;

/// <summary>
/// n-digit addition written for a character model: both operands zero-padded to n digits and the (n+1)-digit
/// sum written <em>reversed</em>, least significant digit first, e.g. for n = 2, 23 + 45 = 68 is
/// <c>"23+45=860"</c> (068 reversed). Reversing (minGPT's trick) lets the model emit each digit after the
/// digits it depends on, carry included, so a small model learns it quickly. One problem per line.
/// </summary>
public static class AdditionTask
{
    /// <summary>Largest supported operand width: 3 digits is already 10^6 problems.</summary>
    public const int MaxDigits = 3;

    /// <summary>
    /// All 10^(2n) problems, shuffled with <paramref name="seed"/>; the first ⌊fraction × count⌋ are held out
    /// (never in the training text), the rest are training. Returns both as text, one problem per line.
    /// </summary>
    public static (string Train, string HeldOut) Generate(int digits, ulong seed, double heldOutFraction)
    {
        var (train, heldOut) = Split(digits, seed, heldOutFraction);
        return (Lines(train, digits), Lines(heldOut, digits));
    }

    /// <summary>The held-out problems of <see cref="Generate"/> as prompts (<c>"23+45="</c>) and expected completions (<c>"860"</c>).</summary>
    public static IReadOnlyList<(string Prompt, string Expected)> HeldOutProblems(int digits, ulong seed, double heldOutFraction)
    {
        var (_, heldOut) = Split(digits, seed, heldOutFraction);
        return heldOut.Select(k => Problem(k, digits)).ToArray();
    }

    /// <summary>Formats one problem: prompt <c>"a+b="</c> and the reversed, zero-padded sum.</summary>
    public static (string Prompt, string Expected) Format(int a, int b, int digits)
    {
        CheckDigits(digits);
        int limit = Pow10(digits);
        if ((uint)a >= (uint)limit || (uint)b >= (uint)limit)
            throw new ArgumentOutOfRangeException(nameof(a), $"operands must be in 0..{limit - 1} for {digits} digits (got {a} and {b})");
        string sum = (a + b).ToString("D" + (digits + 1), System.Globalization.CultureInfo.InvariantCulture);
        var reversed = sum.ToCharArray();
        Array.Reverse(reversed);
        string pad = "D" + digits;
        return ($"{a.ToString(pad, System.Globalization.CultureInfo.InvariantCulture)}+{b.ToString(pad, System.Globalization.CultureInfo.InvariantCulture)}=", new string(reversed));
    }

    /// <summary>
    /// Share of <paramref name="problems"/> whose completion is right. <paramref name="complete"/> gets the
    /// prompt and returns only the continuation (e.g. the model's greedy output); it counts as right when it
    /// starts with exactly the expected digits, so generating a few tokens too many does no harm.
    /// </summary>
    public static double ExactMatch(IEnumerable<(string prompt, string expected)> problems, Func<string, string> complete)
    {
        ArgumentNullException.ThrowIfNull(problems);
        ArgumentNullException.ThrowIfNull(complete);
        int total = 0, right = 0;
        foreach (var (prompt, expected) in problems)
        {
            total++;
            string? completion = complete(prompt);
            if (completion is not null && completion.StartsWith(expected, StringComparison.Ordinal)) right++;
        }
        if (total == 0) throw new ArgumentException("there are no problems to score", nameof(problems));
        return (double)right / total;
    }

    // Problem k is a = k / 10^n, b = k % 10^n. Fisher-Yates with our PCG32 so the split is the same everywhere.
    private static (int[] Train, int[] HeldOut) Split(int digits, ulong seed, double heldOutFraction)
    {
        CheckDigits(digits);
        if (!(heldOutFraction >= 0 && heldOutFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(heldOutFraction), $"held-out fraction is {heldOutFraction}; use a value in [0, 1), e.g. 0.1");
        int count = Pow10(2 * digits);
        var order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        var rng = new Rng(seed);
        rng.Shuffle<int>(order);
        int held = (int)(count * heldOutFraction);
        return (order[held..], order[..held]);
    }

    private static (string Prompt, string Expected) Problem(int k, int digits)
    {
        int p = Pow10(digits);
        return Format(k / p, k % p, digits);
    }

    private static string Lines(int[] problems, int digits)
    {
        var text = new StringBuilder(problems.Length * (3 * digits + 4));
        foreach (int k in problems)
        {
            var (prompt, expected) = Problem(k, digits);
            text.Append(prompt).Append(expected).Append('\n');
        }
        return text.ToString();
    }

    private static void CheckDigits(int digits)
    {
        if (digits < 1 || digits > MaxDigits)
            throw new ArgumentOutOfRangeException(nameof(digits), $"digits is {digits}; use 1..{MaxDigits}");
    }

    private static int Pow10(int e)
    {
        int r = 1;
        for (int i = 0; i < e; i++) r *= 10;
        return r;
    }
}
