// PairTable: the BPE trainer's open-addressing map from a symbol pair to its count and the words that hold it.
using System.Runtime.CompilerServices;

namespace NextToken.Tokenization;

/// <summary>
/// Pair key (left id &lt;&lt; 32 | right id) → slot holding its frequency-weighted count and a list of word
/// indices (may repeat or be stale; the trainer filters). Hand-written rather than Dictionary so the whole merge
/// loop runs fully optimised from the first call: a training run is one long call, and tiered compilation would
/// spend a good part of a 0.1 s run in unoptimised generic collection code.
/// </summary>
internal sealed class PairTable
{
    private const long Empty = -1;
    private long[] _keys;
    private long[] _counts;
    private int[][] _words;
    private int[] _wordCounts;
    private int[] _marks;
    private int _mask;

    public PairTable(int capacity)
    {
        int size = 1024;
        while (size < capacity * 2) size <<= 1;
        _keys = new long[size];
        Array.Fill(_keys, Empty);
        _counts = new long[size];
        _words = new int[size][];
        _wordCounts = new int[size];
        _marks = new int[size];
        _mask = size - 1;
    }

    /// <summary>Number of slots in use (distinct pairs ever seen).</summary>
    public int Count { get; private set; }

    /// <summary>Slot array length; slots are 0..Capacity-1 and change when the table grows.</summary>
    public int Capacity => _keys.Length;

    public long KeyAt(int slot) => _keys[slot];
    public ref long CountAt(int slot) => ref _counts[slot];
    /// <summary>A scratch stamp per slot (the trainer marks pairs already queued for the current merge).</summary>
    public ref int MarkAt(int slot) => ref _marks[slot];

    /// <summary>Detaches and returns the word list of a slot (the slot's list becomes empty).</summary>
    public (int[]? Words, int Count) TakeWords(int slot)
    {
        var w = (_words[slot], _wordCounts[slot]);
        _words[slot] = null!;
        _wordCounts[slot] = 0;
        return w;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Hash(long key)
    {
        ulong h = (ulong)key * 0x9E3779B97F4A7C15UL;
        return (int)(h >> 32);
    }

    /// <summary>Slot of the key, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int Find(long key)
    {
        int i = Hash(key) & _mask;
        while (true)
        {
            long k = _keys[i];
            if (k == key) return i;
            if (k == Empty) return -1;
            i = (i + 1) & _mask;
        }
    }

    /// <summary>Slot of the key, inserting it with count 0 when absent (may grow the table: slots move).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int FindOrAdd(long key)
    {
        if ((Count + 1) * 2 > _keys.Length) Grow();
        int i = Hash(key) & _mask;
        while (true)
        {
            long k = _keys[i];
            if (k == key) return i;
            if (k == Empty)
            {
                _keys[i] = key;
                Count++;
                return i;
            }
            i = (i + 1) & _mask;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void AddWord(int slot, int word)
    {
        ref int[] list = ref _words[slot];
        int n = _wordCounts[slot];
        if (list is null) list = new int[4];
        else if (n == list.Length) Array.Resize(ref list, n * 2);
        list[n] = word;
        _wordCounts[slot] = n + 1;
    }

    private void Grow()
    {
        var (keys, counts, words, wordCounts, marks) = (_keys, _counts, _words, _wordCounts, _marks);
        int size = keys.Length * 2;
        _keys = new long[size];
        Array.Fill(_keys, Empty);
        _counts = new long[size];
        _words = new int[size][];
        _wordCounts = new int[size];
        _marks = new int[size];
        _mask = size - 1;
        for (int s = 0; s < keys.Length; s++)
        {
            if (keys[s] == Empty) continue;
            int i = Hash(keys[s]) & _mask;
            while (_keys[i] != Empty) i = (i + 1) & _mask;
            _keys[i] = keys[s];
            _counts[i] = counts[s];
            _words[i] = words[s];
            _wordCounts[i] = wordCounts[s];
            _marks[i] = marks[s];
        }
    }
}
