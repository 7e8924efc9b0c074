// The image side of the multimodal model: patch extraction and projection on hand-computed examples, the projection's
// backward against finite differences in double, the model's gradient through the image prefix, KV-cache decoding
// with an image prefix against the full forward, the renderer, questions, resizing, scoring and bad input.
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tests.Data;
using NextToken.Vision;

namespace NextToken.Tests.Vision;

public sealed class VisionTests
{
    private static GptConfig Tiny(int imageSize = 8, int patch = 4) => new()
    {
        VocabSize = 11, ContextLength = 16, Layers = 2, Heads = 2, EmbeddingSize = 8, ImageSize = imageSize, ImagePatchSize = patch,
    };

    private static float[] RandomImage(int size, ulong seed)
    {
        var r = new Rng(seed);
        var img = new float[size * size * 3];
        for (int i = 0; i < img.Length; i++) img[i] = r.NextFloat();
        return img;
    }

    [Fact]
    public void Patches_RasterOrder_PixelsRowByRow_ChannelsTogether_ScaledToMinusOneOne()
    {
        // 4x4 image, 2x2 patches: value of (y, x, c) = (y*4 + x)*3 + c over 48 → patch 1 is the top-right 2x2 block.
        var img = new float[48];
        for (int i = 0; i < 48; i++) img[i] = i / 48f;
        var patches = new float[4 * 12];
        ImageEncoder.Patches(img, 4, 2, patches);
        float V(int y, int x, int c) => 2f * ((y * 4 + x) * 3 + c) / 48f - 1f;
        // Patch 1 = (py 0, px 1): pixels (0,2), (0,3), (1,2), (1,3).
        Assert.Equal([V(0, 2, 0), V(0, 2, 1), V(0, 2, 2), V(0, 3, 0), V(0, 3, 1), V(0, 3, 2), V(1, 2, 0), V(1, 2, 1), V(1, 2, 2), V(1, 3, 0), V(1, 3, 1), V(1, 3, 2)],
                     patches.AsSpan(12, 12).ToArray());
        // Patch 2 = (py 1, px 0) starts at pixel (2, 0).
        Assert.Equal(V(2, 0, 0), patches[24]);
        Assert.Equal(V(3, 1, 2), patches[35]);
    }

    [Fact]
    public void Projection_EqualsHandComputation_FramedByStartAndEnd()
    {
        var model = new GptModel(Tiny(), 3);
        var cfg = model.Config;
        var img = RandomImage(8, 1);
        var patches = new float[cfg.ImagePatches * cfg.ImagePatchDim];
        ImageEncoder.Patches(img, 8, 4, patches);
        var prefix = new float[cfg.ImagePrefixLength * 8];
        ImageEncoder.Forward(model, patches, prefix, 1);
        Assert.Equal(6, cfg.ImagePrefixLength); // start, 4 patches, end
        Assert.Equal(model.Parameter("img.start").ToArray(), prefix.AsSpan(0, 8).ToArray());
        Assert.Equal(model.Parameter("img.end").ToArray(), prefix.AsSpan(40, 8).ToArray());
        var w = model.Parameter("img.proj.weight").ToArray();
        var b = model.Parameter("img.proj.bias").ToArray();
        for (int k = 0; k < 4; k++)
            for (int c = 0; c < 8; c++)
            {
                double want = b[c];
                for (int j = 0; j < 48; j++) want += (double)w[c * 48 + j] * patches[k * 48 + j];
                Assert.Equal(want, prefix[(1 + k) * 8 + c], 4);
            }
    }

    [Fact]
    public void ProjectionBackward_MatchesFiniteDifferencesInDouble()
    {
        // L = Σ g ⊙ prefix(W, b, start, end) for random g; the encoder is linear in each, so central differences in double
        // of the double-precision forward give the exact gradient.
        var model = new GptModel(Tiny(), 4);
        var cfg = model.Config;
        int B = 2, P = cfg.ImagePrefixLength, C = 8, NP = cfg.ImagePatches, D = cfg.ImagePatchDim;
        var patches = new float[B * NP * D];
        for (int bb = 0; bb < B; bb++) ImageEncoder.Patches(RandomImage(8, 10 + (ulong)bb), 8, 4, patches.AsSpan(bb * NP * D, NP * D));
        var g = RandomImage(8, 99).Take(B * P * C).Select(v => v - 0.5f).ToArray();
        Assert.Equal(B * P * C, g.Length);
        model.EnableGradients();
        model.ZeroGradients();
        ImageEncoder.Backward(model, patches, g, B);
        double Loss(string name, int index, double delta)
        {
            double[] W = [.. model.Parameter("img.proj.weight").ToArray().Select(v => (double)v)];
            double[] bias = [.. model.Parameter("img.proj.bias").ToArray().Select(v => (double)v)];
            double[] st = [.. model.Parameter("img.start").ToArray().Select(v => (double)v)];
            double[] en = [.. model.Parameter("img.end").ToArray().Select(v => (double)v)];
            (name switch { "img.proj.weight" => W, "img.proj.bias" => bias, "img.start" => st, _ => en })[index] += delta;
            double l = 0;
            for (int bb = 0; bb < B; bb++)
                for (int c = 0; c < C; c++)
                {
                    l += g[(bb * P) * C + c] * st[c] + g[(bb * P + P - 1) * C + c] * en[c];
                    for (int k = 0; k < NP; k++)
                    {
                        double y = bias[c];
                        for (int j = 0; j < D; j++) y += W[c * D + j] * patches[(bb * NP + k) * D + j];
                        l += g[(bb * P + 1 + k) * C + c] * y;
                    }
                }
            return l;
        }
        foreach (var (name, indices) in new[] { ("img.proj.weight", new[] { 0, 47, 100, 383 }), ("img.proj.bias", new[] { 0, 7 }), ("img.start", new[] { 3 }), ("img.end", new[] { 5 }) })
            foreach (int i in indices)
            {
                double fd = (Loss(name, i, 1e-3) - Loss(name, i, -1e-3)) / 2e-3;
                Assert.Equal(fd, model.Gradient(name)[i], 3);
            }
    }

    [Fact]
    public void MlpProjectorBackward_MatchesFiniteDifferencesInDouble()
    {
        // LLaVA-1.5's projector: prefix patch k = W2·GELU(W1·patch + b1) + b2 (GELU's tanh form, as the kernel computes
        // it). L = Σ g ⊙ prefix; central differences of a double-precision forward against the encoder's backward.
        var model = new GptModel(Tiny() with { ImageProjectorHidden = 5 }, 6);
        var cfg = model.Config;
        int B = 2, P = cfg.ImagePrefixLength, C = 8, NP = cfg.ImagePatches, D = cfg.ImagePatchDim, H = 5;
        Assert.Equal(H * D, model.Parameter("img.fc.weight").Length);
        Assert.Equal(C * H, model.Parameter("img.proj.weight").Length);
        // Larger weights than the init so that GELU is used away from its linear part.
        var r = new Rng(8);
        foreach (var name in new[] { "img.fc.weight", "img.fc.bias", "img.proj.weight" })
        {
            var p = model.Parameter(name);
            for (int i = 0; i < p.Length; i++) p[i] = (float)(r.NextGaussian() * 0.5);
        }
        var patches = new float[B * NP * D];
        for (int bb = 0; bb < B; bb++) ImageEncoder.Patches(RandomImage(8, 20 + (ulong)bb), 8, 4, patches.AsSpan(bb * NP * D, NP * D));
        var g = RandomImage(8, 98).Take(B * P * C).Select(v => v - 0.5f).ToArray();
        model.EnableGradients();
        model.ZeroGradients();
        ImageEncoder.Backward(model, patches, g, B);
        // The forward in float agrees with the double one.
        var prefix = new float[B * P * C];
        ImageEncoder.Forward(model, patches, prefix, B);
        static double Gelu(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
        string[] names = ["img.fc.weight", "img.fc.bias", "img.proj.weight", "img.proj.bias"];
        double Loss(string name, int index, double delta, double[]? prefixOut = null)
        {
            var t = names.ToDictionary(n => n, n => model.Parameter(n).ToArray().Select(v => (double)v).ToArray());
            if (name.Length > 0) t[name][index] += delta;
            double l = 0;
            for (int bb = 0; bb < B; bb++)
                for (int k = 0; k < NP; k++)
                {
                    var h = new double[H];
                    for (int j = 0; j < H; j++)
                    {
                        double z = t["img.fc.bias"][j];
                        for (int d = 0; d < D; d++) z += t["img.fc.weight"][j * D + d] * patches[(bb * NP + k) * D + d];
                        h[j] = Gelu(z);
                    }
                    for (int c = 0; c < C; c++)
                    {
                        double y = t["img.proj.bias"][c];
                        for (int j = 0; j < H; j++) y += t["img.proj.weight"][c * H + j] * h[j];
                        if (prefixOut is not null) prefixOut[(bb * P + 1 + k) * C + c] = y;
                        l += g[(bb * P + 1 + k) * C + c] * y;
                    }
                }
            return l;
        }
        var want = new double[B * P * C];
        Loss("", 0, 0, want);
        for (int bb = 0; bb < B; bb++)
            for (int k = 0; k < NP; k++)
                for (int c = 0; c < C; c++)
                    Assert.Equal(want[(bb * P + 1 + k) * C + c], prefix[(bb * P + 1 + k) * C + c], 3);
        foreach (var (name, indices) in new[] { ("img.fc.weight", new[] { 0, 47, 100, 239 }), ("img.fc.bias", new[] { 0, 4 }), ("img.proj.weight", new[] { 0, 17, 39 }), ("img.proj.bias", new[] { 2 }) })
            foreach (int i in indices)
            {
                double fd = (Loss(name, i, 1e-4) - Loss(name, i, -1e-4)) / 2e-4;
                Assert.True(Math.Abs(fd - model.Gradient(name)[i]) <= 1e-3 * Math.Max(1, Math.Abs(fd)), $"{name}[{i}]: finite difference {fd}, backward {model.Gradient(name)[i]}");
            }
    }

    [Fact]
    public void VitEncoder_ForwardMatchesDoubleReference_BackwardMatchesFiniteDifferencesInDouble()
    {
        // Two ViT layers over 4 patches (C 8, 2 heads) on a linear projector: prefix patch rows = LN_f(blocks(W·patch + b +
        // img.pos)), each block x += c_proj(attn(c_attn(LN1(x)))); x += mlp.c_proj(GELU(c_fc(LN2(x)))) with full attention
        // among one image's patches. A double-precision re-implementation gives the forward and central differences.
        var model = new GptModel(Tiny() with { ImageEncoderLayers = 2 }, 9);
        var cfg = model.Config;
        int B = 2, P = cfg.ImagePrefixLength, C = 8, NP = cfg.ImagePatches, D = cfg.ImagePatchDim, NH = 2, HS = 4;
        var r = new Rng(10);
        foreach (var slot in model.Layout.Slots.Where(x => x.Name.StartsWith("img.", StringComparison.Ordinal)))
        {
            var p = model.Parameter(slot.Name);
            for (int i = 0; i < p.Length; i++) p[i] = (slot.Name.EndsWith("ln_1.weight") || slot.Name.EndsWith("ln_2.weight") || slot.Name.EndsWith("ln_f.weight") ? 1f : 0f) + (float)(r.NextGaussian() * 0.4);
        }
        var patches = new float[B * NP * D];
        for (int bb = 0; bb < B; bb++) ImageEncoder.Patches(RandomImage(8, 40 + (ulong)bb), 8, 4, patches.AsSpan(bb * NP * D, NP * D));
        var g = RandomImage(8, 96).Take(B * P * C).Select(v => v - 0.5f).ToArray();
        var names = model.Layout.Slots.Select(x => x.Name).Where(n => n.StartsWith("img.", StringComparison.Ordinal)).ToArray();
        var eps = cfg.LayerNormEpsilon;
        static double Gelu(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
        double[] Ln(double[] x, double[] w, double[] b)
        {
            var y = new double[C];
            double m = x.Average(), v = x.Select(t => (t - m) * (t - m)).Average(), rs = 1 / Math.Sqrt(v + eps);
            for (int c = 0; c < C; c++) y[c] = (x[c] - m) * rs * w[c] + b[c];
            return y;
        }
        double[] Lin(double[] x, double[] w, double[] b, int outs)
        {
            var y = new double[outs];
            for (int o = 0; o < outs; o++) { y[o] = b[o]; for (int i = 0; i < x.Length; i++) y[o] += w[o * x.Length + i] * x[i]; }
            return y;
        }
        double Loss(string name, int index, double delta, double[]? outRows = null)
        {
            var t = names.ToDictionary(n => n, n => model.Parameter(n).ToArray().Select(v => (double)v).ToArray());
            if (name.Length > 0) t[name][index] += delta;
            double l = 0;
            for (int bb = 0; bb < B; bb++)
            {
                var x = new double[NP][];
                for (int k = 0; k < NP; k++)
                {
                    x[k] = Lin([.. patches.AsSpan((bb * NP + k) * D, D).ToArray().Select(v => (double)v)], t["img.proj.weight"], t["img.proj.bias"], C);
                    for (int c = 0; c < C; c++) x[k][c] += t["img.pos"][k * C + c];
                }
                for (int layer = 0; layer < 2; layer++)
                {
                    string pre = $"img.enc.{layer}.";
                    var qkv = x.Select(v => Lin(Ln(v, t[pre + "ln_1.weight"], t[pre + "ln_1.bias"]), t[pre + "attn.c_attn.weight"], t[pre + "attn.c_attn.bias"], 3 * C)).ToArray();
                    var att = new double[NP][];
                    for (int i = 0; i < NP; i++)
                    {
                        att[i] = new double[C];
                        for (int h = 0; h < NH; h++)
                        {
                            var sc = new double[NP];
                            for (int j = 0; j < NP; j++) { for (int d = 0; d < HS; d++) sc[j] += qkv[i][h * HS + d] * qkv[j][C + h * HS + d]; sc[j] /= Math.Sqrt(HS); }
                            double mx = sc.Max(), z = sc.Sum(v => Math.Exp(v - mx));
                            for (int j = 0; j < NP; j++)
                                for (int d = 0; d < HS; d++) att[i][h * HS + d] += Math.Exp(sc[j] - mx) / z * qkv[j][2 * C + h * HS + d];
                        }
                    }
                    for (int i = 0; i < NP; i++)
                    {
                        var y = Lin(att[i], t[pre + "attn.c_proj.weight"], t[pre + "attn.c_proj.bias"], C);
                        for (int c = 0; c < C; c++) x[i][c] += y[c];
                    }
                    for (int i = 0; i < NP; i++)
                    {
                        var h1 = Lin(Ln(x[i], t[pre + "ln_2.weight"], t[pre + "ln_2.bias"]), t[pre + "mlp.c_fc.weight"], t[pre + "mlp.c_fc.bias"], 4 * C).Select(Gelu).ToArray();
                        var y = Lin(h1, t[pre + "mlp.c_proj.weight"], t[pre + "mlp.c_proj.bias"], C);
                        for (int c = 0; c < C; c++) x[i][c] += y[c];
                    }
                }
                for (int k = 0; k < NP; k++)
                {
                    var y = Ln(x[k], t["img.enc.ln_f.weight"], t["img.enc.ln_f.bias"]);
                    for (int c = 0; c < C; c++)
                    {
                        if (outRows is not null) outRows[(bb * P + 1 + k) * C + c] = y[c];
                        l += g[(bb * P + 1 + k) * C + c] * y[c];
                    }
                }
            }
            return l;
        }
        var prefix = new float[B * P * C];
        ImageEncoder.Forward(model, patches, prefix, B);
        var want = new double[B * P * C];
        Loss("", 0, 0, want);
        for (int bb = 0; bb < B; bb++)
            for (int i = C; i < (P - 1) * C; i++)
                Assert.Equal(want[bb * P * C + i], prefix[bb * P * C + i], 3);
        model.EnableGradients();
        model.ZeroGradients();
        ImageEncoder.Backward(model, patches, g, B);
        var checkedNames = 0;
        foreach (var name in names.Where(n => n is not ("img.start" or "img.end")))
        {
            var grad = model.Gradient(name);
            foreach (int i in new[] { 0, grad.Length / 2, grad.Length - 1 })
            {
                double fd = (Loss(name, i, 1e-4) - Loss(name, i, -1e-4)) / 2e-4;
                Assert.True(Math.Abs(fd - grad[i]) <= 2e-3 * Math.Max(1, Math.Abs(fd)), $"{name}[{i}]: finite difference {fd}, backward {grad[i]}");
            }
            checkedNames++;
        }
        Assert.Equal(2 + 1 + 2 * 12 + 2, checkedNames); // proj (2), img.pos, 12 tensors per layer, ln_f (2)
        Assert.Equal(2, GptConfig.FromJson(cfg.ToJson()).ImageEncoderLayers);
        // Attention scores far past exp's float range still give a finite softmax (the row maximum is subtracted).
        foreach (var name in new[] { "img.enc.0.attn.c_attn.weight", "img.enc.1.attn.c_attn.weight" })
        {
            var w = model.Parameter(name);
            for (int i = 0; i < w.Length; i++) w[i] *= 300f;
        }
        ImageEncoder.Forward(model, patches, prefix, B);
        Assert.All(prefix, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void GridPositions_AddRowAndColumnVectors_BackwardMatchesFiniteDifferencesInDouble()
    {
        // 12 × 12 image in 4-pixel patches: a 3 × 3 grid, patch k in grid row k / 3 and column k % 3. With 2-D positions the
        // prefix is the plain projection plus img.row[k / 3] + img.col[k % 3]; start and end get nothing.
        var plainCfg = Tiny(12, 4);
        var plain = new GptModel(plainCfg, 5);
        var model = new GptModel(plainCfg with { ImagePositions2D = true }, 5);
        var cfg = model.Config;
        int B = 2, P = cfg.ImagePrefixLength, C = 8, NP = cfg.ImagePatches, D = cfg.ImagePatchDim;
        Assert.Equal(3 * C, model.Parameter("img.row").Length);
        Assert.Equal(3 * C, model.Parameter("img.col").Length);
        foreach (var name in new[] { "img.proj.weight", "img.proj.bias", "img.start", "img.end" }) plain.Parameter(name).CopyTo(model.Parameter(name));
        var r = new Rng(12);
        foreach (var name in new[] { "img.row", "img.col" })
        {
            var p = model.Parameter(name);
            for (int i = 0; i < p.Length; i++) p[i] = (float)r.NextGaussian();
        }
        var patches = new float[B * NP * D];
        for (int bb = 0; bb < B; bb++) ImageEncoder.Patches(RandomImage(12, 30 + (ulong)bb), 12, 4, patches.AsSpan(bb * NP * D, NP * D));
        var with2d = new float[B * P * C];
        var without = new float[B * P * C];
        ImageEncoder.Forward(model, patches, with2d, B);
        ImageEncoder.Forward(plain, patches, without, B);
        var rows = model.Parameter("img.row").ToArray();
        var cols = model.Parameter("img.col").ToArray();
        for (int bb = 0; bb < B; bb++)
            for (int c = 0; c < C; c++)
            {
                Assert.Equal(without[bb * P * C + c], with2d[bb * P * C + c]);
                Assert.Equal(without[(bb * P + P - 1) * C + c], with2d[(bb * P + P - 1) * C + c]);
                for (int k = 0; k < NP; k++)
                    Assert.Equal(without[(bb * P + 1 + k) * C + c] + rows[k / 3 * C + c] + cols[k % 3 * C + c], with2d[(bb * P + 1 + k) * C + c], 5);
            }
        // Backward: L = Σ g ⊙ prefix; the grid part of the prefix is evaluated in double and differenced centrally.
        var g = RandomImage(12, 97).Take(B * P * C).Select(v => v - 0.5f).ToArray();
        model.EnableGradients();
        model.ZeroGradients();
        ImageEncoder.Backward(model, patches, g, B);
        double Loss(string name, int index, double delta)
        {
            double[] rr = [.. rows.Select(v => (double)v)], cc = [.. cols.Select(v => (double)v)];
            (name == "img.row" ? rr : cc)[index] += delta;
            double l = 0;
            for (int bb = 0; bb < B; bb++)
                for (int k = 0; k < NP; k++)
                    for (int c = 0; c < C; c++)
                        l += g[(bb * P + 1 + k) * C + c] * (rr[k / 3 * C + c] + cc[k % 3 * C + c]);
            return l;
        }
        foreach (var name in new[] { "img.row", "img.col" })
            for (int i = 0; i < 3 * C; i++)
            {
                double fd = (Loss(name, i, 1e-3) - Loss(name, i, -1e-3)) / 2e-3;
                Assert.Equal(fd, model.Gradient(name)[i], 4);
            }
        // A config round trip keeps the setting; a text-only model cannot have it.
        Assert.True(GptConfig.FromJson(cfg.ToJson()).ImagePositions2D);
        Assert.Contains("\"image_positions_2d\": true", cfg.ToJson());
        Assert.Throws<ArgumentException>(() => new GptConfig { VocabSize = 11, ContextLength = 16, Layers = 1, Heads = 1, EmbeddingSize = 8, ImagePositions2D = true }.Validate());
    }

    [Fact]
    public void Readouts_SitBetweenThePatchesAndTheEnd_AndTheirGradientMatchesFiniteDifferences()
    {
        // Prefix with R = 3 readouts: img.start, the 4 patches (as without readouts), img.read[0..3), img.end.
        var plainCfg = Tiny() with { ContextLength = 24 };
        var plain = new GptModel(plainCfg, 5);
        var model = new GptModel(plainCfg with { ImageReadouts = 3 }, 5);
        var cfg = model.Config;
        int B = 2, C = 8, NP = cfg.ImagePatches, D = cfg.ImagePatchDim, P = cfg.ImagePrefixLength;
        Assert.Equal(NP + 2 + 3, P);
        Assert.Equal(3 * C, model.Parameter("img.read").Length);
        foreach (var name in new[] { "img.proj.weight", "img.proj.bias", "img.start", "img.end" }) plain.Parameter(name).CopyTo(model.Parameter(name));
        var patches = new float[B * NP * D];
        for (int b = 0; b < B; b++) ImageEncoder.Patches(RandomImage(8, 40 + (ulong)b), 8, 4, patches.AsSpan(b * NP * D, NP * D));
        var with = new float[B * P * C];
        var without = new float[B * plainCfg.ImagePrefixLength * C];
        ImageEncoder.Forward(model, patches, with, B);
        ImageEncoder.Forward(plain, patches, without, B);
        var read = model.Parameter("img.read").ToArray();
        for (int b = 0; b < B; b++)
        {
            Assert.Equal(without.AsSpan(b * (NP + 2) * C, (NP + 1) * C), with.AsSpan(b * P * C, (NP + 1) * C));
            Assert.Equal(read, with.AsSpan((b * P + NP + 1) * C, 3 * C));
            Assert.Equal(model.Parameter("img.end"), with.AsSpan((b * P + P - 1) * C, C));
        }
        // Through the whole model: loss with the prefix, one readout weight at a time, central differences.
        CheckThroughTheModel(model, patches, B, 20, 4, "img.read", Enumerable.Range(0, 3 * C).Where(i => i % 5 == 0));
        // The config carries it; a text-only model cannot have it.
        Assert.Equal(3, GptConfig.FromJson(cfg.ToJson()).ImageReadouts);
        Assert.Contains("\"image_readout_tokens\": 3", cfg.ToJson());
        Assert.DoesNotContain("image_readout_tokens", plainCfg.ToJson());
        Assert.Throws<ArgumentException>(() => new GptConfig { VocabSize = 11, ContextLength = 16, Layers = 1, Heads = 1, EmbeddingSize = 8, ImageReadouts = 2 }.Validate());
    }

    [Fact]
    public void Merge_ProjectsEachBlockOfPatches_BackwardMatchesFiniteDifferencesInDouble()
    {
        // 8 × 8 image in 2-pixel patches: a 4 × 4 grid; merged 2 × 2, token (ty, tx) is img.merge · [patch (2ty, 2tx),
        // (2ty, 2tx + 1), (2ty + 1, 2tx), (2ty + 1, 2tx + 1)] + bias, the patch vectors being those of the same model without
        // the merge. Prefix: img.start, 4 tokens, img.end.
        var plainCfg = Tiny(8, 2) with { ContextLength = 24, ImagePositions2D = true, ImageEncoderLayers = 1 };
        var plain = new GptModel(plainCfg, 5);
        var model = new GptModel(plainCfg with { ImageMerge = 2 }, 5);
        var cfg = model.Config;
        int B = 2, C = 8, NP = cfg.ImagePatches, D = cfg.ImagePatchDim, P = cfg.ImagePrefixLength, NT = 4, MC = 4 * C;
        Assert.Equal((16, 4, 6), (NP, cfg.ImageTokens, P));
        foreach (var slot in plain.Layout.Slots) plain.Parameter(slot.Name).CopyTo(model.Parameter(slot.Name));
        var patches = new float[B * NP * D];
        for (int b = 0; b < B; b++) ImageEncoder.Patches(RandomImage(8, 50 + (ulong)b), 8, 2, patches.AsSpan(b * NP * D, NP * D));
        var z = new float[B * plainCfg.ImagePrefixLength * C];
        ImageEncoder.Forward(plain, patches, z, B);
        var prefix = new float[B * P * C];
        ImageEncoder.Forward(model, patches, prefix, B);
        var w = model.Parameter("img.merge.weight").ToArray();
        var bias = model.Parameter("img.merge.bias").ToArray();
        // shuffled[b, t, j]: the block's four patch vectors side by side, in double.
        double Shuffled(int b, int t, int j)
        {
            int ty = t / 2, tx = t % 2, k = j / C, patch = (2 * ty + k / 2) * 4 + 2 * tx + k % 2;
            return z[(b * (NP + 2) + 1 + patch) * C + j % C];
        }
        double Token(double[] ww, int b, int t, int o)
        {
            double v = bias[o];
            for (int j = 0; j < MC; j++) v += ww[o * MC + j] * Shuffled(b, t, j);
            return v;
        }
        double[] wd = [.. w.Select(v => (double)v)];
        for (int b = 0; b < B; b++)
        {
            Assert.Equal(model.Parameter("img.start"), prefix.AsSpan(b * P * C, C));
            Assert.Equal(model.Parameter("img.end"), prefix.AsSpan((b * P + P - 1) * C, C));
            for (int t = 0; t < NT; t++)
                for (int o = 0; o < C; o++) Assert.Equal(Token(wd, b, t, o), prefix[(b * P + 1 + t) * C + o], 4);
        }
        // Backward of L = Σ g ⊙ prefix: img.merge's gradient against central differences in double; the patch vectors'
        // gradient (img.mergeᵀ · g, un-shuffled) gives the layers below the same gradients as the plain model gets from it.
        var g = RandomImage(8, 98).Take(B * P * C).Select(v => v - 0.5f).ToArray();
        model.EnableGradients();
        model.ZeroGradients();
        ImageEncoder.Backward(model, patches, g, B);
        double Loss(double[] ww)
        {
            double l = 0;
            for (int b = 0; b < B; b++)
                for (int t = 0; t < NT; t++)
                    for (int o = 0; o < C; o++) l += g[(b * P + 1 + t) * C + o] * Token(ww, b, t, o);
            return l;
        }
        for (int i = 0; i < w.Length; i += 7)
        {
            double[] up = [.. wd], down = [.. wd];
            up[i] += 1e-4; down[i] -= 1e-4;
            Assert.Equal((Loss(up) - Loss(down)) / 2e-4, model.Gradient("img.merge.weight")[i], 4);
        }
        var dz = new float[B * (NP + 2) * C];
        for (int b = 0; b < B; b++)
        {
            g.AsSpan(b * P * C, C).CopyTo(dz.AsSpan(b * (NP + 2) * C, C));
            g.AsSpan((b * P + P - 1) * C, C).CopyTo(dz.AsSpan((b * (NP + 2) + NP + 1) * C, C));
            for (int t = 0; t < NT; t++)
                for (int j = 0; j < MC; j++)
                {
                    double v = 0;
                    for (int o = 0; o < C; o++) v += w[o * MC + j] * g[(b * P + 1 + t) * C + o];
                    int ty = t / 2, tx = t % 2, k = j / C, patch = (2 * ty + k / 2) * 4 + 2 * tx + k % 2;
                    dz[(b * (NP + 2) + 1 + patch) * C + j % C] = (float)v;
                }
        }
        plain.EnableGradients();
        plain.ZeroGradients();
        ImageEncoder.Backward(plain, patches, dz, B);
        foreach (var name in new[] { "img.proj.weight", "img.fc.weight", "img.row", "img.pos", "img.enc.0.attn.c_attn.weight" }.Where(n => plain.Layout.Contains(n)))
        {
            var expected = plain.Gradient(name).ToArray();
            var got = model.Gradient(name).ToArray();
            for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - got[i]) <= 1e-4 + 1e-3 * Math.Abs(expected[i]), $"{name}[{i}]: {got[i]} against {expected[i]}");
        }
        // Through the whole model; the config carries the merge; a merge that does not divide the grid is refused.
        CheckThroughTheModel(model, patches, B, 12, 6, "img.merge.weight", Enumerable.Range(0, C * MC).Where(i => i % 37 == 0));
        Assert.Equal(2, GptConfig.FromJson(cfg.ToJson()).ImageMerge);
        Assert.Contains("\"image_merge\": 2", cfg.ToJson());
        Assert.DoesNotContain("image_merge", plainCfg.ToJson());
        Assert.Contains("image merge 3", Assert.Throws<ArgumentException>(() => (plainCfg with { ImageMerge = 3 }).Validate()).Message);
        Assert.Throws<ArgumentException>(() => new GptConfig { VocabSize = 11, ContextLength = 16, Layers = 1, Heads = 1, EmbeddingSize = 8, ImageMerge = 2 }.Validate());
    }

    [Fact]
    public void ModelLoss_GradientThroughTheImagePrefix_MatchesFiniteDifferences()
    {
        // The whole chain: image → patches → projection → prefix → transformer → loss, on one projection weight at a time.
        var cfg = Tiny();
        var model = new GptModel(cfg, 5);
        int B = 2, NP = cfg.ImagePatches, D = cfg.ImagePatchDim;
        var patches = new float[B * NP * D];
        for (int b = 0; b < B; b++) ImageEncoder.Patches(RandomImage(8, 20 + (ulong)b), 8, 4, patches.AsSpan(b * NP * D, NP * D));
        CheckThroughTheModel(model, patches, B, 12, 3, "img.proj.weight", [1, 50, 200, 333]);
        Assert.NotEqual(0f, model.Gradient("img.start").ToArray().Max(Math.Abs));
    }

    // Random tokens after the image prefix, loss on every target from the prefix's last position on; the gradient of
    // `tensor` (image encoder, model backward, encoder backward) against central differences of the loss at `indices`.
    private static void CheckThroughTheModel(GptModel model, float[] patches, int B, int T, ulong seed, string tensor, IEnumerable<int> indices)
    {
        int P = model.Config.ImagePrefixLength, V = model.Config.VocabSize;
        var r = new Rng(seed);
        int[] inputs = [.. Enumerable.Range(0, B * T).Select(_ => r.NextInt(V))];
        int[] targets = [.. Enumerable.Range(0, B * T).Select(_ => r.NextInt(V))];
        float[] weights = [.. Enumerable.Range(0, B * T).Select(i => i % T >= P - 1 ? 1f : 0f)];
        var prefix = new float[B * P * model.Config.EmbeddingSize];
        double Loss()
        {
            ImageEncoder.Forward(model, patches, prefix, B);
            return model.Forward(inputs, targets, B, T, false, 1f, weights, new BatchLayout { PrefixEmbeddings = prefix, PrefixLength = P });
        }
        model.EnableGradients();
        model.ZeroGradients();
        ImageEncoder.Forward(model, patches, prefix, B);
        model.Forward(inputs, targets, B, T, true, 1f, weights, new BatchLayout { PrefixEmbeddings = prefix, PrefixLength = P });
        model.Backward();
        ImageEncoder.Backward(model, patches, model.PrefixGradient, B);
        var w = model.Parameter(tensor);
        var grad = model.Gradient(tensor).ToArray();
        Assert.NotEqual(0f, grad.Max(Math.Abs));
        foreach (int i in indices)
        {
            float keep = w[i];
            const float h = 1e-2f;
            w[i] = keep + h; double up = Loss();
            w[i] = keep - h; double down = Loss();
            w[i] = keep;
            double fd = (up - down) / (2.0 * h);
            Assert.True(Math.Abs(fd - grad[i]) <= 2e-3 + 0.05 * Math.Abs(fd), $"{tensor}[{i}]: finite difference {fd}, backward {grad[i]}");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)] // the 2 × 2 patches merged into one image token
    public void KvCacheDecodingWithAnImagePrefix_EqualsTheFullForward(int merge)
    {
        var cfg = Tiny() with { ImageMerge = merge };
        var model = new GptModel(cfg, 6);
        int P = cfg.ImagePrefixLength, T = P + 6, NP = cfg.ImagePatches, D = cfg.ImagePatchDim;
        var patches = new float[NP * D];
        ImageEncoder.Patches(RandomImage(8, 7), 8, 4, patches);
        var prefix = new float[P * 8];
        ImageEncoder.Forward(model, patches, prefix, 1);
        int[] tokens = [3, 1, 4, 1, 5, 9];
        int[] inputs = [.. new int[P], .. tokens];
        var full = new float[T * 11];
        model.ForwardLogits(inputs, 1, T, full, new BatchLayout { PrefixEmbeddings = prefix, PrefixLength = P });
        var cache = model.CreateCache();
        model.ForwardEmbeddings(cache, prefix);
        var logits = new float[11];
        for (int i = 0; i < tokens.Length; i++)
        {
            model.Forward(cache, [tokens[i]], logits);
            for (int v = 0; v < 11; v++) Assert.Equal(full[(P + i) * 11 + v], logits[v], 4);
        }
        Assert.Equal(P + tokens.Length, cache.Length);
    }

    [Fact]
    public void ImageAfterThePrompt_KvCacheDecoding_EqualsTheTrainingForwardWithASpan()
    {
        // Row: two documents "question, image, answer" (the layout FillRowAfterQuestion builds); the cache sees one
        // document the way VisionTraining.Answer feeds it: the question, then the image, then the answer tokens.
        var cfg = Tiny() with { ImageAfterPrompt = true, ContextLength = 32 };
        var model = new GptModel(cfg, 6);
        int P = cfg.ImagePrefixLength, NP = cfg.ImagePatches, D = cfg.ImagePatchDim, C = cfg.EmbeddingSize;
        var patches = new float[2 * NP * D];
        ImageEncoder.Patches(RandomImage(8, 7), 8, 4, patches.AsSpan(0, NP * D));
        ImageEncoder.Patches(RandomImage(8, 8), 8, 4, patches.AsSpan(NP * D));
        var prefix = new float[2 * P * C];
        ImageEncoder.Forward(model, patches, prefix, 2);
        int[] question = [3, 1, 4], answer = [5, 9, 2];
        int L = question.Length + P + answer.Length, T = 2 * L;
        var inputs = new int[T];
        var docs = new int[T];
        for (int d = 0; d < 2; d++)
        {
            question.CopyTo(inputs, d * L);
            answer.CopyTo(inputs, d * L + question.Length + P);
            docs.AsSpan(d * L, L).Fill(d);
        }
        var full = new float[T * 11];
        model.ForwardLogits(inputs, 1, T, full, new BatchLayout { PrefixEmbeddings = prefix, PrefixLength = P, PrefixStarts = [question.Length, L + question.Length], DocumentIds = docs });
        for (int d = 0; d < 2; d++)
        {
            var cache = model.CreateCache();
            var logits = new float[11];
            model.Forward(cache, question, logits);
            model.ForwardEmbeddings(cache, prefix.AsSpan(d * P * C, P * C), logits);
            int at = d * L + question.Length + P - 1; // the image's last position predicts the first answer token
            for (int i = 0; ; i++)
            {
                for (int v = 0; v < 11; v++) Assert.Equal(full[at * 11 + v], logits[v], 4);
                if (i == answer.Length) break;
                model.Forward(cache, [answer[i]], logits);
                at++;
            }
        }
    }

    [Fact]
    public void FillRowAfterQuestion_OneDocumentPerQuestion_ImageBetween_UnusedSpansAtTheEnd()
    {
        var tok = VisionTraining.WordTokenizer();
        VisionQuestion[] qs = [new("shape", "what shape is the red one?", "circle"), new("caption", "describe the image.", "a red circle and a blue square.")];
        const int K = 3, P = 4, T = 60;
        var inputs = new int[T];
        var targets = new int[T];
        var weights = new float[T];
        var docs = new int[T];
        var starts = new int[K];
        VisionTraining.FillRowAfterQuestion(tok, qs, K, false, P, T, inputs, targets, weights, docs, starts);
        int[] q1 = tok.Encode(qs[0].Question + "\n"), a1 = tok.Encode(qs[0].Answer + "\n");
        int[] q2 = tok.Encode(qs[1].Question + "\n"), a2 = tok.Encode(qs[1].Answer + "\n");
        int L1 = q1.Length + P + a1.Length, L2 = q2.Length + P + a2.Length;
        Assert.Equal([q1.Length, L1 + q2.Length, L1 + L2], starts);
        Assert.Equal(q1, inputs[..q1.Length]);
        Assert.Equal(a1, inputs[(q1.Length + P)..L1]);
        Assert.Equal(q2, inputs[L1..(L1 + q2.Length)]);
        for (int t = 0; t < T; t++)
            Assert.Equal(t < L1 ? 0 : t < L1 + L2 ? 1 : t < L1 + L2 + P ? 2 : 3, docs[t]);
        // Weighted targets: from the image's last position through the answer's last token, each the next answer token.
        for (int t = 0; t < T; t++)
        {
            bool answer1 = t >= q1.Length + P - 1 && t < L1 - 1, answer2 = t >= L1 + q2.Length + P - 1 && t < L1 + L2 - 1;
            Assert.Equal(answer1 || answer2 ? 1f : 0f, weights[t]);
        }
        Assert.Equal(a1, targets[(q1.Length + P - 1)..(L1 - 1)]);
        Assert.Equal(a2, targets[(L1 + q2.Length + P - 1)..(L1 + L2 - 1)]);
        Assert.Equal(q1[1..], targets[..(q1.Length - 1)]); // the question's own next tokens (weight 0)
        Assert.Equal(0, targets[L1 - 1]); // no target across a document boundary
        // With a question weight, the question's own next tokens (its newline included) weigh that much; nothing else changes.
        var weighted = new float[T];
        VisionTraining.FillRowAfterQuestion(tok, qs, K, false, P, T, inputs, targets, weighted, docs, starts, questionWeight: 0.25f);
        for (int t = 0; t < T; t++)
        {
            bool question = t < q1.Length - 1 || (t >= L1 && t < L1 + q2.Length - 1);
            Assert.Equal(question ? 0.25f : weights[t], weighted[t]);
        }
        // A row too short for a question, its image and the spans left over is an error.
        Assert.Throws<InvalidOperationException>(() => VisionTraining.FillRowAfterQuestion(tok, qs, K, false, P, L1 + 2 * P - 1, inputs, targets, weights, docs, starts));
    }

    [Fact]
    public void ScenePacker_PacksEveryQuestionOfEveryScene_InOrder_EachWithItsOwnImage()
    {
        // A stream of scenes whose image is filled with the scene's number and whose questions name it: read back from the
        // packed rows (document by document, row by row, step by step), they must be the stream itself, each document's span
        // pointing at its own scene's image; each document laid out and weighted as FillRowAfterQuestion lays out one.
        var tok = VisionTraining.WordTokenizer();
        static VisionQuestion[] Scene(int n) =>
            [.. Enumerable.Range(0, 1 + n % 3).Select(i => new VisionQuestion("caption", i % 2 == 0 ? "describe the image." : "how many circles are there?",
                                                                            string.Join(" and ", Enumerable.Repeat("a red circle", 1 + (n + i) % 3)) + "."))];
        int scene = 0;
        VisionTraining.Sampler sampler = (ref Rng rng) => { int n = scene++; return ([(float)n], Scene(n)); };
        const int B = 3, T = 48, P = 4, K = T / (P + 4);
        var packer = new VisionTraining.ScenePacker(sampler, tok, P, T, K, perQuestion: false, questionWeight: 0.5f);
        var inputs = new int[B * T]; var targets = new int[B * T]; var weights = new float[B * T]; var docs = new int[B * T];
        var starts = new int[B * K]; var spanImage = new int[B * K];
        var read = new List<(int Scene, string Question, string Answer)>();
        var rng = new Rng(1);
        int documents = 0;
        for (int step = 0; step < 4; step++)
        {
            packer.Fill(ref rng, B, inputs, targets, weights, docs, starts, spanImage);
            for (int b = 0; b < B; b++)
            {
                int t = 0, k = 0;
                for (; k < K && starts[b * K + k] >= 0; k++)
                {
                    int image = starts[b * K + k], end = t;
                    while (end < T && docs[b * T + end] == k) end++;
                    var question = inputs[(b * T + t)..(b * T + image)];
                    var answer = inputs[(b * T + image + P)..(b * T + end)];
                    int n = (int)packer.Images[spanImage[b * K + k]][0];
                    read.Add((n, tok.Decode(question).TrimEnd('\n'), tok.Decode(answer).TrimEnd('\n')));
                    // The document alone, as FillRowAfterQuestion lays out a row of one question.
                    int L = end - t;
                    var (i1, t1, w1, d1, s1) = (new int[L], new int[L], new float[L], new int[L], new int[1]);
                    VisionTraining.FillRowAfterQuestion(tok, [new("caption", read[^1].Question, read[^1].Answer)], 1, false, P, L, i1, t1, w1, d1, s1, questionWeight: 0.5f);
                    Assert.Equal(s1[0], image - t);
                    Assert.Equal(t1, targets[(b * T + t)..(b * T + end)]);
                    Assert.Equal(w1, weights[(b * T + t)..(b * T + end)]);
                    t = end;
                    documents++;
                }
                Assert.All(starts[(b * K + k)..(b * K + K)], s => Assert.Equal(-1, s)); // the unused spans
                Assert.All(spanImage[(b * K + k)..(b * K + K)], s => Assert.Equal(-1, s));
                Assert.All(docs[(b * T + t)..(b * T + T)], d => Assert.Equal(k, d)); // padding: its own document
                Assert.All(weights[(b * T + t)..(b * T + T)], w => Assert.Equal(0f, w));
                Assert.True(k > 0);
            }
        }
        // The stream, in order, with nothing left out but the last scene's questions still to come.
        var expected = new List<(int, string, string)>();
        for (int n = 0; expected.Count < read.Count; n++) expected.AddRange(Scene(n).Select(q => (n, q.Question, q.Answer)));
        Assert.Equal(expected.Take(read.Count), read);
        Assert.True(documents >= 4 * B * 2, $"{documents} documents packed in {4 * B} rows");
        // A document longer than a row is an error naming the sizes.
        var huge = new VisionTraining.ScenePacker((ref Rng r) => ([0f], [new VisionQuestion("caption", string.Join(" ", Enumerable.Repeat("describe", 60)), "no")]),
                                                  tok, P, T, K, false, 0f);
        var error = Assert.Throws<InvalidOperationException>(() => huge.Fill(ref rng, B, inputs, targets, weights, docs, starts, spanImage));
        Assert.Contains($"more than the {T} a row has", error.Message);
    }

    [Theory]
    [InlineData(2)] // one image token per grid cell (merged 2 × 2)
    [InlineData(4)] // 4 × 4 patch tokens, four per cell
    public void ScenePacker_GroundingTargets_NameEachImageTokensCell(int grid)
    {
        // "is the white triangle left of the green cross?" with the triangle top left and the cross bottom right: image token j
        // predicts "what" in the triangle's cell, "how" in the cross's, "describe" elsewhere, at the grounding weight; a caption
        // (no referents) gets no targets on its image.
        var tok = VisionTraining.WordTokenizer(where: true);
        int NT = grid * grid, P = NT + 2, T = 80, K = 4;
        var left = new VisionQuestion("left", "is the white triangle left of the green cross?", "yes") { Referents = "1002" };
        var caption = new VisionQuestion("caption", "describe the image.", "a white triangle and a green cross.");
        var packer = new VisionTraining.ScenePacker((ref Rng r) => ([0f], [left, caption]), tok, P, T, K, false, 0.2f, NT, groundingWeight: 0.5f);
        var inputs = new int[T]; var targets = new int[T]; var weights = new float[T]; var docs = new int[T];
        var starts = new int[K]; var spanImage = new int[K];
        var rng = new Rng(3);
        packer.Fill(ref rng, 1, inputs, targets, weights, docs, starts, spanImage);
        int zero = tok.Encode("describe").Single(), one = tok.Encode("what").Single(), two = tok.Encode("how").Single(); // never targets otherwise
        for (int j = 0; j < NT; j++)
        {
            int row = j / grid, column = j % grid;
            bool topLeft = row < grid / 2 && column < grid / 2, bottomRight = row >= grid / 2 && column >= grid / 2;
            Assert.Equal(topLeft ? one : bottomRight ? two : zero, targets[starts[0] + 1 + j]);
            Assert.Equal(0.5f, weights[starts[0] + 1 + j]);
            Assert.Equal(0f, weights[starts[1] + 1 + j]); // the caption's image
        }
        Assert.Equal(0f, weights[starts[0]]); // img.start predicts nothing
        Assert.Equal(tok.Encode("yes")[0], targets[starts[0] + P - 1]); // img.end predicts the answer, as without grounding
        // Without the weight, the same rows carry no grounding targets at all.
        var plain = new VisionTraining.ScenePacker((ref Rng r) => ([0f], [left, caption]), tok, P, T, K, false, 0.2f, NT);
        var plainWeights = new float[T];
        plain.Fill(ref rng, 1, inputs, targets, plainWeights, docs, starts, spanImage);
        Assert.All(Enumerable.Range(0, NT), j => Assert.Equal(0f, plainWeights[starts[0] + 1 + j]));
        Assert.Throws<ArgumentException>(() => new VisionTraining.ScenePacker((ref Rng r) => ([0f], [left]), VisionTraining.Tokenizer(), P, T, K, false, 0f, NT, 0.5f));
    }

    [Fact]
    public void Renderer_IsDeterministic_AndDrawsTheDocumentedShapes()
    {
        var r1 = new Rng(42); var r2 = new Rng(42);
        Assert.Equal(ShapesTask.Sample(ref r1).Pixels, ShapesTask.Sample(ref r2).Pixels);
        var px = ShapesTask.Render([new Shape("square", "red", 0, 0, 8, 8, 4)]);
        float[] At(int x, int y) => px.AsSpan((y * 32 + x) * 3, 3).ToArray();
        Assert.Equal([230 / 255f, 30 / 255f, 30 / 255f], At(8, 8));
        Assert.Equal([230 / 255f, 30 / 255f, 30 / 255f], At(11, 4));   // 11.5 − 8 = 3.5 ≤ 4, 4.5 − 8 = −3.5
        Assert.Equal([0f, 0f, 0f], At(12, 8));                         // 12.5 − 8 = 4.5 > 4
        Assert.Equal([0f, 0f, 0f], At(0, 0));
        var tri = ShapesTask.Render([new Shape("triangle", "blue", 1, 1, 24, 24, 4)]);
        // Row 21 (dy = −2.5): half-width (dy + 4) / 2 = 0.75, so only the two middle columns (dx = ±0.5) are drawn.
        Assert.Equal(0f, tri[((21 * 32) + 22) * 3 + 2]);
        Assert.NotEqual(0f, tri[((21 * 32) + 24) * 3 + 2]);
        Assert.Equal(0f, tri[((20 * 32) + 24) * 3 + 2]);                // row 20 (dy = −3.5): narrower than a pixel centre
        Assert.NotEqual(0f, tri[((27 * 32) + 21) * 3 + 2]);             // the base is wide
    }

    [Fact]
    public void WordTokenizer_EveryAnswerWordIsOneToken_TextRoundTrips_AndRowsFit()
    {
        var tok = VisionTraining.WordTokenizer();
        Assert.True(tok.VocabSize <= 512);
        var kindsAndColours = ShapesTask.Kinds.Concat(ShapesTask.Colours.Select(c => c.Name)).ToArray();
        foreach (string w in kindsAndColours.Concat(["yes", "no", "zero", "one", "two", "three", "four", "what", "how", "describe", "is"]))
            Assert.True(tok.Encode(w).Length == 1, $"answer or first word '{w}' is {tok.Encode(w).Length} tokens");
        foreach (string w in kindsAndColours.Concat(["colour", "shape", "many", "left", "above", "image"]))
            Assert.True(tok.Encode(" " + w).Length == 1, $"' {w}' (inside a question or caption) is {tok.Encode(" " + w).Length} tokens");
        Assert.Single(tok.Encode("\n"));
        var rng = new Rng(77);
        int longest = 0;
        for (int i = 0; i < 300; i++)
        {
            var scene = ShapesTask.Sample(ref rng);
            foreach (var q in ShapesTask.Questions(scene.Shapes))
            {
                string text = q.Question + "\n" + q.Answer + "\n";
                Assert.Equal(text, tok.Decode(tok.Encode(text)));
                longest = Math.Max(longest, tok.Encode(q.Question + "\n").Length + tok.Encode(q.Answer + "\n").Length);
            }
            // Several questions per row: one of each type the scene has, each type once.
            var (_, picked) = VisionTraining.SampleShapesPerType(ref rng);
            Assert.Equal(picked.Count, picked.Select(q => q.Type).Distinct().Count());
            Assert.Contains(picked, q => q.Type == "caption");
        }
        Assert.InRange(longest, 10, VisionTraining.RowTextLength(new VisionTrainOptions { WordTokens = true, QuestionsPerRow = 1 }));
    }

    [Fact]
    public void WhereQuestions_NameEachUniqueShapesCell_AndTheSamplersOrderThem()
    {
        Shape[] scene = [new("circle", "red", 0, 0, 8, 8, 5), new("square", "blue", 1, 0, 24, 8, 5), new("square", "blue", 1, 1, 24, 24, 5), new("cross", "white", 0, 1, 8, 24, 5)];
        var where = ShapesTask.WhereQuestions(scene);
        Assert.Equal([new VisionQuestion("where", "where is the red circle?", "top left") { Referents = "1000" }, new VisionQuestion("where", "where is the white cross?", "bottom left") { Referents = "0010" }], where);
        Assert.Empty(ShapesTask.WhereQuestions([new("square", "blue", 1, 0, 24, 8, 5), new("square", "blue", 1, 1, 24, 24, 5)]));
        Assert.DoesNotContain(ShapesTask.Questions(scene), q => q.Type == "where"); // auxiliary: never scored
        var tok = VisionTraining.WordTokenizer(where: true);
        foreach (string w in new[] { "where", "top", "bottom" }) Assert.Single(tok.Encode(w));
        Assert.Single(tok.Encode(" right"));
        var rng = new Rng(78);
        int withWhere = 0, captionLastRows = 0;
        for (int i = 0; i < 300; i++)
        {
            // The where question comes after every scored one; the caption-last sampler keeps the caption at the end.
            var (_, qs) = VisionTraining.SampleShapesWithWhere(ref rng);
            Assert.Equal(qs.Count, qs.Select(q => q.Type).Distinct().Count());
            if (qs[^1].Type == "where") withWhere++;
            Assert.DoesNotContain(qs.SkipLast(1), q => q.Type == "where");
            var text = string.Concat(qs.Select(q => q.Question + "\n" + q.Answer + "\n"));
            Assert.InRange(tok.Encode(text).Length, 1, VisionTraining.RowTextLength(new VisionTrainOptions { WhereQuestions = true }));
            var (_, last) = VisionTraining.SampleShapesCaptionLast(ref rng);
            Assert.Equal("caption", last[^1].Type);
            if (last.Count > 1) captionLastRows++;
        }
        Assert.InRange(withWhere, 150, 300);
        Assert.InRange(captionLastRows, 150, 300);
    }

    [Fact]
    public void WherePairQuestions_NameBothCells_WithTheSecondShapeWhereARelationHasIt()
    {
        Shape[] scene = [new("circle", "red", 0, 0, 8, 8, 5), new("square", "blue", 1, 0, 24, 8, 5), new("square", "blue", 1, 1, 24, 24, 5), new("cross", "white", 0, 1, 8, 24, 5)];
        var pairs = ShapesTask.WherePairQuestions(scene);
        // Only the red circle and the white cross are named uniquely (two blue squares): both orders.
        Assert.Equal([new VisionQuestion("where2", "where are the red circle and the white cross?", "top left and bottom left") { Referents = "1020" },
                      new VisionQuestion("where2", "where are the white cross and the red circle?", "bottom left and top left") { Referents = "2010" }], pairs);
        Assert.Empty(ShapesTask.WherePairQuestions([new("circle", "red", 0, 0, 8, 8, 5)]));
        Assert.DoesNotContain(ShapesTask.Questions(scene), q => q.Type.StartsWith("where", StringComparison.Ordinal));
        // In word tokens the second shape's colour and kind are the 8th and 9th tokens, as in "is the C1 K1 left of the C2 K2?".
        var tok = VisionTraining.WordTokenizer(where: true);
        int[] pair = tok.Encode(pairs[0].Question), left = tok.Encode("is the red circle left of the white cross?");
        Assert.Equal(left.Length, pair.Length);
        Assert.Equal(left[7..], pair[7..]);
        Assert.Equal(left[1..4], pair[2..5]);
        // The sampler ends a row with one (a single where when the scene names one shape), and the row fits.
        var rng = new Rng(79);
        int withPair = 0;
        for (int i = 0; i < 300; i++)
        {
            var (_, qs) = VisionTraining.SampleShapesWithWherePair(ref rng);
            Assert.DoesNotContain(qs.SkipLast(1), q => q.Type.StartsWith("where", StringComparison.Ordinal));
            if (qs[^1].Type == "where2") withPair++;
            var text = string.Concat(qs.Select(q => q.Question + "\n" + q.Answer + "\n"));
            Assert.InRange(tok.Encode(text).Length, 1, VisionTraining.RowTextLength(new VisionTrainOptions { WherePairs = true }));
        }
        Assert.InRange(withPair, 100, 300);
        // "where in the whole image is the C K?": the shape's words where the relation names its second shape.
        var second = ShapesTask.WhereSecondQuestions(scene);
        Assert.Equal([new VisionQuestion("where3", "where in the whole image is the red circle?", "top left") { Referents = "1000" },
                      new VisionQuestion("where3", "where in the whole image is the white cross?", "bottom left") { Referents = "0010" }], second);
        Assert.Equal(left[7..], tok.Encode(second[1].Question)[7..]);
        int pairs2 = 0, seconds = 0;
        for (int i = 0; i < 400; i++)
        {
            var (_, qs) = VisionTraining.SampleShapesWithWhereSecond(ref rng);
            if (qs[^1].Type == "where2") pairs2++;
            if (qs[^1].Type == "where3") seconds++;
            var text = string.Concat(qs.Select(q => q.Question + "\n" + q.Answer + "\n"));
            Assert.InRange(tok.Encode(text).Length, 1, VisionTraining.RowTextLength(new VisionTrainOptions { WherePairs = true, WhereSecond = true }));
        }
        Assert.InRange(pairs2, 100, 250);
        Assert.InRange(seconds, 150, 250);
        Assert.Equal(VisionTraining.SampleShapesWithWhereSecond, VisionTraining.ShapesSampler(new VisionTrainOptions { WherePairs = true, WhereSecond = true, RelationQuestions = 1 }));
    }

    [Fact]
    public void BalancedRelations_AnswerYesAsOftenAsNo_AndChangeNothingElse()
    {
        // Uniformly among ordered pairs of distinct cells, "left" is yes for 4 of 12: a third. Balanced: a half where the scene
        // has both answers, and "no" where it has only that (two shapes in one column), so a little under a half in all.
        double YesShare(VisionTraining.Sampler sampler, out int rows)
        {
            var rng = new Rng(80);
            int yes = 0, relations = 0;
            rows = 0;
            for (int i = 0; i < 2000; i++)
            {
                var (_, qs) = sampler(ref rng);
                rows++;
                foreach (var q in qs.Where(q => q.Type is "left" or "above")) { relations++; if (q.Answer == "yes") yes++; }
                Assert.Equal(qs.Count, qs.Select(q => q.Type).Distinct().Count());
            }
            return yes / (double)relations;
        }
        Assert.InRange(YesShare(VisionTraining.SampleShapesPerType, out _), 0.25, 0.38);
        Assert.InRange(YesShare(VisionTraining.SampleShapesBalanced, out _), 0.41, 0.50);
        var o = new VisionTrainOptions { BalanceRelations = true, WherePairs = false, RelationQuestions = 1 };
        Assert.Equal(VisionTraining.SampleShapesBalanced, VisionTraining.ShapesSampler(o));
        Assert.InRange(YesShare(VisionTraining.ShapesSampler(o with { WherePairs = true })!, out _), 0.41, 0.50);
        Assert.Equal(VisionTraining.SampleShapesWithWherePair, VisionTraining.ShapesSampler(new VisionTrainOptions { RelationQuestions = 1 })); // the default, with one relation question of each
        Assert.Equal(VisionTraining.SampleShapesPerType, VisionTraining.ShapesSampler(new VisionTrainOptions { WherePairs = false, RelationQuestions = 1 }));
        Assert.Equal(VisionTraining.SampleShapesWithWhere, VisionTraining.ShapesSampler(new VisionTrainOptions { WhereQuestions = true, RelationQuestions = 1 })); // replaces the pair
    }

    [Fact]
    public void RelationQuestions_AskSeveralDifferentPairs_TheRestUnchanged()
    {
        // Two left and two above questions per scene, about different pairs, where the scene has them (one where it has one);
        // the other types once each, as the one-relation stream asks about the same scene.
        var one = VisionTraining.ShapesSampler(new VisionTrainOptions { RelationQuestions = 1 })!;
        var two = VisionTraining.ShapesSampler(new VisionTrainOptions { RelationQuestions = 2 })!;
        Assert.Throws<ArgumentException>(() => VisionTraining.ShapesSampler(new VisionTrainOptions { RelationQuestions = 0 }));
        int doubled = 0;
        for (ulong i = 0; i < 300; i++)
        {
            var r0 = new Rng(81, i);
            var r1 = new Rng(81, i);
            var r2 = new Rng(81, i);
            var shapes = ShapesTask.Sample(ref r0).Shapes;
            var (image1, qs1) = one(ref r1);
            var (image2, qs2) = two(ref r2);
            Assert.Equal(image1, image2);
            var all = ShapesTask.Questions(shapes);
            foreach (var type in new[] { "left", "above" })
            {
                var asked = qs2.Where(q => q.Type == type).ToList();
                Assert.Equal(Math.Min(2, all.Count(q => q.Type == type)), asked.Count);
                Assert.Equal(asked.Count, asked.Select(q => q.Question).Distinct().Count());
                Assert.All(asked, q => Assert.Contains(q, all));
                if (asked.Count == 2) doubled++;
            }
            Assert.Contains(qs1.First(q => q.Type == "colour" || q.Type == "count"), qs2); // drawn before any relation
            static IEnumerable<string> Others(IEnumerable<VisionQuestion> qs) => qs.Where(q => q.Type is not ("left" or "above")).Select(q => q.Type).Order();
            Assert.Equal(Others(qs1), Others(qs2));
        }
        Assert.True(doubled > 200, $"{doubled} doubled relation types in 300 scenes");
    }

    [Fact]
    public void FillRow_WeightsEveryAnswerToken_OrEveryAnswerEqually()
    {
        // Two questions packed after a prefix of 3: weights only on the answers' targets (their tokens and newline); per
        // question, each answer's weights sum to 1.
        var tok = VisionTraining.WordTokenizer();
        VisionQuestion[] qs = [new("shape", "what shape is the red one?", "circle"), new("caption", "describe the image.", "a red circle and a blue square.")];
        int P = 3, T = 60;
        foreach (bool perQuestion in new[] { false, true })
        {
            var inputs = new int[T];
            var targets = new int[T];
            var weights = new float[T];
            VisionTraining.FillRow(tok, qs, 6, perQuestion, P, T, inputs, targets, weights);
            int q1 = tok.Encode(qs[0].Question + "\n").Length, a1 = tok.Encode(qs[0].Answer + "\n").Length;
            int q2 = tok.Encode(qs[1].Question + "\n").Length, a2 = tok.Encode(qs[1].Answer + "\n").Length;
            // Target at t is text[t + 1 − P]: answer 1 is text[q1 .. q1 + a1), so its targets sit at t = P − 1 + q1 ...
            int from1 = P - 1 + q1, from2 = from1 + a1 + q2;
            for (int t = 0; t < T; t++)
            {
                float want = t >= from1 && t < from1 + a1 ? (perQuestion ? 1f / a1 : 1f)
                           : t >= from2 && t < from2 + a2 ? (perQuestion ? 1f / a2 : 1f) : 0f;
                Assert.Equal(want, weights[t]);
            }
            Assert.Equal(tok.Encode(qs[0].Answer + "\n"), targets.AsSpan(from1, a1).ToArray());
            Assert.Equal(tok.Encode(qs[1].Answer + "\n"), targets.AsSpan(from2, a2).ToArray());
            Assert.True(a2 > 3 * a1); // the caption outweighs the one-word answer per token, not per question
        }
    }

    [Fact]
    public void Questions_OnAHandMadeScene()
    {
        Shape[] scene = [new("circle", "red", 0, 0, 8, 8, 5), new("square", "blue", 1, 0, 24, 8, 5), new("square", "blue", 1, 1, 24, 24, 5)];
        var q = ShapesTask.Questions(scene);
        Assert.Contains(new VisionQuestion("colour", "what colour is the circle?", "red") { Referents = "1000" }, q);
        Assert.DoesNotContain(q, x => x.Question == "what colour is the square?"); // two squares: ambiguous
        Assert.Contains(new VisionQuestion("shape", "what shape is the red one?", "circle") { Referents = "1000" }, q);
        Assert.DoesNotContain(q, x => x.Question == "what shape is the blue one?");
        Assert.Contains(new VisionQuestion("count", "how many squares are there?", "two") { Referents = "0101" }, q); // cells in reading order
        Assert.Contains(new VisionQuestion("count", "how many crosses are there?", "zero") { Referents = "0000" }, q);
        Assert.DoesNotContain(q, x => x.Type is "left" or "above"); // only one shape is named uniquely (the blue squares are alike)
        Assert.Contains(new VisionQuestion("caption", "describe the image.", "a red circle, a blue square and a blue square."), q);
        Shape[] two = [new("cross", "green", 1, 1, 24, 24, 5), new("triangle", "white", 0, 0, 8, 8, 5)];
        var q2 = ShapesTask.Questions(two);
        Assert.Contains(new VisionQuestion("left", "is the white triangle left of the green cross?", "yes") { Referents = "1002" }, q2);
        Assert.Contains(new VisionQuestion("above", "is the green cross above the white triangle?", "no") { Referents = "2001" }, q2);
        Assert.Contains(new VisionQuestion("where2", "where are the green cross and the white triangle?", "bottom right and top left") { Referents = "2001" },
                        ShapesTask.WherePairQuestions(two));
        Assert.Equal("a white triangle and a green cross.", ShapesTask.Caption(two));
        Assert.All(q.Concat(q2), x => Assert.True((x.Question + x.Answer).All(ch => ShapesTask.Alphabet.Contains(ch))));
    }

    [Fact]
    public void Score_OnHandMadeAnswers()
    {
        var (all, byType) = ShapesTask.Score([("colour", "red", " red"), ("colour", "blue", "green"), ("count", "two", "two"), ("caption", "a red circle.", "a red circle")]);
        Assert.Equal(0.5, all);
        Assert.Equal(0.5, byType["colour"]);
        Assert.Equal(1.0, byType["count"]);
        Assert.Equal(0.0, byType["caption"]);
    }

    [Fact]
    public void Resize_AreaAverages_AndImageFilesRoundTrip()
    {
        // 2x2 → 1x1 is the mean; 3x3 → 2x2 weights partial pixels by coverage (1.5 source pixels per output pixel).
        float[] two = [0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0];
        Assert.Equal([0.5f, 0.5f, 0.5f], ImageFiles.Resize(two, 2, 2, 1));
        var three = new float[27];
        three[(0 * 3 + 0) * 3] = 1f; // red channel of pixel (0, 0)
        var out2 = ImageFiles.Resize(three, 3, 3, 2);
        Assert.Equal(1f / 2.25f, out2[0], 5);   // pixel (0,0) covers source [0,1.5)²: the full pixel (0,0) of area 1 out of 2.25
        Assert.Equal(0f, out2[3]);
        using var dir = new TempDir();
        var r = new Rng(9);
        var scene = ShapesTask.Sample(ref r);
        ImageFiles.SavePng(scene.Pixels, 32, dir.File("x4.png"), scale: 4);
        var back = ImageFiles.Load(dir.File("x4.png"), 32);   // 128x128 → 32x32: every output pixel averages 4x4 equal pixels
        for (int i = 0; i < back.Length; i++) Assert.Equal(scene.Pixels[i], back[i], 2);
    }

    [Fact]
    public void BadInput_IsOneLineErrors()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("bad.png"), [1, 2, 3, 4, 5]);
        var e = Assert.Throws<InvalidDataException>(() => ImageFiles.Load(dir.File("bad.png"), 32));
        Assert.Contains("bad.png", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Throws<FileNotFoundException>(() => ImageFiles.Load(dir.File("missing.png"), 32));
        var text = new GptModel(Tiny() with { ImageSize = 0, ImagePatchSize = 0 }, 1);
        var e2 = Assert.Throws<InvalidOperationException>(() => VisionTraining.Answer(text, VisionTraining.Tokenizer(), new float[8 * 8 * 3], "x"));
        Assert.Contains("text-only", e2.Message);
        Assert.Throws<InvalidOperationException>(() => ImageEncoder.Forward(text, new float[48], new float[48], 1));
        Assert.Throws<ArgumentException>(() => (Tiny() with { ImagePatchSize = 3 }).Validate());
    }

    [Fact]
    public void Config_TextOnlyKeepsItsJson_MultimodalRoundTrips()
    {
        Assert.DoesNotContain("image", new GptConfig().ToJson());
        var cfg = Tiny();
        Assert.Equal(cfg, GptConfig.FromJson(cfg.ToJson()));
        Assert.Equal(8 * 48 + 8 + 8 + 8, GptParameters.Breakdown(cfg)["image_encoder"]);
    }
}
