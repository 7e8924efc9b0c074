// ImageEncoder: raw RGB patches projected into the model width (Fuyu-style, or through an MLP as LLaVA-1.5), framed by learned image-start and
// image-end vectors, as the embedding prefix of a row.
using NextToken.Kernels;
using NextToken.Model;

namespace NextToken.Vision;

/// <summary>
/// The image side of a multimodal <see cref="GptModel"/>. An image (S, S, 3) with values in [0, 1] is cut into
/// (S/p)² patches of p × p pixels in raster order (left to right, then top to bottom), each flattened row by row with the
/// three channels of a pixel together and scaled to [−1, 1]; a linear layer (<c>img.proj</c>, C × 3p²) maps each to the
/// model width. The prefix of a row is <c>img.start</c>, the projected patches, <c>img.end</c> (P = patches + 2); the
/// model adds its position embeddings to them like to tokens (1-D raster positions).
/// </summary>
public static class ImageEncoder
{
    /// <summary>
    /// image is (S, S, 3) in [0, 1]; patches is (NP, 3·p²). Patch k = (py, px) with k = py·(S/p) + px holds pixel (y, x)
    /// of the patch at index (y·p + x)·3 + channel, scaled to 2·v − 1.
    /// </summary>
    public static void Patches(ReadOnlySpan<float> image, int size, int patch, Span<float> patches)
    {
        if (patch < 1 || size % patch != 0) throw new ArgumentException($"patch size {patch} must divide the image size {size}");
        int n = size / patch, d = 3 * patch * patch;
        if (image.Length != size * size * 3) throw new ArgumentException($"image has {image.Length} values, expected {size}x{size}x3 = {size * size * 3}");
        if (patches.Length < n * n * d) throw new ArgumentException($"patches needs {n * n * d} floats");
        for (int py = 0; py < n; py++)
            for (int px = 0; px < n; px++)
            {
                var dst = patches.Slice((py * n + px) * d, d);
                for (int y = 0; y < patch; y++)
                    for (int x = 0; x < patch; x++)
                        for (int c = 0; c < 3; c++)
                            dst[(y * patch + x) * 3 + c] = 2f * image[((py * patch + y) * size + px * patch + x) * 3 + c] - 1f;
            }
    }

    /// <summary>
    /// patches is (B, NP, D) from <see cref="Patches"/>; prefix is (B, NP + 2, C): img.start, W·patch + b for each patch,
    /// img.end. Overwrites prefix.
    /// </summary>
    public static void Forward(GptModel model, ReadOnlySpan<float> patches, Span<float> prefix, int B)
    {
        var cfg = Check(model);
        int NP = cfg.ImagePatches, D = cfg.ImagePatchDim, C = cfg.EmbeddingSize, P = NP + 2;
        if (patches.Length < B * NP * D || prefix.Length < B * P * C) throw new ArgumentException($"image encoder buffers too small for B={B}: patches {B * NP * D}, prefix {B * P * C} floats");
        var w = model.Parameter("img.proj.weight");
        var bias = model.Parameter("img.proj.bias");
        int H = cfg.ImageProjectorHidden;
        var s = H > 0 ? Scratch(model, B * NP * H) : null;
        lock (s ?? NoScratch) // the hidden layer's scratch is the model's: encodes of one model take turns
        {
            if (H > 0) HiddenForward(model, patches, s![0], s[1], B * NP);
            for (int b = 0; b < B; b++)
            {
                var row = prefix.Slice(b * P * C, P * C);
                model.Parameter("img.start").CopyTo(row[..C]);
                if (H > 0) Matmul.Forward(s![1].AsSpan(b * NP * H, NP * H), w, bias, row.Slice(C, NP * C), NP, H, C);
                else Matmul.Forward(patches.Slice(b * NP * D, NP * D), w, bias, row.Slice(C, NP * C), NP, D, C);
                model.Parameter("img.end").CopyTo(row.Slice((P - 1) * C, C));
            }
        }
    }

    // The MLP projector's hidden layer for N patches: pre = img.fc · patch + b, act = GELU(pre).
    private static void HiddenForward(GptModel model, ReadOnlySpan<float> patches, float[] pre, float[] act, int N)
    {
        int D = model.Config.ImagePatchDim, H = model.Config.ImageProjectorHidden;
        Matmul.Forward(patches[..(N * D)], model.Parameter("img.fc.weight"), model.Parameter("img.fc.bias"), pre.AsSpan(0, N * H), N, D, H);
        Gelu.Forward(pre, act, N * H);
    }

    // Scratch for the hidden layer, per model ([pre, act, dact]), grown to the largest batch seen (no allocation once warm).
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<GptModel, float[][]> ScratchTable = new();
    private static readonly object NoScratch = new();

    private static float[][] Scratch(GptModel model, int length)
    {
        var s = ScratchTable.GetValue(model, _ => [[], [], []]);
        lock (s)
        {
            if (s[0].Length < length) { s[0] = new float[length]; s[1] = new float[length]; s[2] = new float[length]; }
        }
        return s;
    }

    /// <summary>The prefix (NP + 2, C) of one image (S × S × 3 in [0, 1], the model's input size): patches, then <see cref="Forward"/>.</summary>
    public static float[] Prefix(GptModel model, ReadOnlySpan<float> image)
    {
        var cfg = Check(model);
        var patches = new float[cfg.ImagePatches * cfg.ImagePatchDim];
        Patches(image, cfg.ImageSize, cfg.ImagePatchSize, patches);
        var prefix = new float[cfg.ImagePrefixLength * cfg.EmbeddingSize];
        Forward(model, patches, prefix, 1);
        return prefix;
    }

    /// <summary>
    /// dprefix is (B, NP + 2, C) (the model's <see cref="GptModel.PrefixGradient"/>); accumulates the gradients of
    /// img.proj.weight (dprefixᵀ · patches), img.proj.bias, img.start and img.end into the model's gradient arena.
    /// </summary>
    public static void Backward(GptModel model, ReadOnlySpan<float> patches, ReadOnlySpan<float> dprefix, int B)
    {
        var cfg = Check(model);
        int NP = cfg.ImagePatches, D = cfg.ImagePatchDim, C = cfg.EmbeddingSize, P = NP + 2;
        if (patches.Length < B * NP * D || dprefix.Length < B * P * C) throw new ArgumentException($"image encoder backward buffers too small for B={B}");
        var dw = model.Gradient("img.proj.weight");
        var db = model.Gradient("img.proj.bias");
        var ds = model.Gradient("img.start");
        var de = model.Gradient("img.end");
        var w = model.Parameter("img.proj.weight");
        int H = cfg.ImageProjectorHidden;
        var s = H > 0 ? Scratch(model, B * NP * H) : null;
        lock (s ?? NoScratch)
        {
            if (H > 0)
            {
                // The hidden layer is recomputed from the patches (one small GEMM) rather than kept from the forward.
                HiddenForward(model, patches, s![0], s[1], B * NP);
                Array.Clear(s[2], 0, B * NP * H);
            }
            for (int b = 0; b < B; b++)
            {
                var row = dprefix.Slice(b * P * C, P * C);
                System.Numerics.Tensors.TensorPrimitives.Add(ds, row[..C], ds);
                if (H > 0) Matmul.Backward(row.Slice(C, NP * C), s![1].AsSpan(b * NP * H, NP * H), w, s[2].AsSpan(b * NP * H, NP * H), dw, db, NP, H, C);
                else Matmul.Backward(row.Slice(C, NP * C), patches.Slice(b * NP * D, NP * D), w, default, dw, db, NP, D, C);
                System.Numerics.Tensors.TensorPrimitives.Add(de, row.Slice((P - 1) * C, C), de);
            }
            if (H > 0)
            {
                // dpre = GELU'(pre) ⊙ dact, written over act (no longer needed); then img.fc's gradients.
                int N = B * NP;
                Array.Clear(s![1], 0, N * H);
                Gelu.Backward(s[0], s[2], s[1], N * H);
                Matmul.Backward(s[1].AsSpan(0, N * H), patches[..(N * D)], model.Parameter("img.fc.weight"), default,
                                model.Gradient("img.fc.weight"), model.Gradient("img.fc.bias"), N, D, H);
            }
        }
    }

    private static GptConfig Check(GptModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!model.Config.Multimodal) throw new InvalidOperationException("this model is text-only: it has no image encoder (a multimodal model has GptConfig.ImageSize set)");
        return model.Config;
    }
}
