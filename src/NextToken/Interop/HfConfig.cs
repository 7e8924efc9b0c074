// HfConfig: Hugging Face config.json ⇄ GptConfig for gpt2, openai-gpt and llama; unsupported options are errors that
// name the file and the key.
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NextToken.Model;

namespace NextToken.Interop;

/// <summary>Reads and writes Hugging Face <c>config.json</c>.</summary>
public static class HfConfig
{
    /// <summary>The file name.</summary>
    public const string FileName = "config.json";

    /// <summary>True when <paramref name="path"/> is a Hugging Face config (it has a "model_type").</summary>
    public static bool IsHfConfig(string path)
    {
        if (!File.Exists(path)) return false;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("model_type", out _);
        }
        catch (JsonException) { return false; }
    }

    /// <summary>Parses config.json into the family and the equivalent <see cref="GptConfig"/>.</summary>
    public static (HfArchitecture Architecture, GptConfig Config) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"'{path}' is missing: a Hugging Face model directory holds config.json", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"'{path}' is not a JSON object");
            JsonElement? Get(string key) => root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;
            int Int(string key, int fallback)
            {
                if (Get(key) is not { } v) return fallback;
                return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw new InvalidDataException($"'{path}': key '{key}' must be an integer (found {v})");
            }
            float Float(string key, float fallback)
            {
                if (Get(key) is not { } v) return fallback;
                return v.ValueKind == JsonValueKind.Number ? v.GetSingle() : throw new InvalidDataException($"'{path}': key '{key}' must be a number (found {v})");
            }
            bool Bool(string key, bool fallback)
            {
                if (Get(key) is not { } v) return fallback;
                return v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw new InvalidDataException($"'{path}': key '{key}' must be true or false (found {v})");
            }
            string Str(string key, string fallback)
            {
                if (Get(key) is not { } v) return fallback;
                return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new InvalidDataException($"'{path}': key '{key}' must be a string (found {v})");
            }
            string type = Str("model_type", "");
            GptConfig cfg;
            HfArchitecture arch;
            switch (type)
            {
                case "gpt2":
                {
                    arch = HfArchitecture.Gpt2;
                    string act = Str("activation_function", "gelu_new");
                    // GPT-2's "gelu_new" is the tanh approximation our GELU computes; "gelu_pytorch_tanh" and "gelu_fast" are the same formula.
                    if (act is not ("gelu_new" or "gelu_pytorch_tanh" or "gelu_fast"))
                        throw new InvalidDataException($"'{path}': activation_function '{act}' is not supported (NextToken's GELU is the tanh form: gelu_new)");
                    if (Bool("scale_attn_by_inverse_layer_idx", false)) throw new InvalidDataException($"'{path}': key 'scale_attn_by_inverse_layer_idx' = true is not supported");
                    if (!Bool("scale_attn_weights", true)) throw new InvalidDataException($"'{path}': key 'scale_attn_weights' = false is not supported");
                    int C = Int("n_embd", 768);
                    cfg = new GptConfig
                    {
                        VocabSize = Int("vocab_size", 50257), ContextLength = Int("n_positions", Int("n_ctx", 1024)), Layers = Int("n_layer", 12),
                        Heads = Int("n_head", 12), EmbeddingSize = C, MlpHiddenSize = Int("n_inner", 0) is int f && f != 4 * C ? f : 0,
                        LayerNormEpsilon = Float("layer_norm_epsilon", 1e-5f), TiedEmbeddings = Bool("tie_word_embeddings", true), Bias = true,
                    };
                    break;
                }
                case "openai-gpt":
                {
                    arch = HfArchitecture.OpenAiGpt;
                    // Hugging Face's OpenAIGPT maps afn "gelu" to the tanh approximation (gelu_new), as the original GPT code computed it.
                    string act = Str("afn", "gelu");
                    if (act is not ("gelu" or "gelu_new")) throw new InvalidDataException($"'{path}': afn '{act}' is not supported (NextToken's GELU is the tanh form)");
                    cfg = new GptConfig
                    {
                        VocabSize = Int("vocab_size", 40478), ContextLength = Int("n_positions", 512), Layers = Int("n_layer", 12), Heads = Int("n_head", 12),
                        EmbeddingSize = Int("n_embd", 768), LayerNormEpsilon = Float("layer_norm_epsilon", 1e-5f), Norm = NormPlacement.Post,
                        TiedEmbeddings = true, Bias = true,
                    };
                    break;
                }
                case "llama":
                {
                    arch = HfArchitecture.Llama;
                    string act = Str("hidden_act", "silu");
                    if (act != "silu") throw new InvalidDataException($"'{path}': hidden_act '{act}' is not supported (NextToken's SwiGLU uses silu)");
                    if (Get("rope_scaling") is { } rs) throw new InvalidDataException($"'{path}': key 'rope_scaling' ({rs}) is not supported; only plain RoPE is");
                    bool attnBias = Bool("attention_bias", false), mlpBias = Bool("mlp_bias", false);
                    if (attnBias != mlpBias) throw new InvalidDataException($"'{path}': keys 'attention_bias' ({attnBias}) and 'mlp_bias' ({mlpBias}) must agree (NextToken has one bias switch)");
                    int C = Int("hidden_size", 4096), NH = Int("num_attention_heads", 32);
                    if (Get("head_dim") is not null && Int("head_dim", 0) != C / NH)
                        throw new InvalidDataException($"'{path}': key 'head_dim' = {Int("head_dim", 0)} differs from hidden_size / num_attention_heads = {C / NH}, which NextToken requires");
                    cfg = new GptConfig
                    {
                        VocabSize = Int("vocab_size", 32000), ContextLength = Int("max_position_embeddings", 2048), Layers = Int("num_hidden_layers", 32),
                        Heads = NH, KvHeads = Int("num_key_value_heads", NH), EmbeddingSize = C, MlpHiddenSize = Int("intermediate_size", 11008),
                        Mlp = MlpKind.SwiGlu, NormKind = NormKind.RmsNorm, LayerNormEpsilon = Float("rms_norm_eps", 1e-6f), Positions = PositionEncoding.Rotary,
                        RotaryBase = Float("rope_theta", 10000f), TiedEmbeddings = Bool("tie_word_embeddings", false), Bias = attnBias,
                    };
                    break;
                }
                case "":
                    throw new InvalidDataException($"'{path}' has no key 'model_type': is this a Hugging Face config.json?");
                default:
                    throw new InvalidDataException($"'{path}': model_type '{type}' is not supported (NextToken reads gpt2, openai-gpt and llama)");
            }
            try { return (arch, cfg.Validate()); }
            catch (ArgumentException e) { throw new InvalidDataException($"'{path}': {e.Message}", e); }
        }
    }

    /// <summary>The family a model of <paramref name="cfg"/> exports as, or an error saying why it has none.</summary>
    public static HfArchitecture ArchitectureOf(GptConfig cfg)
    {
        bool gptLike = cfg.Mlp == MlpKind.Gelu && cfg.NormKind == NormKind.LayerNorm && cfg.Positions == PositionEncoding.Learned && cfg.Bias && cfg.KvHeadCount == cfg.Heads;
        if (gptLike && cfg.Norm == NormPlacement.Pre) return HfArchitecture.Gpt2;
        if (gptLike && cfg.Norm == NormPlacement.Post && cfg.TiedEmbeddings && cfg.MlpSize == 4 * cfg.EmbeddingSize) return HfArchitecture.OpenAiGpt;
        if (cfg.Mlp == MlpKind.SwiGlu && cfg.NormKind == NormKind.RmsNorm && cfg.Positions == PositionEncoding.Rotary && cfg.Norm == NormPlacement.Pre)
            return HfArchitecture.Llama;
        throw new NotSupportedException("this model has no Hugging Face equivalent: GPT-2 needs LayerNorm, GELU, learned positions and biases; " +
                                        "LLaMA needs RMSNorm, SwiGLU, rotary positions and pre-norm");
    }

    /// <summary>config.json text for <paramref name="cfg"/> as <paramref name="arch"/>, with the stored dtype's torch name.</summary>
    public static string Write(HfArchitecture arch, GptConfig cfg, string torchDtype, int? bosId, int? eosId)
    {
        var o = new JsonObject();
        switch (arch)
        {
            case HfArchitecture.Gpt2:
                o["architectures"] = new JsonArray("GPT2LMHeadModel");
                o["model_type"] = "gpt2";
                o["vocab_size"] = cfg.VocabSize; o["n_positions"] = cfg.ContextLength; o["n_ctx"] = cfg.ContextLength;
                o["n_embd"] = cfg.EmbeddingSize; o["n_layer"] = cfg.Layers; o["n_head"] = cfg.Heads;
                o["n_inner"] = cfg.MlpSize == 4 * cfg.EmbeddingSize ? null : cfg.MlpSize;
                o["activation_function"] = "gelu_new";
                o["layer_norm_epsilon"] = cfg.LayerNormEpsilon;
                o["resid_pdrop"] = 0.0; o["embd_pdrop"] = 0.0; o["attn_pdrop"] = 0.0;
                o["initializer_range"] = cfg.InitStd;
                break;
            case HfArchitecture.OpenAiGpt:
                o["architectures"] = new JsonArray("OpenAIGPTLMHeadModel");
                o["model_type"] = "openai-gpt";
                o["vocab_size"] = cfg.VocabSize; o["n_positions"] = cfg.ContextLength;
                o["n_embd"] = cfg.EmbeddingSize; o["n_layer"] = cfg.Layers; o["n_head"] = cfg.Heads;
                o["afn"] = "gelu"; o["layer_norm_epsilon"] = cfg.LayerNormEpsilon;
                o["resid_pdrop"] = 0.0; o["embd_pdrop"] = 0.0; o["attn_pdrop"] = 0.0;
                break;
            case HfArchitecture.Llama:
                o["architectures"] = new JsonArray("LlamaForCausalLM");
                o["model_type"] = "llama";
                o["vocab_size"] = cfg.VocabSize; o["max_position_embeddings"] = cfg.ContextLength;
                o["hidden_size"] = cfg.EmbeddingSize; o["intermediate_size"] = cfg.MlpSize; o["num_hidden_layers"] = cfg.Layers;
                o["num_attention_heads"] = cfg.Heads; o["num_key_value_heads"] = cfg.KvHeadCount; o["head_dim"] = cfg.HeadSize;
                o["hidden_act"] = "silu"; o["rms_norm_eps"] = cfg.LayerNormEpsilon; o["rope_theta"] = cfg.RotaryBase; o["rope_scaling"] = null;
                o["attention_bias"] = cfg.Bias; o["mlp_bias"] = cfg.Bias; o["attention_dropout"] = 0.0;
                o["initializer_range"] = cfg.InitStd;
                break;
        }
        o["tie_word_embeddings"] = cfg.TiedEmbeddings;
        if (bosId is int b) o["bos_token_id"] = b;
        if (eosId is int e) o["eos_token_id"] = e;
        o["torch_dtype"] = torchDtype;
        o["transformers_version"] = "4.46.0";
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    internal static string F(float v) => v.ToString("R", CultureInfo.InvariantCulture);
}
