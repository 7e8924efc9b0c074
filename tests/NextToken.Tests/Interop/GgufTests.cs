// GGUF export read back by a TEST-ONLY reader written from the GGUF description (header, typed metadata, tensor infos
// with fastest-first dims, aligned data): fp32 is bit-exact, q8_0 within half a quantisation step, names are llama.cpp's.
using System.Text;
using NextToken.Interop;
using NextToken.Model;
using NextToken.Tests.Data;
using NextToken.Tokenization;

namespace NextToken.Tests.Interop;

public sealed class GgufTests
{
    internal sealed record Info(string Name, ulong[] Dims, uint Type, ulong Offset);

    internal sealed class Gguf
    {
        public Dictionary<string, object> Meta { get; } = [];
        public Dictionary<string, Info> Tensors { get; } = [];
        public required byte[] Data { get; init; }
        public long DataStart { get; set; }

        public float[] Read(string name)
        {
            var t = Tensors[name];
            long n = t.Dims.Aggregate(1L, (a, b) => a * (long)b);
            var o = new float[n];
            long p = DataStart + (long)t.Offset;
            for (long i = 0; i < n; i++)
                o[i] = t.Type switch
                {
                    0 => BitConverter.ToSingle(Data, (int)(p + 4 * i)),
                    1 => (float)BitConverter.ToHalf(Data, (int)(p + 2 * i)),
                    8 => (float)BitConverter.ToHalf(Data, (int)(p + i / 32 * 34)) * (sbyte)Data[p + i / 32 * 34 + 2 + i % 32],
                    _ => throw new InvalidDataException($"type {t.Type}"),
                };
            return o;
        }
    }

    internal static Gguf Parse(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var r = new BinaryReader(new MemoryStream(bytes));
        Assert.Equal("GGUF", Encoding.ASCII.GetString(r.ReadBytes(4)));
        Assert.Equal(3u, r.ReadUInt32());
        ulong tensors = r.ReadUInt64(), kvs = r.ReadUInt64();
        string Str() => Encoding.UTF8.GetString(r.ReadBytes((int)r.ReadUInt64()));
        object Val(uint type) => type switch
        {
            0 => r.ReadByte(), 1 => r.ReadSByte(), 2 => r.ReadUInt16(), 3 => r.ReadInt16(), 4 => r.ReadUInt32(), 5 => r.ReadInt32(), 6 => r.ReadSingle(),
            7 => r.ReadByte() != 0, 8 => Str(), 10 => r.ReadUInt64(), 11 => r.ReadInt64(), 12 => r.ReadDouble(),
            9 => ReadArray(),
            _ => throw new InvalidDataException($"metadata type {type}"),
        };
        object[] ReadArray()
        {
            uint et = r.ReadUInt32();
            ulong n = r.ReadUInt64();
            var a = new object[n];
            for (ulong i = 0; i < n; i++) a[i] = Val(et);
            return a;
        }
        var g = new Gguf { Data = bytes };
        for (ulong i = 0; i < kvs; i++) { string k = Str(); g.Meta[k] = Val(r.ReadUInt32()); }
        for (ulong i = 0; i < tensors; i++)
        {
            string name = Str();
            uint nd = r.ReadUInt32();
            var dims = Enumerable.Range(0, (int)nd).Select(_ => r.ReadUInt64()).ToArray();
            g.Tensors[name] = new Info(name, dims, r.ReadUInt32(), r.ReadUInt64());
        }
        uint align = g.Meta.TryGetValue("general.alignment", out var al) ? (uint)al : 32;
        g.DataStart = (r.BaseStream.Position + align - 1) / align * align;
        foreach (var t in g.Tensors.Values) Assert.Equal(0ul, t.Offset % align);
        return g;
    }

    private static float[] Ours(GptModel m, string name, int row, int rows)
    {
        var s = m.Layout[name];
        if (s.Shape.Length == 1) return m.Parameter(name).ToArray();
        int cols = s.Shape.Length > 1 ? s.Shape[1] : 1;
        return m.Parameter(name).Slice(row * cols, rows * cols).ToArray();
    }

    [Fact]
    public void Llama_F32_ReadsBackBitExactWithLlamaCppNames()
    {
        using var dir = new TempDir();
        var cfg = ExportRoundTripTests.LlamaShape with { TiedEmbeddings = false };
        var model = new GptModel(cfg with { InitStd = 0.3f }, 4);
        GgufExport.Save(dir.File("m.gguf"), model, null, "f32");
        var g = Parse(dir.File("m.gguf"));
        Assert.Equal("llama", g.Meta["general.architecture"]);
        Assert.Equal(2u, g.Meta["llama.attention.head_count_kv"]);
        Assert.Equal(4u, g.Meta["llama.rope.dimension_count"]);
        Assert.Equal(1000f, g.Meta["llama.rope.freq_base"]);
        Assert.Equal([16ul, 41ul], g.Tensors["token_embd.weight"].Dims);
        Assert.Equal(Ours(model, "wte.weight", 0, 41), g.Read("token_embd.weight"));
        Assert.Equal(Ours(model, "h.1.attn.c_attn.weight", 0, 16), g.Read("blk.1.attn_q.weight"));
        Assert.Equal(Ours(model, "h.1.attn.c_attn.weight", 16, 8), g.Read("blk.1.attn_k.weight"));
        Assert.Equal(Ours(model, "h.1.attn.c_attn.weight", 24, 8), g.Read("blk.1.attn_v.weight"));
        Assert.Equal(Ours(model, "h.0.mlp.c_fc.weight", 0, 24), g.Read("blk.0.ffn_gate.weight"));
        Assert.Equal(Ours(model, "h.0.mlp.c_fc.weight", 24, 24), g.Read("blk.0.ffn_up.weight"));
        Assert.Equal(Ours(model, "h.0.mlp.c_proj.weight", 0, 16), g.Read("blk.0.ffn_down.weight"));
        Assert.Equal(Ours(model, "ln_f.weight", 0, 1), g.Read("output_norm.weight"));
        Assert.Equal(Ours(model, "lm_head.weight", 0, 41), g.Read("output.weight"));
        Assert.Equal(3 + 2 * 9, g.Tensors.Count); // token_embd, output_norm, output + 9 per block
    }

    [Fact]
    public void Gpt2_Q8_0_WithinHalfAStep_NormsStayF32_TokenizerFields()
    {
        using var dir = new TempDir();
        string text = string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 30));
        var tok = BpeTrainer.Train(text, new BpeTrainerOptions { VocabSize = 270, Threads = 1 }).Tokenizer;
        var cfg = ExportRoundTripTests.Gpt2Shape with { EmbeddingSize = 32, VocabSize = tok.VocabSize };
        var model = new GptModel(cfg with { InitStd = 0.3f }, 5);
        GgufExport.Save(dir.File("m.gguf"), model, tok, "q8_0");
        var g = Parse(dir.File("m.gguf"));
        Assert.Equal("gpt2", g.Meta["general.architecture"]);
        Assert.Equal(8u, g.Tensors["blk.0.attn_qkv.weight"].Type);
        Assert.Equal([32ul, 96ul], g.Tensors["blk.0.attn_qkv.weight"].Dims);
        Assert.Equal(0u, g.Tensors["blk.0.attn_norm.bias"].Type);
        Assert.Equal(Ours(model, "h.0.ln_1.bias", 0, 1), g.Read("blk.0.attn_norm.bias"));
        var want = Ours(model, "h.1.mlp.c_fc.weight", 0, 128);
        var got = g.Read("blk.1.ffn_up.weight");
        for (int b = 0; b < want.Length; b += 32)
        {
            float step = want.Skip(b).Take(32).Max(Math.Abs) / 127f;
            for (int i = b; i < b + 32; i++) Assert.True(Math.Abs(want[i] - got[i]) <= step * 0.5f + 127 * step / 1024f + 1e-7f, $"{i}: {got[i]} vs {want[i]}");
        }
        Assert.True(g.Tensors.ContainsKey("output.weight"));
        Assert.Equal("gpt2", g.Meta["tokenizer.ggml.model"]);
        var tokens = (object[])g.Meta["tokenizer.ggml.tokens"];
        Assert.Equal(tok.VocabSize, tokens.Length);
        Assert.Equal("<|endoftext|>", tokens[tok.EndOfTextId!.Value]);
        Assert.Equal(tok.Merges.Count, ((object[])g.Meta["tokenizer.ggml.merges"]).Length);
        Assert.Equal((uint)tok.EndOfTextId, g.Meta["tokenizer.ggml.eos_token_id"]);
    }

    [Fact]
    public void ExportCommand_Gguf_F16()
    {
        using var dir = new TempDir();
        var model = new GptModel(ExportRoundTripTests.Gpt2Shape, 2);
        NextToken.Training.Checkpoint.Save(dir.File("ck"), model);
        var r = NextToken.Tests.Cli.CliProcess.Run("export", "--checkpoint", dir.File("ck"), "--format", "gguf", "--dtype", "f16", "--out", dir.File("g"));
        Assert.True(r.Exit == 0, r.Err);
        var g = Parse(dir.File("g/model.gguf"));
        Assert.Equal(1u, g.Tensors["blk.0.ffn_down.weight"].Type);
        var want = Ours(model, "h.0.mlp.c_proj.weight", 0, 16);
        Assert.Equal(want.Select(v => (float)(Half)v), g.Read("blk.0.ffn_down.weight"));
    }
}
