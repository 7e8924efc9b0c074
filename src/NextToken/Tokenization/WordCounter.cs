// WordCounter: pre-tokenizes a corpus in parallel and counts each distinct "word" (regex piece) once.
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace NextToken.Tokenization;

/// <summary>
/// Counts the pre-tokenized words of a text, streamed in chunks so memory follows the distinct words, not the
/// text. Chunks are cut where the regex is known to restart: just after a newline that sits between two
/// non-space characters (no pattern match spans such a newline, and the one ending there is the same whether
/// the text goes on or not), so chunked counting equals whole-text counting. Text without such newlines (e.g.
/// CRLF line ends with the gpt2 pattern) stays one chunk. Each thread owns its own compiled Regex and dictionary,
/// looked up by span so only first sightings allocate a string.
/// </summary>
internal static class WordCounter
{
    internal const int ChunkChars = 1 << 20;

    /// <summary>Counts the words of an in-memory text.</summary>
    public static Dictionary<string, long> Count(string text, string pattern, IReadOnlyList<string> specialTokens, int threads) =>
        Count(Slices(text), pattern, specialTokens, threads);

    /// <summary>Counts the words of a text read from <paramref name="reader"/>, one chunk at a time.</summary>
    public static Dictionary<string, long> Count(TextReader reader, string pattern, IReadOnlyList<string> specialTokens, int threads) =>
        Count(Blocks(reader), pattern, specialTokens, threads);

    private static Dictionary<string, long> Count(IEnumerable<ReadOnlyMemory<char>> chunks, string pattern, IReadOnlyList<string> specialTokens, int threads)
    {
        threads = Math.Max(1, threads);
        var queue = new BlockingCollection<ReadOnlyMemory<char>>(boundedCapacity: threads * 2);
        var partial = new Dictionary<string, long>[threads];
        var workers = new Thread[threads];
        Exception? failure = null;
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new Thread(() =>
            {
                try { partial[id] = Work(queue, pattern, specialTokens); }
                catch (Exception e) { failure = e; partial[id] = []; }
            }) { IsBackground = true, Name = $"bpe-count-{t}" };
            workers[t].Start();
        }
        try { foreach (var chunk in chunks) queue.Add(chunk); }
        finally { queue.CompleteAdding(); }
        foreach (var w in workers) w.Join();
        if (failure is not null) throw new AggregateException(failure);

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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Dictionary<string, long> Work(BlockingCollection<ReadOnlyMemory<char>> queue, string pattern, IReadOnlyList<string> specialTokens)
    {
        Regex regex = BpePatterns.Create(pattern);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var chunk in queue.GetConsumingEnumerable())
        {
            var text = chunk.Span;
            foreach (var (start, length) in SplitOnSpecials(text, specialTokens))
            {
                var part = text.Slice(start, length);
                foreach (var m in regex.EnumerateMatches(part))
                    CollectionsMarshal.GetValueRefOrAddDefault(lookup, part.Slice(m.Index, m.Length), out _)++;
            }
        }
        return counts;
    }

    /// <summary>The stretches of text between occurrences of special tokens (the longest special wins at a position).</summary>
    internal static List<(int Start, int Length)> SplitOnSpecials(ReadOnlySpan<char> text, IReadOnlyList<string> specialTokens)
    {
        var parts = new List<(int, int)>();
        int pos = 0;
        while (specialTokens.Count > 0)
        {
            int best = -1, bestLen = 0;
            foreach (var s in specialTokens)
            {
                if (s.Length == 0) continue;
                int i = text[pos..].IndexOf(s, StringComparison.Ordinal);
                if (i >= 0 && (best < 0 || pos + i < best || (pos + i == best && s.Length > bestLen))) { best = pos + i; bestLen = s.Length; }
            }
            if (best < 0) break;
            if (best > pos) parts.Add((pos, best - pos));
            pos = best + bestLen;
        }
        if (pos < text.Length) parts.Add((pos, text.Length - pos));
        return parts;
    }

    /// <summary>Index just past the last safe cut in text[..end] at or after <paramref name="from"/>, or -1.</summary>
    internal static int LastSafeCut(ReadOnlySpan<char> text, int from)
    {
        for (int i = text.Length - 1; i >= Math.Max(2, from); i--)
            if (text[i - 1] == '\n' && !char.IsWhiteSpace(text[i]) && !char.IsWhiteSpace(text[i - 2])) return i;
        return -1;
    }

    private static int FirstSafeCut(string text, int from)
    {
        for (int i = Math.Max(2, from); i < text.Length; i++)
            if (text[i - 1] == '\n' && !char.IsWhiteSpace(text[i]) && !char.IsWhiteSpace(text[i - 2])) return i;
        return -1;
    }

    private static IEnumerable<ReadOnlyMemory<char>> Slices(string text)
    {
        int start = 0;
        while (text.Length - start > ChunkChars)
        {
            // The last safe cut inside the next ChunkChars characters; if none, the first one after them.
            int cut = LastSafeCut(text.AsSpan(start, ChunkChars), 0);
            if (cut <= 0)
            {
                int first = FirstSafeCut(text, start + ChunkChars);
                if (first < 0) break;
                cut = first - start;
            }
            yield return text.AsMemory(start, cut);
            start += cut;
        }
        if (start < text.Length) yield return text.AsMemory(start);
    }

    private static IEnumerable<ReadOnlyMemory<char>> Blocks(TextReader reader)
    {
        var buffer = new char[ChunkChars];
        int filled = 0;
        while (true)
        {
            if (filled == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2); // no safe cut in a whole block
            int read = reader.ReadBlock(buffer, filled, buffer.Length - filled);
            filled += read;
            if (read == 0)
            {
                if (filled > 0) yield return buffer.AsMemory(0, filled);
                yield break;
            }
            int cut = LastSafeCut(buffer.AsSpan(0, filled), 0);
            if (cut <= 0) continue;
            // Hand the chunk over and keep the tail; the consumer owns the old array from now on.
            var next = new char[Math.Max(ChunkChars, filled - cut)];
            buffer.AsSpan(cut, filled - cut).CopyTo(next);
            yield return buffer.AsMemory(0, cut);
            buffer = next;
            filled -= cut;
        }
    }
}
