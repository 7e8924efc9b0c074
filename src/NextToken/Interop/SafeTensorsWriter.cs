// SafeTensorsWriter: writes a safetensors file (8-byte little-endian header length, JSON header padded with spaces to
// 8 bytes, tensor data in header order) from fp32 data, stored as F32, F16 or BF16, atomically (temp + rename).
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;

namespace NextToken.Interop;

/// <summary>One tensor to write: its name, shape, and a function that produces its fp32 values when it is written.</summary>
public sealed record SafeTensorsEntry(string Name, int[] Shape, Func<float[]> Values)
{
    /// <summary>Number of elements.</summary>
    public long Length => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>Writes safetensors files.</summary>
public static class SafeTensorsWriter
{
    /// <summary>
    /// Writes <paramref name="entries"/> as <paramref name="dtype"/> (F32, F16 or BF16) with <c>__metadata__</c>
    /// <paramref name="metadata"/> (default {"format": "pt"}; string values only, as the format requires).
    /// </summary>
    public static void Write(string path, IReadOnlyList<SafeTensorsEntry> entries, string dtype, IReadOnlyDictionary<string, string>? metadata = null)
    {
        int esize = dtype switch { "F32" => 4, "F16" or "BF16" => 2, _ => throw new ArgumentException($"dtype '{dtype}' cannot be written; use F32, F16 or BF16", nameof(dtype)) };
        var meta = new JsonObject();
        foreach (var (k, v) in metadata ?? new Dictionary<string, string> { ["format"] = "pt" }) meta[k] = v;
        var header = new JsonObject { ["__metadata__"] = meta };
        long offset = 0;
        foreach (var e in entries)
        {
            long bytes = e.Length * esize;
            header[e.Name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(e.Shape.Select(d => (JsonNode?)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        Training.Checkpoint.WriteAtomically(path, s =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            s.Write(len);
            s.Write(json);
            for (int i = json.Length; i < padded; i++) s.WriteByte((byte)' ');
            foreach (var e in entries)
            {
                var values = e.Values();
                if (values.LongLength != e.Length) throw new InvalidOperationException($"tensor '{e.Name}' produced {values.LongLength} values for shape ({string.Join(", ", e.Shape)})");
                if (esize == 4) { s.Write(MemoryMarshal.AsBytes(values.AsSpan())); continue; }
                var half = new ushort[values.Length];
                for (int i = 0; i < values.Length; i++) half[i] = dtype == "BF16" ? Dtypes.ToBf16(values[i]) : Dtypes.ToF16(values[i]);
                s.Write(MemoryMarshal.AsBytes(half.AsSpan()));
            }
        });
    }
}
