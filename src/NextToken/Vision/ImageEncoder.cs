// ImageEncoder: raw RGB patches projected into the model width (Fuyu-style, or through an MLP as LLaVA-1.5), framed by learned image-start and
// image-end vectors, as the embedding prefix of a row.
using NextToken.Kernels;
using NextToken.Model;

namespace NextToken.Vision;

/// <summary>
/// The image side of a multimodal <see cref="GptModel"/>. An image (S, S, 3) with values in [0, 1] is cut into
/// (S/p)² patches of p × p pixels in raster order (left to right, then top to bottom), each flattened row by row with the
/// three channels of a pixel together and scaled to [−1, 1]; a linear layer (<c>img.proj</c>, C × 3p²) maps each to the
/// model width (or LLaVA-1.5's MLP, <c>img.fc</c>, GELU, <c>img.proj</c>), optionally followed by learned 2-D positions
/// (<c>img.row</c>, <c>img.col</c>) and a small ViT (<see cref="VisionEncoder"/>). The prefix of a row is
/// <c>img.start</c>, the patch vectors (or, with <see cref="GptConfig.ImageMerge"/>, one vector per m × m block of them,
/// <c>img.merge</c>), the readout vectors <c>img.read</c> where the model has them, <c>img.end</c> (P = image tokens + readouts + 2); the model adds its position embeddings to them
/// like to tokens (1-D raster positions).
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
    /// patches is (B, NP, D) from <see cref="Patches"/>; prefix is (B, P, C), P = NP + R + 2: img.start, W·patch + b for each
    /// patch (through the MLP, the 2-D positions and the ViT where the model has them), the R rows of img.read, img.end.
    /// Overwrites prefix.
    /// </summary>
    public static void Forward(GptModel model, ReadOnlySpan<float> patches, Span<float> prefix, int B)
    {
        var cfg = Check(model);
        int NP = cfg.ImagePatches, D = cfg.ImagePatchDim, C = cfg.EmbeddingSize, R = cfg.ImageReadouts, P = cfg.ImagePrefixLength;
        if (patches.Length < B * NP * D || prefix.Length < B * P * C) throw new ArgumentException($"image encoder buffers too small for B={B}: patches {B * NP * D}, prefix {B * P * C} floats");
        int NT = cfg.ImageTokens;
        var s = Scratch(model, B);
        lock (s) // the scratch is the model's: encodes of one model take turns
        {
            var z = Project(model, patches, B, s);
            if (cfg.ImageMerge > 1) z = Merge(model, z, B, s);
            for (int b = 0; b < B; b++)
            {
                var row = prefix.Slice(b * P * C, P * C);
                model.Parameter("img.start").CopyTo(row[..C]);
                z.Slice(b * NT * C, NT * C).CopyTo(row.Slice(C, NT * C));
                if (R > 0) model.Parameter("img.read").CopyTo(row.Slice((1 + NT) * C, R * C));
                model.Parameter("img.end").CopyTo(row.Slice((P - 1) * C, C));
            }
        }
    }

    // The patch vectors (B·NP, C) in s.Z: projector (linear, or MLP with its hidden layer in s.Pre/s.Act), 2-D positions,
    // then img.pos and the ViT (its activations in s.Encoder).
    private static Span<float> Project(GptModel model, ReadOnlySpan<float> patches, int B, EncoderScratch s)
    {
        var cfg = model.Config;
        int NP = cfg.ImagePatches, D = cfg.ImagePatchDim, C = cfg.EmbeddingSize, H = cfg.ImageProjectorHidden;
        var z = s.Z.AsSpan(0, B * NP * C);
        var w = model.Parameter("img.proj.weight");
        var bias = model.Parameter("img.proj.bias");
        if (H > 0)
        {
            HiddenForward(model, patches, s.Pre, s.Act, B * NP);
            Matmul.Forward(s.Act.AsSpan(0, B * NP * H), w, bias, z, B * NP, H, C);
        }
        else Matmul.Forward(patches[..(B * NP * D)], w, bias, z, B * NP, D, C);
        for (int b = 0; b < B; b++)
        {
            if (cfg.ImagePositions2D) AddGrid(model, z.Slice(b * NP * C, NP * C));
            if (cfg.ImageEncoderLayers > 0)
            {
                var zb = z.Slice(b * NP * C, NP * C);
                System.Numerics.Tensors.TensorPrimitives.Add(zb, model.Parameter("img.pos"), zb);
            }
        }
        if (cfg.ImageEncoderLayers > 0) VisionEncoder.Forward(model, z, B, s.Encoder);
        return z;
    }

    // Pixel shuffle: z (B·NP, C) → s.Shuffled (B·NT, m²·C), token (ty, tx) holding patches (ty·m + dy, tx·m + dx) for
    // dy, dx < m in raster order; then s.Merged (B·NT, C) = img.merge · shuffled + bias. Returns s.Merged.
    private static Span<float> Merge(GptModel model, ReadOnlySpan<float> z, int B, EncoderScratch s)
    {
        var cfg = model.Config;
        int C = cfg.EmbeddingSize, m = cfg.ImageMerge, NT = cfg.ImageTokens;
        Shuffle(cfg, z, s.Shuffled, B, toTokens: true);
        var merged = s.Merged.AsSpan(0, B * NT * C);
        Matmul.Forward(s.Shuffled.AsSpan(0, B * NT * m * m * C), model.Parameter("img.merge.weight"), model.Parameter("img.merge.bias"), merged, B * NT, m * m * C, C);
        return merged;
    }

    // Moves patch vectors (B·NP, C) into merged-token order (B·NT, m²·C), or back (toTokens false: tokens → patches).
    private static void Shuffle(GptConfig cfg, ReadOnlySpan<float> from, Span<float> to, int B, bool toTokens)
    {
        int C = cfg.EmbeddingSize, m = cfg.ImageMerge, n = cfg.ImageSize / cfg.ImagePatchSize, nt = n / m, NP = n * n;
        for (int b = 0; b < B; b++)
            for (int ty = 0; ty < nt; ty++)
                for (int tx = 0; tx < nt; tx++)
                    for (int dy = 0; dy < m; dy++)
                        for (int dx = 0; dx < m; dx++)
                        {
                            int patch = b * NP + (ty * m + dy) * n + tx * m + dx;
                            int slot = ((b * nt * nt + ty * nt + tx) * m * m + dy * m + dx) * C;
                            if (toTokens) from.Slice(patch * C, C).CopyTo(to.Slice(slot, C));
                            else from.Slice(slot, C).CopyTo(to.Slice(patch * C, C));
                        }
    }

    // 2-D positions: patch k (grid row k / n, column k % n) gets img.row[k / n] + img.col[k % n]. patches is (NP, C).
    private static void AddGrid(GptModel model, Span<float> patches)
    {
        int C = model.Config.EmbeddingSize, n = model.Config.ImageSize / model.Config.ImagePatchSize;
        var rows = model.Parameter("img.row");
        var cols = model.Parameter("img.col");
        for (int k = 0; k < n * n; k++)
        {
            var p = patches.Slice(k * C, C);
            System.Numerics.Tensors.TensorPrimitives.Add(p, rows.Slice(k / n * C, C), p);
            System.Numerics.Tensors.TensorPrimitives.Add(p, cols.Slice(k % n * C, C), p);
        }
    }

    // The MLP projector's hidden layer for N patches: pre = img.fc · patch + b, act = GELU(pre).
    private static void HiddenForward(GptModel model, ReadOnlySpan<float> patches, float[] pre, float[] act, int N)
    {
        int D = model.Config.ImagePatchDim, H = model.Config.ImageProjectorHidden;
        Matmul.Forward(patches[..(N * D)], model.Parameter("img.fc.weight"), model.Parameter("img.fc.bias"), pre.AsSpan(0, N * H), N, D, H);
        Gelu.Forward(pre, act, N * H);
    }

    // Scratch per model, grown to the largest batch seen (no allocation once warm): the patch vectors and their gradient,
    // the MLP projector's hidden layer (pre-activation, activation, its gradient), the ViT's activations.
    private sealed class EncoderScratch
    {
        public float[] Z = [], DZ = [], Pre = [], Act = [], DAct = [], Shuffled = [], DShuffled = [], Merged = [], DMerged = [];
        public readonly VisionEncoder.Activations Encoder = new();
        public int Images;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<GptModel, EncoderScratch> ScratchTable = new();

    private static EncoderScratch Scratch(GptModel model, int B)
    {
        var s = ScratchTable.GetValue(model, _ => new EncoderScratch());
        lock (s)
        {
            if (s.Images < B)
            {
                int NP = model.Config.ImagePatches, C = model.Config.EmbeddingSize, H = model.Config.ImageProjectorHidden;
                s.Z = new float[B * NP * C]; s.DZ = new float[B * NP * C];
                s.Pre = new float[B * NP * H]; s.Act = new float[B * NP * H]; s.DAct = new float[B * NP * H];
                if (model.Config.ImageMerge > 1)
                {
                    int NT = model.Config.ImageTokens;
                    s.Shuffled = new float[B * NP * C]; s.DShuffled = new float[B * NP * C]; s.Merged = new float[B * NT * C]; s.DMerged = new float[B * NT * C];
                }
                s.Images = B;
            }
        }
        return s;
    }

    /// <summary>The prefix (NP + R + 2, C) of one image (S × S × 3 in [0, 1], the model's input size): patches, then <see cref="Forward"/>.</summary>
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
    /// dprefix is (B, NP + R + 2, C) (the model's <see cref="GptModel.PrefixGradient"/>); accumulates the gradients of
    /// img.proj.weight (dprefixᵀ · patches), img.proj.bias, img.start and img.end (and img.fc, img.row, img.col, img.pos, img.read
    /// and the ViT's tensors where the model has them) into the model's gradient arena.
    /// </summary>
    public static void Backward(GptModel model, ReadOnlySpan<float> patches, ReadOnlySpan<float> dprefix, int B)
    {
        var cfg = Check(model);
        int NP = cfg.ImagePatches, D = cfg.ImagePatchDim, C = cfg.EmbeddingSize, R = cfg.ImageReadouts, P = cfg.ImagePrefixLength, H = cfg.ImageProjectorHidden;
        if (patches.Length < B * NP * D || dprefix.Length < B * P * C) throw new ArgumentException($"image encoder backward buffers too small for B={B}");
        var ds = model.Gradient("img.start");
        var de = model.Gradient("img.end");
        var s = Scratch(model, B);
        lock (s)
        {
            // The forward is recomputed from the patches (a few small GEMMs) rather than kept, so that an encode between a
            // training forward and its backward cannot corrupt it.
            var z = Project(model, patches, B, s);
            int NT = cfg.ImageTokens, m = cfg.ImageMerge;
            if (m > 1) Merge(model, z, B, s); // for s.Shuffled
            var dz = s.DZ.AsSpan(0, B * NP * C);
            var dtokens = m > 1 ? s.DMerged.AsSpan(0, B * NT * C) : dz;
            for (int b = 0; b < B; b++)
            {
                var row = dprefix.Slice(b * P * C, P * C);
                System.Numerics.Tensors.TensorPrimitives.Add(ds, row[..C], ds);
                row.Slice(C, NT * C).CopyTo(dtokens.Slice(b * NT * C, NT * C));
                if (R > 0)
                {
                    var dr = model.Gradient("img.read");
                    System.Numerics.Tensors.TensorPrimitives.Add(dr, row.Slice((1 + NT) * C, R * C), dr);
                }
                System.Numerics.Tensors.TensorPrimitives.Add(de, row.Slice((P - 1) * C, C), de);
            }
            if (m > 1)
            {
                var dshuffled = s.DShuffled.AsSpan(0, B * NP * C);
                dshuffled.Clear();
                Matmul.Backward(dtokens, s.Shuffled.AsSpan(0, B * NP * C), model.Parameter("img.merge.weight"), dshuffled,
                                model.Gradient("img.merge.weight"), model.Gradient("img.merge.bias"), B * NT, m * m * C, C);
                Shuffle(cfg, dshuffled, dz, B, toTokens: false);
            }
            if (cfg.ImageEncoderLayers > 0)
            {
                VisionEncoder.Backward(model, dz, B, s.Encoder);
                var dpos = model.Gradient("img.pos");
                for (int b = 0; b < B; b++) System.Numerics.Tensors.TensorPrimitives.Add(dpos, dz.Slice(b * NP * C, NP * C), dpos);
            }
            if (cfg.ImagePositions2D)
            {
                int n = cfg.ImageSize / cfg.ImagePatchSize;
                var drow = model.Gradient("img.row");
                var dcol = model.Gradient("img.col");
                for (int k = 0; k < B * NP; k++)
                {
                    var g = dz.Slice(k * C, C);
                    int r = k % NP / n, c = k % NP % n;
                    System.Numerics.Tensors.TensorPrimitives.Add(drow.Slice(r * C, C), g, drow.Slice(r * C, C));
                    System.Numerics.Tensors.TensorPrimitives.Add(dcol.Slice(c * C, C), g, dcol.Slice(c * C, C));
                }
            }
            var w = model.Parameter("img.proj.weight");
            var dw = model.Gradient("img.proj.weight");
            var db = model.Gradient("img.proj.bias");
            if (H > 0)
            {
                int N = B * NP;
                Array.Clear(s.DAct, 0, N * H);
                Matmul.Backward(dz, s.Act.AsSpan(0, N * H), w, s.DAct.AsSpan(0, N * H), dw, db, N, H, C);
                // dpre = GELU'(pre) ⊙ dact, written over act (no longer needed); then img.fc's gradients.
                Array.Clear(s.Act, 0, N * H);
                Gelu.Backward(s.Pre, s.DAct, s.Act, N * H);
                Matmul.Backward(s.Act.AsSpan(0, N * H), patches[..(N * D)], model.Parameter("img.fc.weight"), default,
                                model.Gradient("img.fc.weight"), model.Gradient("img.fc.bias"), N, D, H);
            }
            else Matmul.Backward(dz, patches[..(B * NP * D)], w, default, dw, db, B * NP, D, C);
        }
    }

    private static GptConfig Check(GptModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!model.Config.Multimodal) throw new InvalidOperationException("this model is text-only: it has no image encoder (a multimodal model has GptConfig.ImageSize set)");
        return model.Config;
    }
}
