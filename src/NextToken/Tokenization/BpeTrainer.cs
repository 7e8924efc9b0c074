// BpeTrainer: learns a byte-level BPE vocabulary (GPT-2 style) from text, counting pairs incrementally.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace NextToken.Tokenization;

/// <summary>
/// Byte-level BPE training (Sennrich et al. 2016; GPT-2's byte-level variant). Ids 0..255 are the raw bytes, each
/// merge adds the next id, special tokens take the last ids. The algorithm:
/// <list type="number">
/// <item>pre-tokenize with the pattern and count each distinct word once (parallel, see <see cref="WordCounter"/>);</item>
/// <item>count adjacent pairs over the distinct words weighted by frequency, and index which words hold each pair;</item>
/// <item>repeatedly pop the most frequent pair from a max-heap (ties: smaller left id, then smaller right id), merge
/// it in the words that hold it only, and update the counts of the pairs those words gain and lose.</item>
/// </list>
/// Heap entries are lazy: a popped entry whose count is stale is pushed back with its current count. This is valid
/// because a pair's count can only grow when the pair contains the newest token, and those pairs are pushed fresh.
/// The result does not depend on the thread count.
/// </summary>
public static class BpeTrainer
{
    /// <summary>Trains on <paramref name="text"/>.</summary>
    public static BpeTrainingResult Train(string text, BpeTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        var clock = Stopwatch.StartNew();
        return Finish(WordCounter.Count(text, options.Pattern, options.SpecialTokens, options.Threads), options, clock);
    }

    /// <summary>Trains on text streamed from <paramref name="reader"/>: memory grows with the distinct words, not the text.</summary>
    public static BpeTrainingResult Train(TextReader reader, BpeTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        var clock = Stopwatch.StartNew();
        return Finish(WordCounter.Count(reader, options.Pattern, options.SpecialTokens, options.Threads), options, clock);
    }

    /// <summary>Trains on the UTF-8 text file at <paramref name="path"/>, streamed.</summary>
    public static BpeTrainingResult TrainFile(string path, BpeTrainerOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        StreamReader reader;
        try { reader = new StreamReader(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true, new FileStreamOptions { BufferSize = 1 << 20 }); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot read training text '{path}': {e.Message}", e);
        }
        using (reader) return Train(reader, options);
    }

    private static BpeTrainingResult Finish(Dictionary<string, long> words, BpeTrainerOptions options, Stopwatch clock)
    {
        var counting = clock.Elapsed;
        if (words.Count == 0) throw new ArgumentException("the training text is empty (or holds nothing but special tokens): BPE needs some text to learn merges from");

        var (tokens, merges) = LearnMerges(words, options.VocabSize - 256 - options.SpecialTokens.Count, options.MinFrequency);
        var tokenizer = new BpeTokenizer(tokens, merges, options.SpecialTokens, options.Pattern);
        return new BpeTrainingResult(tokenizer, words.Count, counting, clock.Elapsed - counting);
    }

    /// <summary>Trains on word counts directly (used by tests and by callers that count words themselves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // one long call: do not start it in unoptimised tier-0 code
    internal static (List<byte[]> Tokens, List<(int Left, int Right)> Merges) LearnMerges(Dictionary<string, long> wordCounts, int maxNewTokens, int minFrequency)
    {
        // Words as symbol sequences. Sorting makes word indices (and so every tie) independent of dictionary order.
        var keys = wordCounts.Keys.ToArray();
        Array.Sort(keys, StringComparer.Ordinal);
        int n = keys.Length;
        var syms = new int[n][];
        var lens = new int[n];
        var freq = new long[n];
        for (int w = 0; w < n; w++)
        {
            byte[] b = Encoding.UTF8.GetBytes(keys[w]);
            syms[w] = new int[b.Length];
            for (int i = 0; i < b.Length; i++) syms[w][i] = b[i];
            lens[w] = b.Length;
            freq[w] = wordCounts[keys[w]];
        }

        var tokens = new List<byte[]>(256 + Math.Max(0, maxNewTokens));
        var ids = new Dictionary<byte[], int>(ByteArrayComparer.Instance);
        for (int b = 0; b < 256; b++) { tokens.Add([(byte)b]); ids.Add(tokens[b], b); }
        var merges = new List<(int, int)>();
        if (maxNewTokens <= 0) return (tokens, merges);

        var pairs = new PairTable(n); // grows as merges create pairs; distinct pairs start well below the word count x 4
        for (int w = 0; w < n; w++)
        {
            var s = syms[w];
            for (int i = 0; i + 1 < lens[w]; i++)
            {
                int slot = pairs.FindOrAdd(Key(s[i], s[i + 1]));
                pairs.CountAt(slot) += freq[w];
                pairs.AddWord(slot, w);
            }
        }
        var heap = new PairHeap();
        for (int slot = 0; slot < pairs.Capacity; slot++)
            if (pairs.CountAt(slot) > 0) heap.Push(pairs.CountAt(slot), pairs.KeyAt(slot));

        var stamp = new int[n];
        int merge = 0;
        var touched = new long[1024];
        var merged = new HashSet<long>();
        int newTokens = 0;
        while (newTokens < maxNewTokens && heap.TryPop(out long count, out long best))
        {
            int bestSlot = pairs.Find(best);
            long current = pairs.CountAt(bestSlot);
            if (current != count)
            {
                if (current > 0) heap.Push(current, best);
                continue;
            }
            if (current < Math.Max(1, minFrequency)) break;

            int a = (int)(best >> 32), b = (int)best;
            byte[] bytes = [.. tokens[a], .. tokens[b]];
            // Two different merges can spell the same bytes (a+bc and ab+c); they share one id, as in tiktoken's
            // rank files, so the vocabulary counts distinct byte strings.
            if (!ids.TryGetValue(bytes, out int id))
            {
                id = tokens.Count;
                tokens.Add(bytes);
                ids.Add(bytes, id);
                newTokens++;
            }
            if (merged.Add(best)) merges.Add((a, b));

            merge++;
            int touchedCount = 0;
            var (holders, holderCount) = pairs.TakeWords(bestSlot);
            for (int h = 0; h < holderCount; h++)
            {
                int w = holders![h];
                if (stamp[w] == merge) continue;
                stamp[w] = merge;
                ApplyMerge(w, a, b, id, syms, lens, freq[w], pairs, merge, ref touched, ref touchedCount);
            }
            for (int t = 0; t < touchedCount; t++)
            {
                long c = pairs.CountAt(pairs.Find(touched[t]));
                if (c > 0) heap.Push(c, touched[t]);
            }
        }
        return (tokens, merges);
    }

    /// <summary>
    /// Merges every (a, b) in word w into id, left to right, and moves the word's pair counts from the old
    /// sequence to the new one: only the pairs around each merge site change, but neighbouring sites interact
    /// ("abab"), so we subtract the old pairs and add the new ones of the whole (short) word. Pairs that contain
    /// the new id are recorded once per merge in <paramref name="touched"/> so the caller can push their counts.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ApplyMerge(int w, int a, int b, int id, int[][] syms, int[] lens, long f,
        PairTable pairs, int merge, ref long[] touched, ref int touchedCount)
    {
        var s = syms[w];
        int len = lens[w];
        int first = -1;
        for (int i = 0; i + 1 < len; i++) if (s[i] == a && s[i + 1] == b) { first = i; break; }
        if (first < 0) return; // stale entry: an earlier merge already consumed the pair here

        for (int i = 0; i + 1 < len; i++) pairs.CountAt(pairs.Find(Key(s[i], s[i + 1]))) -= f;
        int j = first;
        for (int i = first; i < len; i++)
        {
            if (i + 1 < len && s[i] == a && s[i + 1] == b) { s[j++] = id; i++; }
            else s[j++] = s[i];
        }
        lens[w] = len = j;
        for (int i = 0; i + 1 < len; i++)
        {
            long key = Key(s[i], s[i + 1]);
            int slot = pairs.FindOrAdd(key);
            pairs.CountAt(slot) += f;
            if (s[i] == id || s[i + 1] == id)
            {
                pairs.AddWord(slot, w);
                ref int mark = ref pairs.MarkAt(slot);
                if (mark != merge)
                {
                    mark = merge;
                    if (touchedCount == touched.Length) Array.Resize(ref touched, touched.Length * 2);
                    touched[touchedCount++] = key;
                }
            }
        }
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private static void Validate(BpeTrainerOptions o)
    {
        _ = BpePatterns.Get(o.Pattern);
        ArgumentOutOfRangeException.ThrowIfLessThan(o.Threads, 1, nameof(o.Threads));
        ArgumentOutOfRangeException.ThrowIfLessThan(o.MinFrequency, 1, nameof(o.MinFrequency));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in o.SpecialTokens)
        {
            if (string.IsNullOrEmpty(s)) throw new ArgumentException("a special token cannot be empty");
            if (!seen.Add(s)) throw new ArgumentException($"special token '{s}' is given twice");
        }
        int min = 256 + o.SpecialTokens.Count;
        if (o.VocabSize < min)
            throw new ArgumentOutOfRangeException(nameof(o.VocabSize), o.VocabSize,
                $"vocabulary size {o.VocabSize} is below 256 byte tokens + {o.SpecialTokens.Count} special token(s) = {min}: ask for at least {min}");
    }
}
