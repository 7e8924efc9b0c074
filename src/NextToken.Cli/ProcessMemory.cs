// ProcessMemory: the process's peak resident set, for the peak_rss_mb every benchmark reports.
using System.Diagnostics;

namespace NextToken.Cli;

/// <summary>Memory figures of the running process.</summary>
internal static class ProcessMemory
{
    /// <summary>VmHWM from /proc/self/status on Linux (the kernel's peak resident set), else the runtime's peak working set.</summary>
    public static long PeakRssBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0]) * 1024;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64;
    }

    /// <summary>The peak resident set in MiB.</summary>
    public static double PeakRssMb() => PeakRssBytes() / (1024.0 * 1024.0);
}
