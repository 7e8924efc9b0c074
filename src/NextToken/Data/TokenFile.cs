// TokenFile: llm.c's token file (256 int32 header, then uint16 tokens), plus a uint32 variant, memory-mapped.
using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace NextToken.Data;

/// <summary>
/// A file of token ids in llm.c's layout: a header of 256 little-endian int32 (<c>[0]</c> magic 20240520,
/// <c>[1]</c> version, <c>[2]</c> token count), then the tokens. Version 1 stores uint16 tokens (llm.c's only
/// version); version 2 is ours and stores uint32 tokens for vocabularies over 65,536 ids. The file is
/// memory-mapped read-only, so a corpus larger than RAM is paged in on demand rather than loaded.
/// </summary>
public sealed unsafe class TokenFile : IDisposable, ITokenSource
{
    /// <summary>The value of <c>header[0]</c> (llm.c's magic for token files).</summary>
    public const int Magic = 20240520;
    /// <summary>Version whose tokens are uint16 (llm.c's format).</summary>
    public const int VersionUInt16 = 1;
    /// <summary>Version whose tokens are uint32 (NextToken's extension for large vocabularies).</summary>
    public const int VersionUInt32 = 2;
    /// <summary>Size of the header in bytes (256 int32).</summary>
    public const int HeaderBytes = 256 * sizeof(int);

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _tokens; // first byte after the header
    private readonly int _width;    // bytes per token: 2 or 4
    private bool _disposed;

    private TokenFile(string path, long count, int width, MemoryMappedFile map, MemoryMappedViewAccessor view)
    {
        Path = path; Count = count; _width = width; _map = map; _view = view;
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _tokens = p + _view.PointerOffset + HeaderBytes;
    }

    /// <summary>The file this was opened from.</summary>
    public string Path { get; }

    /// <summary>Number of tokens in the file.</summary>
    public long Count { get; }

    /// <summary>Bytes per token: 2 (version 1) or 4 (version 2).</summary>
    public int BytesPerToken => _width;

    /// <summary>The token at <paramref name="index"/>.</summary>
    public int this[long index]
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if ((ulong)index >= (ulong)Count) throw new ArgumentOutOfRangeException(nameof(index), $"index {index} is outside the file's {Count} tokens");
            return _width == 2 ? ((ushort*)_tokens)[index] : (int)((uint*)_tokens)[index];
        }
    }

    /// <summary>Copies <c>destination.Length</c> tokens starting at token <paramref name="start"/>.</summary>
    public void Read(long start, Span<int> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (start < 0 || start > Count - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"tokens {start}..{start + destination.Length} are outside the file's {Count} tokens");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("token files are little-endian; big-endian hosts are not supported");
        if (_width == 2)
        {
            var src = new ReadOnlySpan<ushort>((ushort*)_tokens + start, destination.Length);
            for (int i = 0; i < src.Length; i++) destination[i] = src[i];
        }
        else
        {
            // Write validated every id below 2^31, so the reinterpretation as int is exact.
            new ReadOnlySpan<int>((int*)_tokens + start, destination.Length).CopyTo(destination);
        }
    }

    /// <summary>
    /// Writes <paramref name="tokens"/> to <paramref name="path"/>: uint16 (version 1) when
    /// <paramref name="vocabSize"/> ≤ 65,536, else uint32 (version 2). The file appears atomically: it is written
    /// to a temporary file in the same directory and moved over <paramref name="path"/>, so a reader (or a run
    /// cut off half-way) never sees a half-written file. An empty sequence is allowed.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<int> tokens, int vocabSize)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        for (int i = 0; i < tokens.Length; i++)
            if ((uint)tokens[i] >= (uint)vocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token {i} is {tokens[i]}, outside the vocabulary 0..{vocabSize - 1}");
        int version = vocabSize <= 65536 ? VersionUInt16 : VersionUInt32;
        int width = version == VersionUInt16 ? 2 : 4;

        string full = System.IO.Path.GetFullPath(path);
        string dir = System.IO.Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string temp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                var header = new byte[HeaderBytes];
                BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(0), Magic);
                BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), version);
                BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), tokens.Length);
                fs.Write(header);
                // Convert in chunks so a big corpus needs only a small buffer on top of the ids themselves.
                var buffer = new byte[1 << 16];
                int perChunk = buffer.Length / width;
                for (int start = 0; start < tokens.Length; start += perChunk)
                {
                    var chunk = tokens.Slice(start, Math.Min(perChunk, tokens.Length - start));
                    for (int i = 0; i < chunk.Length; i++)
                    {
                        if (width == 2) BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(2 * i), (ushort)chunk[i]);
                        else BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(4 * i), chunk[i]);
                    }
                    fs.Write(buffer, 0, chunk.Length * width);
                }
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } // best effort: the original error matters more
            throw;
        }
    }

    /// <summary>
    /// Opens and memory-maps a token file after checking its header: the magic, a known version, and a size
    /// equal to header + count × width (a shorter or longer file is refused rather than read as garbage).
    /// </summary>
    public static TokenFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"token file '{path}' does not exist; write one with TokenFile.Write or PreparedData.Prepare", path);
        long length = new FileInfo(path).Length;
        if (length < HeaderBytes) throw new InvalidDataException($"'{path}' is truncated: expected at least {HeaderBytes} bytes of header, found {length}");

        Span<byte> header = stackalloc byte[12];
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete))
            fs.ReadExactly(header);
        int magic = BinaryPrimitives.ReadInt32LittleEndian(header);
        int version = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        int count = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        if (magic != Magic) throw new InvalidDataException($"'{path}' is not a token file: magic is {magic}, expected {Magic}");
        int width = version switch
        {
            VersionUInt16 => 2,
            VersionUInt32 => 4,
            _ => throw new InvalidDataException($"'{path}' has token file version {version}; this reader knows {VersionUInt16} (uint16) and {VersionUInt32} (uint32)"),
        };
        if (count < 0) throw new InvalidDataException($"'{path}' has a negative token count {count}");
        long expected = HeaderBytes + (long)count * width;
        if (length != expected) throw new InvalidDataException($"'{path}' is truncated: expected {expected} bytes, found {length}");

        var map = MemoryMappedFile.CreateFromFile(
            new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete),
            mapName: null, capacity: 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        try
        {
            var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            return new TokenFile(path, count, width, map, view);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    /// <summary>Reads the whole file into an array (handy for small files and tests).</summary>
    public int[] ToArray()
    {
        var result = new int[checked((int)Count)];
        Read(0, result);
        return result;
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
