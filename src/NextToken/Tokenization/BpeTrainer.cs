// BpeTrainer: learns a byte-level BPE vocabulary (GPT-2 style) from text, counting pairs incrementally.
using System.Diagnostics;
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
        if (text.Length == 0) throw new ArgumentException("the training text is empty: BPE needs some text to learn merges from", nameof(text));

        var clock = Stopwatch.StartNew();
        var words = WordCounter.Count(text, options.Pattern, options.SpecialTokens, options.Threads);
        var counting = clock.Elapsed;
        if (words.Count == 0) throw new ArgumentException("the training text holds nothing but special tokens: BPE needs some text to learn merges from", nameof(text));

        var (tokens, merges) = LearnMerges(words, options.VocabSize - 256 - options.SpecialTokens.Count, options.MinFrequency);
        var tokenizer = new BpeTokenizer(tokens, merges, options.SpecialTokens, options.Pattern);
        return new BpeTrainingResult(tokenizer, words.Count, counting, clock.Elapsed - counting);
    }

    /// <summary>Trains on word counts directly (used by tests and by callers that count words themselves).</summary>
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

        var pairCounts = new Dictionary<long, long>();
        var pairWords = new Dictionary<long, List<int>>();
        for (int w = 0; w < n; w++)
        {
            var s = syms[w];
            for (int i = 0; i + 1 < lens[w]; i++)
            {
                long key = Key(s[i], s[i + 1]);
                CollectionsMarshal.GetValueRefOrAddDefault(pairCounts, key, out _) += freq[w];
                ref var list = ref CollectionsMarshal.GetValueRefOrAddDefault(pairWords, key, out _);
                (list ??= []).Add(w);
            }
        }
        var heap = new PriorityQueue<long, (long Count, long Key)>(pairCounts.Count, HeapOrder.Instance);
        foreach (var (key, count) in pairCounts) heap.Enqueue(key, (count, key));

        var stamp = new int[n];
        int merge = 0;
        var touched = new HashSet<long>();
        var merged = new HashSet<long>();
        int newTokens = 0;
        while (newTokens < maxNewTokens && heap.TryDequeue(out long best, out var prio))
        {
            long current = pairCounts.GetValueOrDefault(best);
            if (current != prio.Count)
            {
                if (current > 0) heap.Enqueue(best, (current, best));
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
            touched.Clear();
            var holders = pairWords[best];
            pairWords[best] = [];
            foreach (int w in holders)
            {
                if (stamp[w] == merge) continue;
                stamp[w] = merge;
                ApplyMerge(w, a, b, id, syms, lens, freq[w], pairCounts, pairWords, touched);
            }
            foreach (long key in touched)
            {
                long c = pairCounts.GetValueOrDefault(key);
                if (c > 0) heap.Enqueue(key, (c, key));
            }
        }
        return (tokens, merges);
    }

    /// <summary>
    /// Merges every (a, b) in word w into id, left to right, and moves the word's pair counts from the old
    /// sequence to the new one: only the pairs around each merge site change, but neighbouring sites interact
    /// ("abab"), so we subtract the old pairs and add the new ones of the whole (short) word.
    /// </summary>
    private static void ApplyMerge(int w, int a, int b, int id, int[][] syms, int[] lens, long f,
        Dictionary<long, long> pairCounts, Dictionary<long, List<int>> pairWords, HashSet<long> touched)
    {
        var s = syms[w];
        int len = lens[w];
        int first = -1;
        for (int i = 0; i + 1 < len; i++) if (s[i] == a && s[i + 1] == b) { first = i; break; }
        if (first < 0) return; // stale entry: an earlier merge already consumed the pair here

        for (int i = 0; i + 1 < len; i++) CollectionsMarshal.GetValueRefOrNullRef(pairCounts, Key(s[i], s[i + 1])) -= f;
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
            CollectionsMarshal.GetValueRefOrAddDefault(pairCounts, key, out _) += f;
            if (s[i] == id || s[i + 1] == id)
            {
                ref var list = ref CollectionsMarshal.GetValueRefOrAddDefault(pairWords, key, out _);
                (list ??= []).Add(w);
                touched.Add(key);
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

    /// <summary>Max-heap order for .NET's min-heap: higher count first, then the smaller pair key (left id, right id).</summary>
    private sealed class HeapOrder : IComparer<(long Count, long Key)>
    {
        public static readonly HeapOrder Instance = new();
        public int Compare((long Count, long Key) x, (long Count, long Key) y) =>
            x.Count != y.Count ? y.Count.CompareTo(x.Count) : x.Key.CompareTo(y.Key);
    }
}
