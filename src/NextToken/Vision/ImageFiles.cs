// ImageFiles: PNG/JPEG (and the other formats ImageSharp decodes) read into the float RGB layout the image encoder takes,
// resized to the model's resolution by area averaging.
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace NextToken.Vision;

/// <summary>
/// Image files for multimodal models, decoded by SixLabors.ImageSharp (pure managed, Apache-2.0). Resizing is area
/// averaging (a box filter): each output pixel is the mean of the source area it covers, with partial source pixels
/// weighted by the fraction covered, so downscaling never aliases a thin stroke away and an image already at the
/// model's size is unchanged. Non-square images are stretched to the square (documented: draw square images).
/// Transparent pixels are composited on black (the task's background).
/// </summary>
public static class ImageFiles
{
    /// <summary>Reads <paramref name="path"/> as (size, size, 3) RGB values in [0, 1].</summary>
    public static float[] Load(string path, int size)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"image '{path}' does not exist", path);
        return Decode(File.ReadAllBytes(path), size, $"'{path}'");
    }

    /// <summary>Decodes an encoded image (PNG, JPEG, …) held in memory; <paramref name="name"/> names it in errors.</summary>
    public static float[] Decode(byte[] data, int size, string name)
    {
        ArgumentNullException.ThrowIfNull(data);
        Image<Rgba32> image;
        try { image = Image.Load<Rgba32>(data); }
        catch (Exception e) when (e is UnknownImageFormatException or InvalidImageContentException or NotSupportedException or ImageFormatException)
        {
            throw new InvalidDataException($"{name} is not an image NextToken can read (PNG, JPEG, BMP, GIF, TGA, TIFF, WebP): {e.Message.Split('\n')[0]}", e);
        }
        using (image)
        {
            int w = image.Width, h = image.Height;
            var src = new float[w * h * 3];
            image.ProcessPixelRows(rows =>
            {
                for (int y = 0; y < h; y++)
                {
                    var row = rows.GetRowSpan(y);
                    for (int x = 0; x < w; x++)
                    {
                        var p = row[x];
                        float a = p.A / 255f;
                        int i = (y * w + x) * 3;
                        src[i] = p.R / 255f * a; src[i + 1] = p.G / 255f * a; src[i + 2] = p.B / 255f * a;
                    }
                }
            });
            return Resize(src, w, h, size);
        }
    }

    /// <summary>
    /// Area-averaging resize of an RGB image (w, h, 3) to (size, size, 3): output pixel (X, Y) covers the source
    /// rectangle [X·w/size, (X+1)·w/size) × [Y·h/size, (Y+1)·h/size) and is the coverage-weighted mean of it.
    /// </summary>
    public static float[] Resize(ReadOnlySpan<float> src, int w, int h, int size)
    {
        if (w < 1 || h < 1 || size < 1) throw new ArgumentException($"cannot resize a {w}x{h} image to {size}x{size}");
        if (src.Length != w * h * 3) throw new ArgumentException($"image has {src.Length} values, expected {w}x{h}x3");
        if (w == size && h == size) return src.ToArray();
        var dst = new float[size * size * 3];
        double sx = (double)w / size, sy = (double)h / size;
        for (int Y = 0; Y < size; Y++)
        {
            double y0 = Y * sy, y1 = (Y + 1) * sy;
            for (int X = 0; X < size; X++)
            {
                double x0 = X * sx, x1 = (X + 1) * sx;
                double r = 0, g = 0, b = 0, area = 0;
                for (int y = (int)y0; y < Math.Min(h, (int)Math.Ceiling(y1)); y++)
                {
                    double fy = Math.Min(y + 1, y1) - Math.Max(y, y0);
                    if (fy <= 0) continue;
                    for (int x = (int)x0; x < Math.Min(w, (int)Math.Ceiling(x1)); x++)
                    {
                        double f = (Math.Min(x + 1, x1) - Math.Max(x, x0)) * fy;
                        if (f <= 0) continue;
                        int i = (y * w + x) * 3;
                        r += f * src[i]; g += f * src[i + 1]; b += f * src[i + 2]; area += f;
                    }
                }
                int o = (Y * size + X) * 3;
                dst[o] = (float)(r / area); dst[o + 1] = (float)(g / area); dst[o + 2] = (float)(b / area);
            }
        }
        return dst;
    }

    /// <summary>Writes (size, size, 3) RGB values in [0, 1] as a PNG (tests, docs).</summary>
    public static void SavePng(ReadOnlySpan<float> pixels, int size, string path, int scale = 1)
    {
        using var image = new Image<Rgb24>(size * scale, size * scale);
        for (int y = 0; y < size * scale; y++)
            for (int x = 0; x < size * scale; x++)
            {
                int i = ((y / scale) * size + x / scale) * 3;
                image[x, y] = new Rgb24((byte)Math.Round(pixels[i] * 255), (byte)Math.Round(pixels[i + 1] * 255), (byte)Math.Round(pixels[i + 2] * 255));
            }
        image.SaveAsPng(path);
    }
}
