// HfArchitecture: the Hugging Face model families NextToken reads and writes.
namespace NextToken.Interop;

/// <summary>A Hugging Face <c>model_type</c> NextToken maps onto <see cref="Model.GptModel"/>.</summary>
public enum HfArchitecture
{
    /// <summary><c>gpt2</c> (GPT2LMHeadModel): pre-LN, learned positions, Conv1D weights stored (in, out), tanh GELU.</summary>
    Gpt2,
    /// <summary><c>openai-gpt</c> (OpenAIGPTLMHeadModel): GPT-1, post-LN, no final norm.</summary>
    OpenAiGpt,
    /// <summary><c>llama</c> (LlamaForCausalLM): RMSNorm, SwiGLU, grouped-query attention, RoPE in rotate-half layout.</summary>
    Llama,
}
