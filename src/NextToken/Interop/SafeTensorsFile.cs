// SafeTensorsFile: a reader of the safetensors format (8-byte little-endian header length, a JSON header of
// {name: {dtype, shape, data_offsets}} plus "__metadata__", then the raw tensor bytes), streamed tensor by tensor.
using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace NextToken.Interop;

/// <summary>
/// One <c>.safetensors</c> file, opened for reading. The header is parsed and checked once (every tensor's byte range
/// lies inside the file and matches its dtype and shape); <see cref="Read"/> then streams one tensor into a float span,
/// converting F16 and BF16 to fp32 in 1 MiB chunks, so loading never holds more than the model plus one chunk.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _tensors;

    private SafeTensorsFile(string path, SafeFileHandle handle, long dataStart, Dictionary<string, SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        _dataStart = dataStart;
        _tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The file's path (named in every error).</summary>
    public string Path { get; }
    /// <summary>The tensors in the file, by name.</summary>
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors => _tensors;
    /// <summary>The header's <c>__metadata__</c> (string to string), empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Bytes per element of a safetensors dtype name, or 0 when the name is not one of the format's dtypes.</summary>
    public static int DtypeSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => 0,
    };

    /// <summary>Opens and validates <paramref name="path"/>; errors name the file and the offending tensor or key.</summary>
    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"'{path}' does not exist", path);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long size = RandomAccess.GetLength(handle);
            Span<byte> lenBytes = stackalloc byte[8];
            if (size < 8 || RandomAccess.Read(handle, lenBytes, 0) < 8)
                throw new InvalidDataException($"'{path}' is truncated: {size} bytes is shorter than the 8-byte safetensors header length");
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
            if (headerLength > (ulong)(size - 8))
                throw new InvalidDataException($"'{path}' is truncated or not safetensors: its header length {headerLength} runs past the end of the {size}-byte file");
            if (headerLength > 100_000_000)
                throw new InvalidDataException($"'{path}' declares a {headerLength}-byte header, larger than the format's 100 MB limit");
            var header = new byte[(int)headerLength];
            RandomAccess.Read(handle, header, 8);
            long dataStart = 8 + (long)headerLength;
            var (tensors, metadata) = ParseHeader(path, header, size - dataStart);
            return new SafeTensorsFile(path, handle, dataStart, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataBytes)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' has a malformed safetensors header: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"'{path}' has a malformed safetensors header: expected a JSON object, found {doc.RootElement.ValueKind}");
            var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"'{path}': __metadata__ must be an object of strings");
                    foreach (var m in p.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw new InvalidDataException($"'{path}': __metadata__ key '{m.Name}' is not a string");
                    continue;
                }
                var t = p.Value;
                string Bad(string what) => $"'{path}': tensor '{p.Name}' {what}";
                if (t.ValueKind != JsonValueKind.Object) throw new InvalidDataException(Bad("is not an object with dtype, shape and data_offsets"));
                if (!t.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw new InvalidDataException(Bad("has no dtype"));
                if (!t.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw new InvalidDataException(Bad("has no shape"));
                if (!t.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
                    throw new InvalidDataException(Bad("has no data_offsets [begin, end]"));
                string dtype = dt.GetString()!;
                int esize = DtypeSize(dtype);
                if (esize == 0) throw new InvalidDataException(Bad($"has dtype '{dtype}', which is not a safetensors dtype"));
                var shape = new long[sh.GetArrayLength()];
                int i = 0;
                long count = 1;
                foreach (var d in sh.EnumerateArray())
                {
                    if (!d.TryGetInt64(out long v) || v < 0) throw new InvalidDataException(Bad("has a shape entry that is not a non-negative integer"));
                    shape[i++] = v;
                    count = checked(count * v);
                }
                if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
                    throw new InvalidDataException(Bad("has invalid data_offsets"));
                if (end > dataBytes)
                    throw new InvalidDataException(Bad($"ends at byte {end} of the data, past the end of the file (the data holds {dataBytes} bytes): the file is truncated"));
                if (end - begin != count * esize)
                    throw new InvalidDataException(Bad($"spans {end - begin} bytes, but {dtype} of shape ({string.Join(", ", shape)}) needs {count * esize}"));
                tensors[p.Name] = new SafeTensorInfo(p.Name, dtype, shape, begin, end);
            }
            return (tensors, metadata);
        }
    }

    /// <summary>The tensor called <paramref name="name"/>, or an error naming the file and the tensor.</summary>
    public SafeTensorInfo Get(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"'{Path}' has no tensor '{name}'");

    /// <summary>
    /// Reads tensor <paramref name="name"/> into <paramref name="destination"/> (exactly its element count) as fp32.
    /// F32 is read straight into the destination; F16 and BF16 go through a 1 MiB buffer.
    /// </summary>
    public void Read(string name, Span<float> destination)
    {
        var t = Get(name);
        if (destination.Length != t.ElementCount)
            throw new InvalidDataException($"'{Path}': tensor '{name}' has {t.ElementCount} elements, expected {destination.Length}");
        long pos = _dataStart + t.Begin;
        switch (t.Dtype)
        {
            case "F32":
                ReadExactly(MemoryMarshal.AsBytes(destination), pos, name);
                break;
            case "F16":
            case "BF16":
                bool bf = t.Dtype == "BF16";
                const int Chunk = 1 << 19; // elements (1 MiB of 16-bit values)
                byte[] buffer = ArrayPool<byte>.Shared.Rent(Chunk * 2);
                try
                {
                    for (int done = 0; done < destination.Length; done += Chunk)
                    {
                        int n = Math.Min(Chunk, destination.Length - done);
                        var bytes = buffer.AsSpan(0, 2 * n);
                        ReadExactly(bytes, pos + 2L * done, name);
                        var halves = MemoryMarshal.Cast<byte, ushort>(bytes);
                        var dst = destination.Slice(done, n);
                        if (bf) for (int i = 0; i < n; i++) dst[i] = BitConverter.Int32BitsToSingle(halves[i] << 16);
                        else System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(halves), dst);
                    }
                }
                finally { ArrayPool<byte>.Shared.Return(buffer); }
                break;
            default:
                throw new InvalidDataException($"'{Path}': tensor '{name}' has dtype {t.Dtype}; NextToken loads F32, F16 and BF16 weights");
        }
    }

    private void ReadExactly(Span<byte> buffer, long offset, string name)
    {
        while (buffer.Length > 0)
        {
            int n = RandomAccess.Read(_handle, buffer, offset);
            if (n <= 0) throw new InvalidDataException($"'{Path}': tensor '{name}' could not be read completely: the file is truncated");
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();
}
