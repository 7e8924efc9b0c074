// SpecSafeTensorsReader: a test-only safetensors reader written from the format's published description (8-byte
// little-endian unsigned header length N, N bytes of UTF-8 JSON mapping names to {dtype, shape, data_offsets} plus an
// optional "__metadata__" string map, then the byte buffer the offsets index), independent of src/NextToken/Interop.
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace NextToken.Tests.FineTuning;

internal sealed class SpecSafeTensorsReader
{
    public sealed record Tensor(string Dtype, long[] Shape, float[] Values);

    public Dictionary<string, Tensor> Tensors { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    public SpecSafeTensorsReader(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0, 8));
        Assert.True(8 + (long)n <= bytes.Length, "header length beyond the file");
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n));
        long dataStart = 8 + (long)n;
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (prop.Name == "__metadata__")
            {
                foreach (var m in prop.Value.EnumerateObject()) Metadata[m.Name] = m.Value.GetString()!;
                continue;
            }
            string dtype = prop.Value.GetProperty("dtype").GetString()!;
            long[] shape = prop.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var off = prop.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Assert.Equal("F32", dtype);
            long count = shape.Aggregate(1L, (a, b) => a * b);
            Assert.Equal(count * 4, off[1] - off[0]);
            var values = new float[count];
            for (long i = 0; i < count; i++)
                values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan((int)(dataStart + off[0] + 4 * i), 4)));
            Tensors[prop.Name] = new Tensor(dtype, shape, values);
        }
    }
}
