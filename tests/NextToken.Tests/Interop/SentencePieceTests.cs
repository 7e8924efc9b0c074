// SentencePiece tokenizer.model files (LLaMA 2, TinyLlama) written by a test-only protobuf writer from
// sentencepiece_model.proto (ModelProto: pieces = 1 {piece = 1, score = 2, type = 3}, trainer_spec = 2 {model_type = 3,
// byte_fallback = 35, unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43}, normalizer_spec = 3 {name = 1,
// add_dummy_prefix = 3, remove_extra_whitespaces = 4, escape_whitespaces = 5}), encoded on worked examples computed
// by hand from SentencePiece's BPE rule (repeatedly merge the adjacent pair whose joined piece has the highest score).
using System.Text;
using NextToken.Chat;
using NextToken.Interop;
using NextToken.Tests.Data;
using NextToken.Tokenization;

namespace NextToken.Tests.Interop;

public sealed class SentencePieceTests
{
    private const int Normal = 1, Unknown = 2, Control = 3, ByteType = 6;

    private static void Varint(List<byte> o, ulong v)
    {
        while (v >= 0x80) { o.Add((byte)(v | 0x80)); v >>= 7; }
        o.Add((byte)v);
    }

    private static void Key(List<byte> o, int field, int wire) => Varint(o, (ulong)((field << 3) | wire));
    private static void VarintField(List<byte> o, int field, long v) { Key(o, field, 0); Varint(o, (ulong)v); }
    private static void BytesField(List<byte> o, int field, byte[] b) { Key(o, field, 2); Varint(o, (ulong)b.Length); o.AddRange(b); }
    private static void FloatField(List<byte> o, int field, float f) { Key(o, field, 5); o.AddRange(BitConverter.GetBytes(f)); }

    /// <summary>A ModelProto with the given pieces (BPE model type 2), ids 0/1/2 = unk/bos/eos, identity normalizer.</summary>
    internal static byte[] Model(IEnumerable<(string Piece, float Score, int Type)> pieces, bool byteFallback, bool removeExtraWhitespace = false)
    {
        var m = new List<byte>();
        foreach (var (piece, score, type) in pieces)
        {
            var p = new List<byte>();
            BytesField(p, 1, Encoding.UTF8.GetBytes(piece));
            FloatField(p, 2, score);
            VarintField(p, 3, type);
            BytesField(m, 1, [.. p]);
        }
        var t = new List<byte>();
        VarintField(t, 3, 2);                        // model_type = BPE
        VarintField(t, 35, byteFallback ? 1 : 0);    // byte_fallback
        VarintField(t, 40, 0); VarintField(t, 41, 1); VarintField(t, 42, 2); VarintField(t, 43, -1);
        BytesField(m, 2, [.. t]);
        var n = new List<byte>();
        BytesField(n, 1, Encoding.UTF8.GetBytes("identity"));
        VarintField(n, 3, 1);                        // add_dummy_prefix
        VarintField(n, 4, removeExtraWhitespace ? 1 : 0);
        VarintField(n, 5, 1);                        // escape_whitespaces
        BytesField(m, 3, [.. n]);
        return [.. m];
    }

    private static readonly (string, float, int)[] Specials = [("<unk>", 0, Unknown), ("<s>", 0, Control), ("</s>", 0, Control)];

    // ids 259.. after the 256 byte pieces
    private static readonly (string, float, int)[] Words =
    [
        ("▁t", -1, Normal), ("he", -2, Normal), ("▁the", -3, Normal), ("▁", -4, Normal), ("t", -5, Normal), ("h", -6, Normal),
        ("e", -7, Normal), ("c", -8, Normal), ("a", -9, Normal), ("at", -10, Normal), ("▁c", -11, Normal), ("▁cat", -12, Normal),
    ];

    private static byte[] ByteFallbackModel() =>
        Model([.. Specials, .. Enumerable.Range(0, 256).Select(b => ($"<0x{b:X2}>", 0f, ByteType)), .. Words], byteFallback: true);

    [Fact]
    public void Bpe_WorkedExample_WithBosAndByteFallback()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("tokenizer.model"), ByteFallbackModel());
        var tok = SentencePieceVocabulary.Load(dir.File("tokenizer.model"));
        Assert.Equal(271, tok.VocabSize);
        Assert.Equal(2, tok.EndOfTextId);
        Assert.Equal(1, tok.BeginningOfSentenceId);
        // "the cat" → "▁the▁cat": ▁t (−1), he (−2), ▁t+he = ▁the (−3), at (−10), ▁c (−11), ▁c+at = ▁cat (−12).
        Assert.Equal([1, 261, 270], tok.Encode("the cat"));
        Assert.Equal("the cat", tok.Decode([1, 261, 270]));
        // "the ü": ü is not a piece → its UTF-8 bytes C3 BC as byte pieces (3 + byte); "▁ü" is not a piece, so ▁ stays alone.
        Assert.Equal([1, 261, 262, 3 + 0xC3, 3 + 0xBC], tok.Encode("the ü"));
        Assert.Equal("the ü", tok.Decode(tok.Encode("the ü")));
        // Token bytes for streaming: ▁ is a space, byte pieces their byte, control pieces nothing.
        Assert.Equal(" cat"u8.ToArray(), tok.TokenBytes(270).ToArray());
        Assert.Equal([0xC3], tok.TokenBytes(3 + 0xC3).ToArray());
        Assert.Empty(tok.TokenBytes(1).ToArray());
        Assert.Equal(" the ü"u8.ToArray(), tok.Encode("the ü").SelectMany(i => tok.TokenBytes(i).ToArray()).ToArray());
    }

    [Fact]
    public void SavedIntoACheckpointDirectory_LoadsBackWithTheSameIds()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("tokenizer.model"), ByteFallbackModel());
        var tok = SentencePieceVocabulary.Load(dir.File("tokenizer.model"), addBeginningOfSentence: false).WithChatTemplate("{{ '<|user|>' }}{{ '<|assistant|>' }}", "</s>");
        tok.Save(dir.File("saved"));
        var back = TokenizerStore.Load(dir.File("saved"));
        Assert.Equal("sentencepiece", back.Kind);
        Assert.Equal([261, 270], back.Encode("the cat"));
        Assert.Equal("zephyr", ChatTemplate.For(back).Name);
    }

    [Fact]
    public void NotAModel_IsOneLineErrorNamingTheFile()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("tokenizer.model"), [0xFF, 0xFF, 0xFF, 0x01, 0x02]);
        var e = Assert.ThrowsAny<Exception>(() => SentencePieceVocabulary.Load(dir.File("tokenizer.model")));
        Assert.Contains("tokenizer.model", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void HfLlamaDirectory_WithTokenizerModelAndChatTemplate_LoadsBoth_AndExportKeepsThem()
    {
        using var dir = new TempDir();
        var m = HfTestFiles.Llama();
        HfTestFiles.WriteDirectory(dir.Path, m, HfTestFiles.LlamaConfig(m));
        // 29 pieces to match the tiny model's vocabulary: no byte fallback.
        var pieces = Specials.Concat(Words).Concat("bdfgijklmnopqrs".Select((c, i) => (c.ToString(), -20f - i, Normal))).ToArray();
        File.WriteAllBytes(dir.File("tokenizer.model"), Model(pieces.Take(29), byteFallback: false));
        // TinyLlama-Chat's published template (Zephyr format) and a non-byte-level tokenizer.json beside the model file.
        const string zephyr = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n" +
                              "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n" +
                              "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
        File.WriteAllText(dir.File("tokenizer_config.json"), System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["add_bos_token"] = true, ["bos_token"] = "<s>", ["eos_token"] = new Dictionary<string, object> { ["content"] = "</s>", ["special"] = true },
            ["chat_template"] = zephyr, ["tokenizer_class"] = "LlamaTokenizer",
        }));
        File.WriteAllText(dir.File("tokenizer.json"), """{"model":{"type":"BPE","vocab":{},"merges":[]},"pre_tokenizer":{"type":"Metaspace"},"decoder":{"type":"Metaspace"}}""");
        var loaded = ModelFiles.Load(dir.Path);
        var tok = Assert.IsType<SentencePieceVocabulary>(loaded.Tokenizer);
        Assert.Equal([1, 5, 14], tok.Encode("the cat")); // no byte pieces here: ▁the = 3 + 2, ▁cat = 3 + 11
        var template = ChatTemplate.For(tok, out string? note);
        Assert.Null(note);
        Assert.Equal("<|user|>\nhi</s>\n<|assistant|>\n", template.Render([ChatMessage.User("hi")]));
        // Export to Hugging Face: tokenizer.model and tokenizer_config.json (chat template kept), and back.
        HfExport.Save(dir.File("out"), loaded.Model, loaded.Tokenizer);
        Assert.True(File.Exists(dir.File("out/tokenizer.model")));
        var cfg = HfTokenizerConfig.Read(dir.File("out"));
        Assert.Equal(zephyr, cfg.ChatTemplate);
        Assert.Equal("</s>", cfg.EosToken);
        var again = ModelFiles.Load(dir.File("out"));
        Assert.Equal(tok.Encode("the cat a"), again.Tokenizer!.Encode("the cat a"));
        Assert.Equal("zephyr", ChatTemplate.For(again.Tokenizer).Name);
        // GGUF: llama.cpp's SentencePiece vocabulary ("llama") with the pieces' scores and types from the model file.
        GgufExport.Save(dir.File("m.gguf"), loaded.Model, loaded.Tokenizer, "f32");
        var g = GgufTests.Parse(dir.File("m.gguf"));
        Assert.Equal("llama", g.Meta["tokenizer.ggml.model"]);
        var tokens = (object[])g.Meta["tokenizer.ggml.tokens"];
        Assert.Equal(29, tokens.Length);
        Assert.Equal("▁the", tokens[5]);
        Assert.Equal(-3f, ((object[])g.Meta["tokenizer.ggml.scores"])[5]);
        Assert.Equal([2, 3, 3, 1], ((object[])g.Meta["tokenizer.ggml.token_type"]).Take(4).Cast<int>());
        Assert.Equal(1u, g.Meta["tokenizer.ggml.bos_token_id"]);
        Assert.Equal(2u, g.Meta["tokenizer.ggml.eos_token_id"]);
        Assert.Equal(true, g.Meta["tokenizer.ggml.add_bos_token"]);
        Assert.Equal(zephyr, g.Meta["tokenizer.chat_template"]);
    }

    [Fact]
    public void ByteLevelTokenizer_KeepsTheDeclaredTemplate_ThroughACheckpointDirectory()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("vocab.json"), """{"a":0,"b":1,"ab":2,"<|im_start|>":3,"<|im_end|>":4}""");
        File.WriteAllText(dir.File("merges.txt"), "#version: 0.2\na b\n");
        // The list form of chat_template (named templates): "default" is taken.
        File.WriteAllText(dir.File("tokenizer_config.json"), """{"chat_template":[{"name":"tool_use","template":"x"},{"name":"default","template":"{{'<|im_start|>'}}"}],"eos_token":"<|im_end|>"}""");
        var tok = HfTokenizer.TryLoad(dir.Path, HfArchitecture.Gpt2)!;
        Assert.Equal("{{'<|im_start|>'}}", tok.ChatTemplateSource);
        tok.Save(dir.File("ckpt"));
        var back = (HfTokenizer)TokenizerStore.Load(dir.File("ckpt"));
        Assert.Equal(tok.ChatTemplateSource, back.ChatTemplateSource);
        Assert.Equal("<|im_end|>", back.EndOfSentenceText);
        Assert.Same(ChatTemplate.ChatMl, ChatTemplate.For(back));
        File.WriteAllText(dir.File("tokenizer_config.json"), """{"chat_template":42}""");
        var e = Assert.Throws<InvalidDataException>(() => HfTokenizer.TryLoad(dir.Path, HfArchitecture.Gpt2));
        Assert.Contains("tokenizer_config.json': field 'chat_template'", e.Message);
    }
}
