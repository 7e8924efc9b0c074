// BenchLoadCommand: `nexttoken bench load` — time and peak memory of loading a model, beside reading its files.
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using NextToken.Interop;

namespace NextToken.Cli.Commands;

/// <summary>
/// <c>nexttoken bench load --checkpoint PATH</c>: reads the model's weight files once to the end (what
/// <c>cat FILE &gt; /dev/null</c> does; this also warms the page cache so both figures are measured alike), then loads the
/// model as every command does and reports both times, the peak resident set and the bound fp32 size + 15% + 300 MB.
/// </summary>
internal sealed class BenchLoadCommand : IBenchSubcommand
{
    private const double BoundSlack = 0.15, BoundExtraMb = 300;

    /// <inheritdoc/>
    public Command Build()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Model to load: a NextToken checkpoint, a Hugging Face directory or an llm.c .bin model", Required = true };
        var json = new Option<bool>("--json") { Description = "Last stdout line: JSON (load_seconds, read_seconds, load_vs_read, file_mb, fp32_mb, peak_rss_mb, rss_bound_mb, parameters)" };
        var cmd = new Command("load", "Load time and peak memory of a model beside reading its files.\n" +
                                      "Example: nexttoken bench load --checkpoint path/to/gpt2-xl --json");
        cmd.Options.Add(checkpoint);
        cmd.Options.Add(json);
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(checkpoint)!;
            var files = WeightFiles(path);
            long bytes = files.Sum(f => new FileInfo(f).Length);
            var buffer = new byte[16 << 20];
            var clock = Stopwatch.StartNew();
            foreach (string f in files)
            {
                using var s = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                while (s.Read(buffer, 0, buffer.Length) > 0) { }
            }
            double readSeconds = clock.Elapsed.TotalSeconds;
            buffer = null;
            clock.Restart();
            var loaded = ModelFiles.Load(path);
            double loadSeconds = clock.Elapsed.TotalSeconds;
            long parameters = loaded.Model.Layout.Size;
            double fp32Mb = parameters * 4.0 / (1024 * 1024), fileMb = bytes / (1024.0 * 1024.0);
            double peakMb = ProcessMemory.PeakRssMb(), boundMb = fp32Mb * (1 + BoundSlack) + BoundExtraMb;
            GC.KeepAlive(loaded);
            if (pr.GetValue(json))
            {
                Console.WriteLine(new JsonObject
                {
                    ["checkpoint"] = path, ["format"] = ModelFiles.Detect(path), ["parameters"] = parameters,
                    ["file_bytes"] = bytes, ["file_mb"] = Math.Round(fileMb, 1), ["fp32_mb"] = Math.Round(fp32Mb, 1),
                    ["read_seconds"] = Math.Round(readSeconds, 3), ["load_seconds"] = Math.Round(loadSeconds, 3),
                    ["load_vs_read"] = Math.Round(loadSeconds / readSeconds, 3),
                    ["peak_rss_mb"] = Math.Round(peakMb, 1), ["rss_bound_mb"] = Math.Round(boundMb, 1), ["within_bound"] = peakMb <= boundMb,
                }.ToJsonString());
                return;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{path} ({ModelFiles.Detect(path)}): {parameters:N0} parameters, {fileMb:N0} MiB of files, {fp32Mb:N0} MiB as fp32"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"read files   {readSeconds,8:F2} s  ({fileMb / readSeconds:N0} MiB/s, like cat > /dev/null)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"load model   {loadSeconds,8:F2} s  ({loadSeconds / readSeconds:F2}x the read)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"peak RSS     {peakMb,8:N0} MiB (bound fp32 + 15% + 300 MB = {boundMb:N0} MiB: {(peakMb <= boundMb ? "within" : "OVER")})"));
        });
        return cmd;
    }

    // The files that hold the weights: a NextToken checkpoint.bin, an llm.c file, or a Hugging Face directory's safetensors.
    private static List<string> WeightFiles(string path)
    {
        if (File.Exists(path)) return [path];
        if (!Directory.Exists(path)) throw new FileNotFoundException($"'{path}' does not exist", path);
        string ckpt = Path.Combine(path, Training.Checkpoint.FileName);
        if (File.Exists(ckpt)) return [ckpt];
        var st = Directory.GetFiles(path, "*.safetensors").Order(StringComparer.Ordinal).ToList();
        return st.Count > 0 ? st : throw new FileNotFoundException($"'{path}' holds no {Training.Checkpoint.FileName} and no .safetensors file", path);
    }
}
