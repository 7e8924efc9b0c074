// PairHeap: binary max-heap of (count, pair key) for the BPE trainer, ties broken by the smaller key.
using System.Runtime.CompilerServices;

namespace NextToken.Tokenization;

/// <summary>
/// Max-heap on count; among equal counts the smaller pair key (left id, then right id) comes first, which makes
/// training deterministic. Entries may be stale; the trainer checks them against the pair table when popped.
/// </summary>
internal sealed class PairHeap
{
    private long[] _counts = new long[1024];
    private long[] _keys = new long[1024];

    public int Count { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Above(int i, int j) => _counts[i] > _counts[j] || (_counts[i] == _counts[j] && _keys[i] < _keys[j]);

    private void Swap(int i, int j)
    {
        (_counts[i], _counts[j]) = (_counts[j], _counts[i]);
        (_keys[i], _keys[j]) = (_keys[j], _keys[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Push(long count, long key)
    {
        if (Count == _counts.Length)
        {
            Array.Resize(ref _counts, Count * 2);
            Array.Resize(ref _keys, Count * 2);
        }
        int i = Count++;
        _counts[i] = count;
        _keys[i] = key;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (!Above(i, parent)) break;
            Swap(i, parent);
            i = parent;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryPop(out long count, out long key)
    {
        if (Count == 0) { count = 0; key = 0; return false; }
        count = _counts[0];
        key = _keys[0];
        int n = --Count;
        _counts[0] = _counts[n];
        _keys[0] = _keys[n];
        int i = 0;
        while (true)
        {
            int l = 2 * i + 1, best = i;
            if (l < n && Above(l, best)) best = l;
            if (l + 1 < n && Above(l + 1, best)) best = l + 1;
            if (best == i) break;
            Swap(i, best);
            i = best;
        }
        return true;
    }
}
