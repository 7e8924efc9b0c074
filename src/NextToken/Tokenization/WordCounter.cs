// WordCounter: pre-tokenizes a corpus in parallel and counts each distinct "word" (regex piece) once.
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace NextToken.Tokenization;

/// <summary>
/// Counts the pre-tokenized words of a text. The text is cut into chunks at boundaries where the regex is known
/// to restart (just after a newline that sits between two non-space characters), so the chunks pre-tokenize
/// exactly as the whole text would; each thread owns its own compiled Regex and its own dictionary, looked up by
/// span so only first sightings allocate a string.
/// </summary>
internal static class WordCounter
{
    private const int ChunkChars = 1 << 20;

    public static Dictionary<string, long> Count(string text, string pattern, IReadOnlyList<string> specialTokens, int threads)
    {
        var chunks = new List<(int Start, int Length)>();
        foreach (var (start, length) in SplitOnSpecials(text, specialTokens)) AddChunks(text, start, length, chunks);
        threads = Math.Clamp(threads, 1, Math.Max(1, chunks.Count));

        var partial = new Dictionary<string, long>[threads];
        int next = -1;
        void Work(int t)
        {
            Regex regex = BpePatterns.Create(pattern);
            var counts = new Dictionary<string, long>(StringComparer.Ordinal);
            var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
            int c;
            while ((c = Interlocked.Increment(ref next)) < chunks.Count)
            {
                var span = text.AsSpan(chunks[c].Start, chunks[c].Length);
                foreach (var m in regex.EnumerateMatches(span))
                {
                    ref long n = ref CollectionsMarshal.GetValueRefOrAddDefault(lookup, span.Slice(m.Index, m.Length), out _);
                    n++;
                }
            }
            partial[t] = counts;
        }
        if (threads == 1) Work(0);
        else
        {
            var workers = new Thread[threads];
            for (int t = 0; t < threads; t++) { int id = t; workers[t] = new Thread(() => Work(id)); workers[t].Start(); }
            foreach (var w in workers) w.Join();
        }

        // Merge into the largest dictionary to move the fewest entries.
        int big = 0;
        for (int t = 1; t < threads; t++) if (partial[t].Count > partial[big].Count) big = t;
        var total = partial[big];
        for (int t = 0; t < threads; t++)
        {
            if (t == big) continue;
            foreach (var (w, n) in partial[t]) CollectionsMarshal.GetValueRefOrAddDefault(total, w, out _) += n;
        }
        return total;
    }

    /// <summary>The stretches of text between occurrences of special tokens (longest special wins at a position).</summary>
    internal static List<(int Start, int Length)> SplitOnSpecials(string text, IReadOnlyList<string> specialTokens)
    {
        var parts = new List<(int, int)>();
        int pos = 0, from = 0;
        var specials = specialTokens.Where(s => s.Length > 0).OrderByDescending(s => s.Length).ToArray();
        while (specials.Length > 0)
        {
            int best = -1, bestLen = 0;
            foreach (var s in specials)
            {
                int i = text.IndexOf(s, from, StringComparison.Ordinal);
                if (i >= 0 && (best < 0 || i < best)) { best = i; bestLen = s.Length; }
            }
            if (best < 0) break;
            if (best > pos) parts.Add((pos, best - pos));
            pos = from = best + bestLen;
        }
        if (pos < text.Length) parts.Add((pos, text.Length - pos));
        return parts;
    }

    private static void AddChunks(string text, int start, int length, List<(int, int)> chunks)
    {
        int end = start + length;
        while (end - start > ChunkChars)
        {
            int cut = -1;
            // Search forward from the target size for a safe restart point: "x\ny" with x, y not white space.
            for (int i = start + ChunkChars; i < end - 1; i++)
            {
                if (text[i - 1] == '\n' && !char.IsWhiteSpace(text[i]) && i - 2 >= start && !char.IsWhiteSpace(text[i - 2])) { cut = i; break; }
            }
            if (cut < 0) break;
            chunks.Add((start, cut - start));
            start = cut;
        }
        if (end > start) chunks.Add((start, end - start));
    }
}
