// WordCounter: pre-tokenizes a corpus in parallel and counts each distinct "word" (regex piece) once.
using System.Buffers;
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

    private static Dictionary<string, long> Count(IEnumerable<Chunk> chunks, string pattern, IReadOnlyList<string> specialTokens, int threads)
    {
        threads = Math.Max(1, threads);
        var queue = new BlockingCollection<Chunk>(boundedCapacity: threads * 2);
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
    private static Dictionary<string, long> Work(BlockingCollection<Chunk> queue, string pattern, IReadOnlyList<string> specialTokens)
    {
        Regex regex = BpePatterns.Create(pattern);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var chunk in queue.GetConsumingEnumerable())
        {
            var text = chunk.Text.Span;
            foreach (var (start, length) in SplitOnSpecials(text, specialTokens))
            {
                var part = text.Slice(start, length);
                foreach (var m in regex.EnumerateMatches(part))
                    CollectionsMarshal.GetValueRefOrAddDefault(lookup, part.Slice(m.Index, m.Length), out _)++;
            }
            if (chunk.Pooled is { } buffer) ArrayPool<char>.Shared.Return(buffer);
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

    private static IEnumerable<Chunk> Slices(string text)
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
            yield return new Chunk(text.AsMemory(start, cut), null);
            start += cut;
        }
        if (start < text.Length) yield return new Chunk(text.AsMemory(start), null);
    }

    private static IEnumerable<Chunk> Blocks(TextReader reader)
    {
        // Buffers come from the shared pool and go back once counted, so memory stays at a few chunks in flight
        // instead of collecting large-object-heap garbage as big as the text.
        var buffer = ArrayPool<char>.Shared.Rent(ChunkChars);
        int filled = 0;
        while (true)
        {
            if (filled == buffer.Length)
            {
                // No safe cut in a whole buffer: grow it and read on.
                var bigger = ArrayPool<char>.Shared.Rent(buffer.Length * 2);
                buffer.AsSpan(0, filled).CopyTo(bigger);
                ArrayPool<char>.Shared.Return(buffer);
                buffer = bigger;
            }
            int read = reader.ReadBlock(buffer, filled, buffer.Length - filled);
            filled += read;
            if (read == 0)
            {
                if (filled > 0) yield return new Chunk(buffer.AsMemory(0, filled), buffer);
                else ArrayPool<char>.Shared.Return(buffer);
                yield break;
            }
            int cut = LastSafeCut(buffer.AsSpan(0, filled), 0);
            if (cut <= 0) continue;
            // Hand the chunk over with its buffer (the consumer returns it) and carry the tail into a new one.
            var next = ArrayPool<char>.Shared.Rent(Math.Max(ChunkChars, filled - cut));
            buffer.AsSpan(cut, filled - cut).CopyTo(next);
            yield return new Chunk(buffer.AsMemory(0, cut), buffer);
            buffer = next;
            filled -= cut;
        }
    }

    /// <summary>A stretch of text to count; <see cref="Pooled"/> is the pool buffer to return afterwards, if any.</summary>
    internal readonly record struct Chunk(ReadOnlyMemory<char> Text, char[]? Pooled);
}
