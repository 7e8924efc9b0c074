// SweepModel: one model shape of a sweep, written LAYERSxWIDTH or LAYERSxWIDTHxHEADS.
using System.Globalization;

namespace NextToken.Scaling;

/// <summary>A sweep's model shape. Heads default to width/16 (head size 16) when 16 divides the width, else 1.</summary>
public sealed record SweepModel(int Layers, int Width, int Heads)
{
    /// <summary>Parses <c>2x64</c> or <c>2x64x4</c>.</summary>
    public static SweepModel Parse(string spec)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        var parts = spec.Trim().ToLowerInvariant().Split('x');
        if (parts.Length is < 2 or > 3 || !parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0))
            throw new ArgumentException($"model size '{spec}' is not LAYERSxWIDTH or LAYERSxWIDTHxHEADS with positive integers (e.g. 2x64 or 2x64x4)", nameof(spec));
        int layers = int.Parse(parts[0], CultureInfo.InvariantCulture), width = int.Parse(parts[1], CultureInfo.InvariantCulture);
        int heads = parts.Length == 3 ? int.Parse(parts[2], CultureInfo.InvariantCulture) : width % 16 == 0 ? width / 16 : 1;
        if (width % heads != 0) throw new ArgumentException($"model size '{spec}': {heads} heads do not divide the width {width}", nameof(spec));
        return new SweepModel(layers, width, heads);
    }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Layers}x{Width}x{Heads}");
}
