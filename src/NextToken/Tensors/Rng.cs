// Rng: our own seeded PCG32 generator, so runs reproduce bit for bit across .NET versions and machines.
namespace NextToken.Tensors;

/// <summary>
/// PCG32 (O'Neill 2014, XSH-RR output) with a Box-Muller normal. A value type so its whole state can be copied
/// into a checkpoint (<see cref="State"/>/<see cref="Increment"/>) and restored exactly.
/// </summary>
public struct Rng
{
    /// <summary>The 64-bit LCG state.</summary>
    public ulong State;
    /// <summary>The stream selector (always odd).</summary>
    public ulong Increment;

    /// <summary>Creates a generator for <paramref name="seed"/> on stream <paramref name="stream"/>.</summary>
    public Rng(ulong seed, ulong stream = 54)
    {
        State = 0;
        Increment = (stream << 1) | 1UL;
        NextUInt();
        State += seed;
        NextUInt();
    }

    /// <summary>Next uniformly distributed 32-bit value.</summary>
    public uint NextUInt()
    {
        ulong old = State;
        State = unchecked(old * 6364136223846793005UL + Increment);
        uint xorShifted = (uint)(((old >> 18) ^ old) >> 27);
        int rot = (int)(old >> 59);
        return (xorShifted >> rot) | (xorShifted << ((-rot) & 31));
    }

    /// <summary>Uniform float in [0, 1) with 24 bits of randomness.</summary>
    public float NextFloat() => (NextUInt() >> 8) * (1.0f / 16777216.0f);

    /// <summary>Uniform double in [0, 1) with 53 bits of randomness.</summary>
    public double NextDouble()
    {
        ulong hi = NextUInt() >> 5, lo = NextUInt() >> 6; // 27 + 26 bits
        return (hi * 67108864.0 + lo) * (1.0 / 9007199254740992.0);
    }

    /// <summary>Uniform integer in [0, <paramref name="maxExclusive"/>), unbiased (Lemire's method).</summary>
    public int NextInt(int maxExclusive)
    {
        if (maxExclusive <= 0) throw new ArgumentOutOfRangeException(nameof(maxExclusive), "must be positive");
        uint range = (uint)maxExclusive;
        ulong m = (ulong)NextUInt() * range;
        uint low = (uint)m;
        if (low < range)
        {
            uint threshold = (uint)(-(int)range) % range;
            while (low < threshold) { m = (ulong)NextUInt() * range; low = (uint)m; }
        }
        return (int)(m >> 32);
    }

    /// <summary>Standard normal sample (Box-Muller, one of the pair used).</summary>
    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble(); // (0, 1]
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>Fisher-Yates shuffle in place: for i from the last index down to 1, swap item i with item NextInt(i + 1).</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>Fills <paramref name="destination"/> with N(mean, std²) samples.</summary>
    public void FillNormal(Span<float> destination, float mean, float std)
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = (float)(mean + std * NextGaussian());
    }
}
