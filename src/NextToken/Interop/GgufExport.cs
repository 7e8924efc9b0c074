// GgufExport: GGUF (version 3) files for llama.cpp, architecture gpt2 or llama, written from the published GGUF
// description: "GGUF", version, tensor count, metadata key/values, tensor infos (name, dims fastest-first, ggml type,
// offset), then the tensor data aligned to general.alignment (32). Weights F32, F16 or Q8_0; norms and biases F32.
using System.Text;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Interop;

/// <summary>GGUF export for llama.cpp (see docs/interop.md for the names and how to check the output with llama.cpp).</summary>
public static class GgufExport
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;
    /// <summary>The format version written.</summary>
    public const uint Version = 3;
    /// <summary>Data alignment (general.alignment's default).</summary>
    public const int Alignment = 32;

    // GGUF metadata value types.
    internal const uint TUInt32 = 4, TInt32 = 5, TFloat32 = 6, TBool = 7, TString = 8, TArray = 9;
    // ggml tensor types.
    internal const uint GgmlF32 = 0, GgmlF16 = 1, GgmlQ8_0 = 8;

    private sealed record Tensor(string Name, int Rows, int Cols, bool Matrix, Func<float[]> Values);

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/> as GGUF with 2-D weights stored as <paramref name="dtype"/>
    /// (f32, f16, q8_0; a matrix whose rows are not a multiple of 32 long falls back to f16 under q8_0).
    /// GPT-2-shaped models become architecture gpt2, LLaMA-shaped ones llama (q/k rows stay in our adjacent-pair RoPE
    /// order, which is llama.cpp's).
    /// </summary>
    public static void Save(string path, GptModel model, ITokenizer? tokenizer, string dtype)
    {
        uint weightType = dtype.ToLowerInvariant() switch
        {
            "f32" => GgmlF32, "f16" => GgmlF16, "q8_0" => GgmlQ8_0,
            _ => throw new ArgumentException($"dtype '{dtype}' is not one of f32, f16, q8_0", nameof(dtype)),
        };
        var cfg = model.Config;
        var arch = HfConfig.ArchitectureOf(cfg);
        if (arch == HfArchitecture.OpenAiGpt) throw new NotSupportedException("GGUF has no GPT-1 (post-LN) architecture; llama.cpp runs gpt2 and llama shapes");
        string a = arch == HfArchitecture.Llama ? "llama" : "gpt2";
        int C = cfg.EmbeddingSize, V = cfg.VocabSize;
        var kv = new List<(string Key, uint Type, object Value)>
        {
            ("general.architecture", TString, a),
            ("general.name", TString, "nexttoken"),
            ("general.alignment", TUInt32, (uint)Alignment),
            ("general.file_type", TUInt32, weightType switch { GgmlF32 => 0u, GgmlF16 => 1u, _ => 7u }),
            ($"{a}.context_length", TUInt32, (uint)cfg.ContextLength),
            ($"{a}.embedding_length", TUInt32, (uint)C),
            ($"{a}.block_count", TUInt32, (uint)cfg.Layers),
            ($"{a}.feed_forward_length", TUInt32, (uint)cfg.MlpSize),
            ($"{a}.attention.head_count", TUInt32, (uint)cfg.Heads),
        };
        if (arch == HfArchitecture.Llama)
        {
            kv.Add(("llama.attention.head_count_kv", TUInt32, (uint)cfg.KvHeadCount));
            kv.Add(("llama.attention.layer_norm_rms_epsilon", TFloat32, cfg.LayerNormEpsilon));
            kv.Add(("llama.rope.dimension_count", TUInt32, (uint)cfg.HeadSize));
            kv.Add(("llama.rope.freq_base", TFloat32, cfg.RotaryBase));
            kv.Add(("llama.vocab_size", TUInt32, (uint)V));
        }
        else kv.Add(("gpt2.attention.layer_norm_epsilon", TFloat32, cfg.LayerNormEpsilon));
        AddTokenizer(kv, tokenizer, arch, V);

        var tensors = new List<Tensor>();
        void Add(string name, string ours, bool matrix, int row = 0, int rows = -1)
        {
            var slot = model.Layout[ours];
            int cols = slot.Shape.Length > 1 ? slot.Shape[1] : slot.Shape[0];
            int total = slot.Shape.Length > 1 ? slot.Shape[0] : 1;
            int n = rows < 0 ? total - row : rows;
            tensors.Add(new Tensor(name, n, cols, matrix, () => model.Parameter(ours).Slice(row * cols, n * cols).ToArray()));
        }
        Add("token_embd.weight", "wte.weight", true, 0, V);
        if (arch == HfArchitecture.Gpt2) Add("position_embd.weight", "wpe.weight", true);
        int NH = cfg.Heads, NKV = cfg.KvHeadCount, HS = cfg.HeadSize, F = cfg.MlpSize;
        for (int l = 0; l < cfg.Layers; l++)
        {
            string b = $"blk.{l}.", h = $"h.{l}.";
            bool bias = cfg.Bias;
            Add(b + "attn_norm.weight", h + "ln_1.weight", false);
            if (arch == HfArchitecture.Gpt2)
            {
                Add(b + "attn_norm.bias", h + "ln_1.bias", false);
                Add(b + "attn_qkv.weight", h + "attn.c_attn.weight", true);
                Add(b + "attn_qkv.bias", h + "attn.c_attn.bias", false);
                Add(b + "attn_output.weight", h + "attn.c_proj.weight", true);
                Add(b + "attn_output.bias", h + "attn.c_proj.bias", false);
                Add(b + "ffn_norm.weight", h + "ln_2.weight", false);
                Add(b + "ffn_norm.bias", h + "ln_2.bias", false);
                Add(b + "ffn_up.weight", h + "mlp.c_fc.weight", true);
                Add(b + "ffn_up.bias", h + "mlp.c_fc.bias", false);
                Add(b + "ffn_down.weight", h + "mlp.c_proj.weight", true);
                Add(b + "ffn_down.bias", h + "mlp.c_proj.bias", false);
            }
            else
            {
                Add(b + "attn_q.weight", h + "attn.c_attn.weight", true, 0, NH * HS);
                Add(b + "attn_k.weight", h + "attn.c_attn.weight", true, NH * HS, NKV * HS);
                Add(b + "attn_v.weight", h + "attn.c_attn.weight", true, (NH + NKV) * HS, NKV * HS);
                Add(b + "attn_output.weight", h + "attn.c_proj.weight", true);
                Add(b + "ffn_norm.weight", h + "ln_2.weight", false);
                Add(b + "ffn_gate.weight", h + "mlp.c_fc.weight", true, 0, F);
                Add(b + "ffn_up.weight", h + "mlp.c_fc.weight", true, F, F);
                Add(b + "ffn_down.weight", h + "mlp.c_proj.weight", true);
                if (bias)
                {
                    AddVector(tensors, model, b + "attn_q.bias", h + "attn.c_attn.bias", 0, NH * HS);
                    AddVector(tensors, model, b + "attn_k.bias", h + "attn.c_attn.bias", NH * HS, NKV * HS);
                    AddVector(tensors, model, b + "attn_v.bias", h + "attn.c_attn.bias", (NH + NKV) * HS, NKV * HS);
                    Add(b + "attn_output.bias", h + "attn.c_proj.bias", false);
                    AddVector(tensors, model, b + "ffn_gate.bias", h + "mlp.c_fc.bias", 0, F);
                    AddVector(tensors, model, b + "ffn_up.bias", h + "mlp.c_fc.bias", F, F);
                    Add(b + "ffn_down.bias", h + "mlp.c_proj.bias", false);
                }
            }
        }
        Add("output_norm.weight", "ln_f.weight", false);
        if (arch == HfArchitecture.Gpt2) Add("output_norm.bias", "ln_f.bias", false);
        // GPT-2's loader in llama.cpp reads output.weight; a tied head is written as a copy. LLaMA falls back to token_embd.
        if (!cfg.TiedEmbeddings) Add("output.weight", "lm_head.weight", true, 0, V);
        else if (arch == HfArchitecture.Gpt2) Add("output.weight", "wte.weight", true, 0, V);

        Training.Checkpoint.WriteAtomically(path, s => Write(s, kv, tensors, weightType));
    }

    private static void AddVector(List<Tensor> tensors, GptModel model, string name, string ours, int start, int length) =>
        tensors.Add(new Tensor(name, 1, length, false, () => model.Parameter(ours).Slice(start, length).ToArray()));

    private static void AddTokenizer(List<(string, uint, object)> kv, ITokenizer? tokenizer, HfArchitecture arch, int vocab)
    {
        if (tokenizer is SentencePieceVocabulary sp) { AddSentencePiece(kv, sp, vocab); return; }
        HfTokenizer? hf = HfTokenizer.From(tokenizer) is { ByteLevel: true } h ? h : null;
        if (hf is null) return; // documented: only byte-level BPE vocabularies with merges can be described to llama.cpp
        var tokens = new string[vocab];
        var types = new int[vocab];
        for (int i = 0; i < vocab; i++) { tokens[i] = $"[PAD{i}]"; types[i] = 5; } // unused ids
        foreach (var (t, id) in hf.Vocabulary) if (id < vocab) { tokens[id] = t; types[id] = 1; }
        foreach (var (t, id) in hf.SpecialTokens) if (id < vocab) { tokens[id] = t; types[id] = 3; }
        kv.Add(("tokenizer.ggml.model", TString, "gpt2"));
        // llama.cpp's pre-tokenizer names: GPT-2's pattern "gpt-2", SmolLM's digit splitting "smollm", and cl100k's pattern,
        // which is the one llama.cpp applies for "llama-bpe" (LLaMA 3 took cl100k's regex).
        kv.Add(("tokenizer.ggml.pre", TString, hf.Pattern switch
        {
            HfTokenizer.DigitsPattern => "smollm",
            BpePatterns.Cl100k => "llama-bpe",
            _ => "gpt-2",
        }));
        kv.Add(("tokenizer.ggml.tokens", TArray, tokens));
        kv.Add(("tokenizer.ggml.token_type", TArray, types));
        kv.Add(("tokenizer.ggml.merges", TArray, hf.Merges.ToArray()));
        if (hf.EndOfTextId is int e)
        {
            kv.Add(("tokenizer.ggml.bos_token_id", TUInt32, (uint)e));
            kv.Add(("tokenizer.ggml.eos_token_id", TUInt32, (uint)e));
        }
        kv.Add(("tokenizer.ggml.add_bos_token", TBool, false));
        if (hf.ChatTemplateSource is { } jinja) kv.Add(("tokenizer.chat_template", TString, jinja));
        _ = arch;
    }

    // llama.cpp's SentencePiece vocabulary ("llama"): pieces with their scores and types as the model file gives them
    // (types share SentencePiece's numbering: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
    private static void AddSentencePiece(List<(string, uint, object)> kv, SentencePieceVocabulary sp, int vocab)
    {
        var pieces = sp.Pieces();
        var tokens = new string[vocab];
        var scores = new float[vocab];
        var types = new int[vocab];
        for (int i = 0; i < vocab; i++) { tokens[i] = $"[PAD{i}]"; scores[i] = -1000f; types[i] = 5; }
        for (int i = 0; i < pieces.Count && i < vocab; i++) { tokens[i] = pieces[i].Text; scores[i] = pieces[i].Score; types[i] = pieces[i].Type; }
        foreach (var (t, id) in sp.AddedTokens) if (id < vocab) { tokens[id] = t; scores[id] = 0; types[id] = 4; }
        kv.Add(("tokenizer.ggml.model", TString, "llama"));
        kv.Add(("tokenizer.ggml.tokens", TArray, tokens));
        kv.Add(("tokenizer.ggml.scores", TArray, scores));
        kv.Add(("tokenizer.ggml.token_type", TArray, types));
        if (sp.BeginningOfSentenceId >= 0) kv.Add(("tokenizer.ggml.bos_token_id", TUInt32, (uint)sp.BeginningOfSentenceId));
        if (sp.EndOfTextId is int e) kv.Add(("tokenizer.ggml.eos_token_id", TUInt32, (uint)e));
        if (sp.MlTokenizer.UnknownId >= 0) kv.Add(("tokenizer.ggml.unknown_token_id", TUInt32, (uint)sp.MlTokenizer.UnknownId));
        kv.Add(("tokenizer.ggml.add_bos_token", TBool, sp.AddBeginningOfSentence));
        kv.Add(("tokenizer.ggml.add_eos_token", TBool, false));
        if (sp.ChatTemplateSource is { } jinja) kv.Add(("tokenizer.chat_template", TString, jinja));
    }

    private static void Write(Stream stream, List<(string Key, uint Type, object Value)> kv, List<Tensor> tensors, uint weightType)
    {
        var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(Version);
        w.Write((ulong)tensors.Count);
        w.Write((ulong)kv.Count);
        foreach (var (key, type, value) in kv)
        {
            Str(w, key);
            w.Write(type);
            Value(w, type, value);
        }
        var types = tensors.Select(t => !t.Matrix ? GgmlF32 : weightType == GgmlQ8_0 && t.Cols % 32 != 0 ? GgmlF16 : weightType).ToArray();
        long offset = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            Str(w, t.Name);
            bool twoD = t.Matrix || t.Rows > 1;
            w.Write(twoD ? 2u : 1u);
            w.Write((ulong)t.Cols);                 // ne[0]: the fastest-varying dimension (our columns)
            if (twoD) w.Write((ulong)t.Rows);
            w.Write(types[i]);
            w.Write((ulong)offset);
            offset += Pad(Bytes(types[i], (long)t.Rows * t.Cols));
        }
        w.Flush();
        PadTo(stream, stream.Position);
        for (int i = 0; i < tensors.Count; i++)
        {
            var v = tensors[i].Values();
            long start = stream.Position;
            switch (types[i])
            {
                case GgmlF32: foreach (float f in v) w.Write(f); break;
                case GgmlF16: foreach (float f in v) w.Write(Dtypes.ToF16(f)); break;
                default: Q8_0(w, v); break;
            }
            w.Flush();
            PadTo(stream, stream.Position - start);
        }
        w.Flush();
    }

    internal static long Bytes(uint type, long n) => type switch { GgmlF32 => 4 * n, GgmlF16 => 2 * n, _ => n / 32 * 34 };
    private static long Pad(long n) => (n + Alignment - 1) / Alignment * Alignment;
    private static void PadTo(Stream s, long written) { for (long i = written; i % Alignment != 0; i++) s.WriteByte(0); }

    /// <summary>ggml's Q8_0: blocks of 32 values, an fp16 scale d = max|x| / 127, then 32 int8 round(x / d).</summary>
    private static void Q8_0(BinaryWriter w, float[] v)
    {
        for (int b = 0; b < v.Length; b += 32)
        {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.Max(amax, Math.Abs(v[b + i]));
            float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
            w.Write(Dtypes.ToF16(d));
            for (int i = 0; i < 32; i++) w.Write((sbyte)Math.Round(v[b + i] * id, MidpointRounding.AwayFromZero));
        }
    }

    private static void Str(BinaryWriter w, string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)b.Length);
        w.Write(b);
    }

    private static void Value(BinaryWriter w, uint type, object value)
    {
        switch (type)
        {
            case TUInt32: w.Write((uint)value); break;
            case TInt32: w.Write((int)value); break;
            case TFloat32: w.Write((float)value); break;
            case TBool: w.Write((bool)value ? (byte)1 : (byte)0); break;
            case TString: Str(w, (string)value); break;
            case TArray:
                if (value is string[] ss) { w.Write(TString); w.Write((ulong)ss.Length); foreach (var s in ss) Str(w, s); }
                else if (value is float[] ff) { w.Write(TFloat32); w.Write((ulong)ff.Length); foreach (float f in ff) w.Write(f); }
                else { var ii = (int[])value; w.Write(TInt32); w.Write((ulong)ii.Length); foreach (int i in ii) w.Write(i); }
                break;
        }
    }
}
