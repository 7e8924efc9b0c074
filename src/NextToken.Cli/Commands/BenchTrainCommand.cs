// BenchTrainCommand: `nexttoken bench train` — full training steps (forward, backward, clip, AdamW) on random tokens:
// ms/step, tokens/s, model GFLOP/s, MFU against a GEMM reference, a per-phase breakdown and peak memory. The matrix
// products' and attention's share are replayed timings (StepReplay): the same kernels on buffers of the step's shapes.
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Training;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken bench train</c>; option names and the JSON keys ms_per_step, tokens_per_second, gflops, peak_rss_mb are a contract.</summary>
internal sealed class BenchTrainCommand : IBenchSubcommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var preset = new Option<string?>("--preset") { Description = $"Model preset ({string.Join(", ", GptPresets.All.Keys)}); default gpt2" };
        var layers = new Option<int?>("--layers") { Description = "Transformer blocks (overrides the preset)" };
        var heads = new Option<int?>("--heads") { Description = "Attention heads (overrides the preset)" };
        var embd = new Option<int?>("--embd") { Description = "Embedding width (overrides the preset)" };
        var block = new Option<int?>("--block") { Description = "Context length (overrides the preset; at least --seq)" };
        var vocab = new Option<int?>("--vocab") { Description = "Vocabulary size (overrides the preset)" };
        var batch = new Option<int>("--batch") { Description = "Sequences per step (B)", DefaultValueFactory = _ => 4 };
        var seq = new Option<int>("--seq") { Description = "Tokens per sequence (T)", DefaultValueFactory = _ => 64 };
        var steps = new Option<int>("--steps") { Description = "Measured steps (the median is reported)", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup-steps") { Description = "Unmeasured steps first (JIT, first-touch of the arenas)", DefaultValueFactory = _ => 2 };
        var threads = ThreadsOption.Create();
        var refGflops = new Option<double?>("--reference-gflops") { Description = "GFLOP/s that MFU is relative to (default: our GEMM measured in-process at M=1024 K=768 N=3072)" };
        var referenceLog = new Option<FileInfo?>("--reference-log")
        {
            Description = "Output of ../shared/roofline's gemm bench at BT = batch·seq: prints the time OpenBLAS takes for this step's\n" +
                          "matrix products (4 linears per layer and the LM head, forward + both gradients) beside ours",
        };
        var json = new Option<bool>("--json") { Description = "Last stdout line: one JSON object (ms_per_step, tokens_per_second, gflops, mfu, peak_rss_mb, …)" };
        var cmd = new Command("train", "Time full GPT training steps (forward, backward, gradient clipping, AdamW) on random tokens.\n" +
                                       "FLOPs per token = 6·N + 6·L·C·T (N = all parameters over the real vocabulary, embeddings included;\n" +
                                       "6·L·C·T counts the causal half of the attention products).\n" +
                                       "The matmul and attention phases are replayed: after the measured steps the step's products and attention run\n" +
                                       "again outside the model on buffers of the same shapes, and their times are taken as the phases' share.\n" +
                                       "Example: nexttoken bench train --preset gpt2 --batch 4 --seq 64 --steps 10");
        foreach (var o in new Option[] { preset, layers, heads, embd, block, vocab, batch, seq, steps, warmup, threads, refGflops, referenceLog, json })
            cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            var cfg = GptPresets.Get(pr.GetValue(preset) ?? "gpt2");
            if (pr.GetValue(layers) is int l) cfg = cfg with { Layers = l };
            if (pr.GetValue(heads) is int h) cfg = cfg with { Heads = h };
            if (pr.GetValue(embd) is int e) cfg = cfg with { EmbeddingSize = e };
            if (pr.GetValue(block) is int bl) cfg = cfg with { ContextLength = bl };
            if (pr.GetValue(vocab) is int v) cfg = cfg with { VocabSize = v };
            int B = pr.GetValue(batch), T = pr.GetValue(seq), n = pr.GetValue(steps), w = pr.GetValue(warmup);
            if (B < 1 || T < 1) throw new ArgumentException("--batch and --seq must be at least 1");
            if (n < 1 || w < 0) throw new ArgumentException("--steps must be at least 1 and --warmup-steps at least 0");
            if (T > cfg.ContextLength) cfg = cfg with { ContextLength = T };
            cfg = cfg.Validate();
            if (pr.GetResult(threads) is { Implicit: false })
            {
                int th = pr.GetValue(threads);
                if (th < 1 || th > Environment.ProcessorCount) throw new ArgumentException($"--threads must be between 1 and {Environment.ProcessorCount} (got {th})");
                ThreadsOption.Apply(pr, threads);
                // Pin the process to as many cores, so nothing else of ours (the GC, the pool's spinning) runs beside it.
                if (OperatingSystem.IsLinux() || OperatingSystem.IsWindows())
                    Process.GetCurrentProcess().ProcessorAffinity = (nint)((1L << th) - 1);
            }
            bool quiet = pr.GetValue(json);
            var blas = pr.GetValue(referenceLog) is FileInfo f ? BenchGemmCommand.ReadReferenceLog(f) : null;
            var result = Run(cfg, B, T, n, w, pr.GetValue(refGflops), blas, quiet ? null : Console.Out);
            result["preset"] = pr.GetValue(preset) ?? "gpt2";
            if (quiet) Console.WriteLine(JsonSerializer.Serialize(result));
            return 0;
        });
        return cmd;
    }

    private static Dictionary<string, object> Run(GptConfig cfg, int B, int T, int steps, int warmup, double? referenceGflops,
                                                  Dictionary<(string Product, int N, int C, int OC), double>? blas, TextWriter? log)
    {
        (double Ms, double Flop)? blasStep = blas is null ? null : OpenBlasStepMs(cfg, B * T, blas);
        log?.WriteLine($"model: {cfg.Layers} layers, {cfg.Heads} heads, {cfg.EmbeddingSize} wide, vocab {cfg.VocabSize}; batch {B} x {T}; threads {Threading.MaxThreads}");
        var model = new GptModel(cfg, seed: 1);
        model.EnableGradients();
        var optimizer = new AdamW(model.Layout, new AdamWOptions());
        var rng = new Rng(7);
        var inputs = new int[B * T];
        var targets = new int[B * T];
        for (int i = 0; i < inputs.Length; i++) { inputs[i] = rng.NextInt(cfg.VocabSize); targets[i] = rng.NextInt(cfg.VocabSize); }
        var stepMs = new List<double>();
        double sumModel = 0, sumOptimizer = 0, sumZero = 0;
        float loss = 0;
        bool gradientsClear = false;
        for (int s = 0; s < warmup + steps; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            // AdamW clears each gradient as it reads it (as the trainer does): only the first step zeroes the arena.
            if (!gradientsClear) model.ZeroGradients();
            long tz = Stopwatch.GetTimestamp();
            loss = model.Forward(inputs, targets, B, T, computeGradients: true);
            model.Backward();
            long t1 = Stopwatch.GetTimestamp();
            float norm = GradientClipping.GlobalNorm(model.Gradients!);
            optimizer.Update(model.Parameters, model.Gradients!, 3e-4f, GradientClipping.ClipScale(norm, 1f), clearGradients: true);
            gradientsClear = true;
            long t2 = Stopwatch.GetTimestamp();
            if (s < warmup) continue;
            stepMs.Add(Seconds(t2 - t0) * 1000);
            sumModel += Seconds(t1 - t0);
            sumZero += Seconds(tz - t0);
            sumOptimizer += Seconds(t2 - t1);
            log?.WriteLine($"step {s - warmup + 1}/{steps}: {stepMs[^1]:F1} ms, loss {loss:F4}");
        }
        // Peak memory of the training steps, read before the replay allocates its own buffers.
        double peakMb = ProcessMemory.PeakRssMb();
        // The phases: the step's products and attention replayed outside the model, once unmeasured (first touch of
        // the buffers), then once per measured step; the sums stand for the model's.
        double sumMatmul = 0, sumAttention = 0;
        {
            var replay = new StepReplay(cfg, B, T);
            replay.Run();
            for (int s = 0; s < steps; s++)
            {
                var (m, a) = replay.Run();
                sumMatmul += m;
                sumAttention += a;
            }
        }
        stepMs.Sort();
        double ms = stepMs.Count % 2 == 1 ? stepMs[stepMs.Count / 2] : (stepMs[stepMs.Count / 2 - 1] + stepMs[stepMs.Count / 2]) / 2;
        long N = model.ParameterCount;
        double flopsPerToken = 6.0 * N + 6.0 * cfg.Layers * cfg.EmbeddingSize * T;
        double tokensPerSecond = B * T / (ms / 1000);
        double gflops = flopsPerToken * tokensPerSecond / 1e9;
        string refSource = referenceGflops is null ? "in-process GEMM (Matmul.Forward) at M=1024 K=768 N=3072" : "--reference-gflops";
        double reference = referenceGflops ?? MeasureGemmGflops();
        double total = sumModel + sumOptimizer;
        double elementwise = Math.Max(0, sumModel - sumZero - sumMatmul - sumAttention);
        if (log is not null)
        {
            log.WriteLine($"ms/step (median of {steps}): {ms:F1}   tokens/s: {tokensPerSecond:F1}   model GFLOP/s: {gflops:F1}");
            log.WriteLine($"FLOPs/token: {flopsPerToken:E3} (6·N + 6·L·C·T, N = {N:N0} parameters incl. embeddings)");
            log.WriteLine($"reference: {reference:F1} GFLOP/s ({refSource});  MFU: {100 * gflops / reference:F1}%");
            log.WriteLine($"phases (share of step time; matmul and attention replayed on the step's shapes): matmul {100 * sumMatmul / total:F1}%, attention {100 * sumAttention / total:F1}%, " +
                          $"element-wise+loss {100 * elementwise / total:F1}%, zeroing gradients {100 * sumZero / total:F1}%, " +
                          $"optimizer (norm+AdamW) {100 * sumOptimizer / total:F1}%; non-matmul share {100 * (1 - sumMatmul / total):F1}%");
            if (blasStep is { } bs)
                log.WriteLine($"matrix products: ours {1000 * sumMatmul / steps:F1} ms/step, OpenBLAS on the same shapes {bs.Ms:F1} ms " +
                              $"({bs.Flop / bs.Ms / 1e6:F1} GFLOP/s): ratio {bs.Ms / (1000 * sumMatmul / steps):F2}");
            log.WriteLine($"peak RSS: {peakMb:F0} MB");
        }
        var doc = new Dictionary<string, object>
        {
            ["ms_per_step"] = Math.Round(ms, 3),
            ["tokens_per_second"] = Math.Round(tokensPerSecond, 2),
            ["gflops"] = Math.Round(gflops, 2),
            ["mfu"] = Math.Round(gflops / reference, 4),
            ["reference_gflops"] = Math.Round(reference, 2),
            ["reference_source"] = refSource,
            ["peak_rss_mb"] = Math.Round(peakMb, 1),
            ["params"] = N,
            ["flops_per_token"] = flopsPerToken,
            ["batch"] = B, ["seq"] = T, ["steps"] = steps, ["threads"] = Threading.MaxThreads,
            ["layers"] = cfg.Layers, ["heads"] = cfg.Heads, ["embd"] = cfg.EmbeddingSize, ["vocab"] = cfg.VocabSize,
            ["phase_seconds_per_step"] = new Dictionary<string, double>
            {
                ["matmul"] = Math.Round(sumMatmul / steps, 5), ["attention"] = Math.Round(sumAttention / steps, 5),
                ["elementwise"] = Math.Round(elementwise / steps, 5), ["zero_grad"] = Math.Round(sumZero / steps, 5),
                ["optimizer"] = Math.Round(sumOptimizer / steps, 5),
            },
            ["non_matmul_share"] = Math.Round(1 - sumMatmul / total, 4),
            ["phase_timing"] = "matmul and attention replayed outside the model on buffers of the step's shapes",
            ["final_loss"] = loss,
        };
        if (blasStep is { } b2)
        {
            doc["openblas_matmul_ms"] = Math.Round(b2.Ms, 3);
            doc["openblas_step_mix_gflops"] = Math.Round(b2.Flop / b2.Ms / 1e6, 2);
            doc["matmul_ratio_to_openblas"] = Math.Round(b2.Ms / (1000 * sumMatmul / steps), 4);
        }
        return doc;
    }

    private static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;

    /// <summary>
    /// Milliseconds OpenBLAS needs for one step's linear-layer products at N = B·T rows (the layers of
    /// <see cref="StepReplay.Linears"/>: per layer qkv, attention projection, MLP in and out; then the LM head; each
    /// forward, input gradient and weight gradient), and their FLOPs. Throws when the log lacks a shape.
    /// </summary>
    internal static (double Ms, double Flop) OpenBlasStepMs(GptConfig cfg, int rows, Dictionary<(string Product, int N, int C, int OC), double> blas)
    {
        double ms = 0, flop = 0;
        foreach (var (_, c, oc, count) in StepReplay.Linears(cfg))
            foreach (var product in new[] { "forward", "input_grad", "weight_grad" })
            {
                if (!blas.TryGetValue((product, rows, c, oc), out double g))
                    throw new ArgumentException($"the reference log has no {product} at N={rows} C={c} OC={oc}: run the roofline gemm bench with BT={rows}");
                double f = 2.0 * rows * c * oc * count;
                flop += f;
                ms += f / (g * 1e6);
            }
        return (ms, flop);
    }

    // Best of three forward products at GPT-2's MLP shape (M = 1024 rows, K = 768, N = 3072 outputs).
    private static double MeasureGemmGflops()
    {
        const int M = 1024, K = 768, OC = 3072;
        var a = new float[M * K]; var b = new float[OC * K]; var c = new float[M * OC];
        var rng = new Rng(3);
        rng.FillNormal(a, 0, 1); rng.FillNormal(b, 0, 1);
        double best = double.MaxValue;
        for (int i = 0; i < 4; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Matmul.Forward(a, b, default, c, M, K, OC);
            double s = Seconds(Stopwatch.GetTimestamp() - t0);
            if (i > 0) best = Math.Min(best, s);
        }
        return 2.0 * M * K * OC / best / 1e9;
    }
}
