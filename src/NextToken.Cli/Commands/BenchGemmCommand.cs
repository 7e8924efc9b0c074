// BenchGemmCommand: `nexttoken bench gemm` times the linear layer's three products (forward, input gradient, weight
// gradient) at GPT-2 shapes plus the decoding GEMV, and `--verify` checks them against a double reference.
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken bench gemm [--n --c --oc] [--threads T] [--reps R] [--reference-gflops G] [--isa] [--verify] [--json]</c>.</summary>
internal sealed class BenchGemmCommand : IBenchSubcommand
{
    private static readonly int[] GptRows = [256, 1024, 8192];
    private static readonly (int C, int OC)[] GptLayers = [(768, 2304), (768, 768), (768, 3072), (3072, 768), (768, 50257)];
    private static readonly string[] Products = ["forward", "input_grad", "weight_grad"];

    /// <inheritdoc/>
    public Command Build()
    {
        var n = new Option<int?>("--n") { Description = "Rows (batch·tokens); with --c and --oc times one shape instead of the GPT-2 set" };
        var c = new Option<int?>("--c") { Description = "Input channels" };
        var oc = new Option<int?>("--oc") { Description = "Output channels" };
        var rowsOpt = new Option<string?>("--rows") { Description = "Comma-separated row counts (batch·tokens) of the GPT-2 shape set (default 256,1024,8192)" };
        var threads = new Option<int>("--threads") { Description = "Threads (default: one per core)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var reps = new Option<int>("--reps") { Description = "Timed repetitions per product; the median is reported (also the best run, and GFLOP per CPU-second)", DefaultValueFactory = _ => 3 };
        var reference = new Option<double?>("--reference-gflops") { Description = "An OpenBLAS sgemm GFLOP/s figure to print ratios against" };
        var referenceLog = new Option<FileInfo?>("--reference-log")
        {
            Description = "Output of ../shared/roofline's gemm bench (lines 'label<TAB>qkv_fwd<TAB>M=..<TAB>N=..<TAB>K=..<TAB>median=..'):\n" +
                          "prints each shape's ratio to OpenBLAS on the same shape (the LM head's 50304 columns stand for 50257)",
        };
        var isa = new Option<string>("--isa") { Description = "Kernel path: auto, 512, 256 or scalar", DefaultValueFactory = _ => "auto" };
        var verify = new Option<bool>("--verify") { Description = "Check every product on odd shapes against a double-precision reference (and 1 vs 2 threads bit for bit); exit 1 on mismatch" };
        var json = new Option<bool>("--json") { Description = "Last stdout line: one JSON object (ms_per_step, tokens_per_second, gflops, peak_rss_mb, shapes, gemv)" };
        var cmd = new Command("gemm", "Time the matrix products of a linear layer (forward, input gradient, weight gradient) and the\n" +
                                      "decoding GEMV; GFLOP/s = 2·N·C·OC / median time.\n" +
                                      "Examples: nexttoken bench gemm --reference-gflops 325\n" +
                                      "          nexttoken bench gemm --reference-log /tmp/roofline/openblas-shapes.log\n" +
                                      "          nexttoken bench gemm --n 1024 --c 768 --oc 3072 --threads 1 --reps 5\n" +
                                      "          nexttoken bench gemm --verify");
        foreach (var o in new Option[] { n, c, oc, rowsOpt, threads, reps, reference, referenceLog, isa, verify, json }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            var path = ParseIsa(pr.GetValue(isa)!);
            int t = pr.GetValue(threads), r = pr.GetValue(reps);
            if (t < 1) throw new ArgumentException($"--threads must be at least 1 (got {t})");
            if (r < 1) throw new ArgumentException($"--reps must be at least 1 (got {r})");
            if (pr.GetValue(verify)) return Verify(path);
            int? sn = pr.GetValue(n), sc = pr.GetValue(c), soc = pr.GetValue(oc);
            List<(int N, int C, int OC)> shapes;
            int[] rowSet = GptRows;
            if (pr.GetValue(rowsOpt) is string rs)
            {
                try { rowSet = rs.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray(); }
                catch (FormatException) { throw new ArgumentException($"--rows '{rs}' is not a comma-separated list of integers, e.g. 256,1024"); }
                if (rowSet.Length == 0 || rowSet.Any(x => x < 1)) throw new ArgumentException($"--rows '{rs}' needs one or more row counts of at least 1");
            }
            if (sn is null && sc is null && soc is null)
                shapes = [.. from rows in rowSet from l in GptLayers select (rows, l.C, l.OC)];
            else if (sn is int vn && sc is int vc && soc is int voc && vn > 0 && vc > 0 && voc > 0) shapes = [(vn, vc, voc)];
            else throw new ArgumentException("give all of --n, --c and --oc (each at least 1), or none for the GPT-2 shape set");
            var perShape = pr.GetValue(referenceLog) is FileInfo f ? ReadReferenceLog(f) : null;
            return Bench(shapes, path, t, r, pr.GetValue(reference), perShape, pr.GetValue(json));
        });
        return cmd;
    }

    private static GemmIsa ParseIsa(string s) => s.ToLowerInvariant() switch
    {
        "auto" => GemmIsa.Auto.Resolve(),
        "512" => GemmIsa.Vector512.Resolve(),
        "256" => GemmIsa.Vector256.Resolve(),
        "scalar" => GemmIsa.Scalar,
        _ => throw new ArgumentException($"--isa must be auto, 512, 256 or scalar (got '{s}')"),
    };

    private static float[] RandomArray(long n, ulong seed)
    {
        var a = GC.AllocateUninitializedArray<float>(checked((int)n));
        new Rng(seed).FillNormal(a, 0f, 1f);
        return a;
    }

    /// <summary>
    /// Reads the roofline gemm bench's lines into GFLOP/s per (product, N, C, OC). Its products map as: fwd M=BT N=OC
    /// K=C; bwd_dx M=BT N=C K=OC; bwd_dw M=OC N=C K=BT. Other lines (summary, squares) are skipped; a file without
    /// any shape line is an error.
    /// </summary>
    internal static Dictionary<(string Product, int N, int C, int OC), double> ReadReferenceLog(FileInfo file)
    {
        if (!file.Exists) throw new FileNotFoundException($"reference log '{file.FullName}' does not exist (write it with ../shared/roofline's gemm bench)");
        var map = new Dictionary<(string, int, int, int), double>();
        foreach (var line in File.ReadLines(file.FullName))
        {
            var f = line.Split('\t');
            if (f.Length < 6) continue;
            int Field(string key) => f.FirstOrDefault(x => x.StartsWith(key + "=", StringComparison.Ordinal)) is string v && int.TryParse(v.AsSpan(key.Length + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out int x) ? x : -1;
            var medianField = f.FirstOrDefault(x => x.StartsWith("median=", StringComparison.Ordinal));
            if (medianField is null || !double.TryParse(medianField.AsSpan(7), NumberStyles.Float, CultureInfo.InvariantCulture, out double g)) continue;
            int M = Field("M"), N = Field("N"), K = Field("K");
            if (M < 0 || N < 0 || K < 0) continue;
            string name = f[1];
            (string, int, int, int)? key = name.EndsWith("_bwd_dx", StringComparison.Ordinal) ? ("input_grad", M, N, K)
                : name.EndsWith("_bwd_dw", StringComparison.Ordinal) ? ("weight_grad", K, N, M)
                : name.EndsWith("_fwd", StringComparison.Ordinal) ? ("forward", M, K, N) : null;
            if (key is not { } k) continue;
            map[k] = g;
            if (k.Item4 == 50304) map[(k.Item1, k.Item2, k.Item3, 50257)] = g; // the padded vocabulary stands for the real one
        }
        if (map.Count == 0) throw new InvalidDataException($"reference log '{file.FullName}' has no gemm shape lines (expected 'label<TAB>qkv_fwd<TAB>M=..<TAB>N=..<TAB>K=..<TAB>median=..')");
        return map;
    }

    private static int Bench(List<(int N, int C, int OC)> shapes, GemmIsa isa, int threads, int reps, double? reference,
                             Dictionary<(string Product, int N, int C, int OC), double>? perShape, bool json)
    {
        long maxNC = shapes.Max(s => (long)s.N * s.C), maxOCC = shapes.Max(s => (long)s.OC * s.C), maxNOC = shapes.Max(s => (long)s.N * s.OC);
        var inp = RandomArray(maxNC, 1); var weight = RandomArray(maxOCC, 2); var bias = RandomArray(shapes.Max(s => s.OC), 3);
        var outp = RandomArray(maxNOC, 4); var dinp = new float[maxNC]; var dweight = new float[maxOCC];
        Console.WriteLine($"gemm: isa {isa}, {threads} thread(s), median of {reps} rep(s); GFLOP = 2·N·C·OC per product");
        Console.WriteLine($"{"product",-12} {"N",6} {"C",6} {"OC",6} {"ms",10} {"GFLOP/s",9} {"best",9} {"per-cpu",9}" + (reference is null ? "" : $" {"ratio",6}")
                          + (perShape is null ? "" : $" {"openblas",9} {"vs-blas",7}"));
        double refMs = 0, refOurMs = 0, worstShape = double.MaxValue;
        var rows = new List<Dictionary<string, object>>();
        double totalMs = 0, totalFlop = 0;
        foreach (var (N, C, OC) in shapes)
            foreach (var product in Products)
            {
                Action run = product switch
                {
                    "forward" => () => Matmul.Forward(inp.AsSpan(0, N * C), weight.AsSpan(0, OC * C), bias.AsSpan(0, OC), outp.AsSpan(0, N * OC), N, C, OC, isa, threads),
                    "input_grad" => () => Matmul.Backward(outp.AsSpan(0, N * OC), inp.AsSpan(0, N * C), weight.AsSpan(0, OC * C), dinp.AsSpan(0, N * C), default, default, N, C, OC, isa, threads),
                    _ => () => Matmul.Backward(outp.AsSpan(0, N * OC), inp.AsSpan(0, N * C), weight.AsSpan(0, OC * C), default, dweight.AsSpan(0, OC * C), default, N, C, OC, isa, threads),
                };
                var (ms, minMs, cpuMs) = Median(run, reps);
                double flop = 2.0 * N * C * OC, gflops = flop / (ms * 1e6), best = flop / (minMs * 1e6), perCpu = flop / (cpuMs * 1e6);
                totalMs += ms; totalFlop += flop;
                string ratio = reference is double g ? $" {gflops / g,6:F2}" : "";
                double? blas = perShape is not null && perShape.TryGetValue((product, N, C, OC), out double bg) ? bg : null;
                if (blas is double bl)
                {
                    ratio += $" {bl,9:F1} {gflops / bl,7:F2}";
                    refMs += flop / (bl * 1e6); refOurMs += ms; worstShape = Math.Min(worstShape, gflops / bl);
                }
                else if (perShape is not null) ratio += $" {"-",9} {"-",7}";
                Console.WriteLine($"{product,-12} {N,6} {C,6} {OC,6} {ms,10:F3} {gflops,9:F1} {best,9:F1} {perCpu,9:F1}{ratio}");
                var row = new Dictionary<string, object>
                {
                    ["product"] = product, ["n"] = N, ["c"] = C, ["oc"] = OC, ["ms"] = Math.Round(ms, 4), ["gflops"] = Math.Round(gflops, 2),
                    ["min_ms"] = Math.Round(minMs, 4), ["best_gflops"] = Math.Round(best, 2), ["gflops_per_cpu_second"] = Math.Round(perCpu, 2),
                };
                if (reference is double g2) row["ratio"] = Math.Round(gflops / g2, 4);
                if (blas is double bl2) { row["openblas_gflops"] = bl2; row["ratio_to_openblas"] = Math.Round(gflops / bl2, 4); }
                rows.Add(row);
            }
        // Decoding: one row against the LM head and an MLP projection (or the given shape's weights); bandwidth =
        // weight bytes / time.
        var gemv = new List<Dictionary<string, object>>();
        (int C, int OC)[] gemvShapes = shapes.Count == 1 ? [(shapes[0].C, shapes[0].OC)] : [(768, 50257), (3072, 768)];
        foreach (var (C, OC) in gemvShapes)
        {
            var w = (long)C * OC <= maxOCC ? weight : RandomArray((long)C * OC, 5);
            var x = RandomArray(C, 6); var y = new float[OC];
            double ms = Median(() => Matmul.Forward(x, w.AsSpan(0, C * OC), default, y, 1, C, OC, isa, threads), Math.Max(reps, 5)).Median;
            double gbs = 4.0 * C * OC / (ms * 1e6);
            Console.WriteLine($"gemv (N=1)   C={C,5} OC={OC,6} {ms,10:F3} ms {gbs,8:F1} GB/s of weights");
            gemv.Add(new Dictionary<string, object> { ["c"] = C, ["oc"] = OC, ["ms"] = Math.Round(ms, 4), ["gb_per_s"] = Math.Round(gbs, 2) });
        }
        double total = totalFlop / (totalMs * 1e6);
        double peakMb = ProcessMemory.PeakRssMb();
        Console.WriteLine($"total {totalMs:F1} ms, {total:F1} GFLOP/s" + (reference is double g3 ? $" ({total / g3:F2} of the reference)" : "") + $", peak RSS {peakMb:F0} MB");
        if (refOurMs > 0)
            Console.WriteLine($"against OpenBLAS on the same shapes: {refMs / refOurMs:F2} of its time-weighted throughput, worst shape {worstShape:F2}");
        if (json)
        {
            var doc = new Dictionary<string, object>
            {
                ["ms_per_step"] = Math.Round(totalMs, 3), ["tokens_per_second"] = 0, ["gflops"] = Math.Round(total, 2),
                ["peak_rss_mb"] = Math.Round(peakMb, 1), ["threads"] = threads, ["isa"] = isa.ToString(), ["reps"] = reps,
                ["shapes"] = rows, ["gemv"] = gemv,
            };
            if (reference is double g4) { doc["reference_gflops"] = g4; doc["ratio"] = Math.Round(total / g4, 4); }
            if (refOurMs > 0) { doc["ratio_to_openblas_same_shapes"] = Math.Round(refMs / refOurMs, 4); doc["worst_shape_ratio_to_openblas"] = Math.Round(worstShape, 4); }
            Console.WriteLine(JsonSerializer.Serialize(doc));
        }
        return 0;
    }

    // Median and minimum wall time in ms of reps runs after one warm-up run, and the process CPU time per run (ms).
    // The minimum is the figure least disturbed when other jobs share the cores; GFLOP per CPU-second is what one
    // busy core delivers, whatever share of the machine the process got (10 ms clock ticks: use enough reps).
    private static (double Median, double Min, double CpuMs) Median(Action run, int reps)
    {
        run();
        var times = new double[reps];
        var proc = Process.GetCurrentProcess();
        proc.Refresh();
        var cpu0 = proc.TotalProcessorTime;
        for (int i = 0; i < reps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        proc.Refresh();
        double cpuMs = (proc.TotalProcessorTime - cpu0).TotalMilliseconds / reps;
        Array.Sort(times);
        return (reps % 2 == 1 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]), times[0], cpuMs);
    }

    // Every product on shapes that straddle the tile and block edges, against sums in double precision with a
    // tolerance scaled by sum |a||b|; and 1 vs 2 threads bit for bit.
    private static int Verify(GemmIsa isa)
    {
        (int N, int C, int OC)[] shapes = [(1, 1, 1), (3, 7, 5), (4, 33, 17), (5, 17, 33), (9, 65, 31), (17, 257, 63), (97, 1000, 70), (33, 300, 1100), (64, 16, 65)];
        int failures = 0;
        foreach (var (N, C, OC) in shapes)
        {
            var inp = RandomArray(N * C, 11); var w = RandomArray(OC * C, 12); var b = RandomArray(OC, 13); var dout = RandomArray(N * OC, 14);
            var outp = new float[N * OC]; var dinp = RandomArray(N * C, 15); var dw = RandomArray(OC * C, 16); var db = RandomArray(OC, 17);
            var dinp0 = (float[])dinp.Clone(); var dw0 = (float[])dw.Clone(); var db0 = (float[])db.Clone();
            Matmul.Forward(inp, w, b, outp, N, C, OC, isa, 2);
            Matmul.Backward(dout, inp, w, dinp, dw, db, N, C, OC, isa, 2);
            double worst = 0;
            for (int n = 0; n < N; n++)
                for (int o = 0; o < OC; o++)
                {
                    double s = b[o], mag = Math.Abs(b[o]);
                    for (int k = 0; k < C; k++) { s += (double)inp[n * C + k] * w[o * C + k]; mag += Math.Abs((double)inp[n * C + k] * w[o * C + k]); }
                    worst = Math.Max(worst, Math.Abs(outp[n * OC + o] - s) / (mag + 1e-30));
                }
            for (int n = 0; n < N; n++)
                for (int k = 0; k < C; k++)
                {
                    double s = dinp0[n * C + k], mag = Math.Abs(s);
                    for (int o = 0; o < OC; o++) { s += (double)dout[n * OC + o] * w[o * C + k]; mag += Math.Abs((double)dout[n * OC + o] * w[o * C + k]); }
                    worst = Math.Max(worst, Math.Abs(dinp[n * C + k] - s) / (mag + 1e-30));
                }
            for (int o = 0; o < OC; o++)
            {
                double sb = db0[o], mb = Math.Abs(sb);
                for (int n = 0; n < N; n++) { sb += dout[n * OC + o]; mb += Math.Abs(dout[n * OC + o]); }
                worst = Math.Max(worst, Math.Abs(db[o] - sb) / (mb + 1e-30));
                for (int k = 0; k < C; k++)
                {
                    double s = dw0[o * C + k], mag = Math.Abs(s);
                    for (int n = 0; n < N; n++) { s += (double)dout[n * OC + o] * inp[n * C + k]; mag += Math.Abs((double)dout[n * OC + o] * inp[n * C + k]); }
                    worst = Math.Max(worst, Math.Abs(dw[o * C + k] - s) / (mag + 1e-30));
                }
            }
            // The same products on one thread must agree bit for bit.
            var outp1 = new float[N * OC]; var dinp1 = (float[])dinp0.Clone(); var dw1 = (float[])dw0.Clone();
            Matmul.Forward(inp, w, b, outp1, N, C, OC, isa, 1);
            Matmul.Backward(dout, inp, w, dinp1, dw1, default, N, C, OC, isa, 1);
            bool identical = outp.AsSpan().SequenceEqual(outp1) && dinp.AsSpan().SequenceEqual(dinp1) && dw.AsSpan().SequenceEqual(dw1);
            bool ok = worst <= 1e-5 && identical;
            if (!ok) failures++;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"verify {isa} N={N} C={C} OC={OC}: worst scaled error {worst:E2}, 1 vs 2 threads {(identical ? "identical" : "DIFFERENT")} {(ok ? "ok" : "FAIL")}"));
        }
        if (failures > 0)
        {
            Console.Error.WriteLine($"error: {failures} gemm verification shape(s) failed on the {isa} path");
            return 1;
        }
        Console.WriteLine($"verify {isa}: all {shapes.Length} shapes ok");
        return 0;
    }
}
