// DecodeThroughput: batch-1 KV-cache decoding speed of any ICausalLm, measured without the generation library.
using System.Diagnostics;
using System.Numerics.Tensors;

namespace NextToken.Model;

/// <summary>
/// Greedy decoding loop straight over <see cref="ICausalLm.Forward"/>: the prompt in one call, then one token per call,
/// each the argmax of the previous logits. Benchmarks use it to compare decode speed with the memory-bandwidth bound
/// (bandwidth ÷ bytes of weights read per token).
/// </summary>
public static class DecodeThroughput
{
    /// <summary>Decodes <paramref name="tokens"/> tokens after a <paramref name="promptLength"/>-token prompt of ids 0, 1, 2, ….</summary>
    public static DecodeMeasurement Measure(ICausalLm model, int promptLength, int tokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(promptLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        if (promptLength + tokens > model.ContextLength)
            throw new ArgumentException($"prompt {promptLength} + {tokens} tokens exceed the context length {model.ContextLength}");
        var cache = model.CreateCache();
        var logits = new float[model.VocabSize];
        var prompt = new int[promptLength];
        for (int i = 0; i < promptLength; i++) prompt[i] = i % model.VocabSize;
        long t0 = Stopwatch.GetTimestamp();
        model.Forward(cache, prompt, logits);
        long t1 = Stopwatch.GetTimestamp();
        int[] next = [0];
        for (int i = 0; i < tokens; i++)
        {
            next[0] = TensorPrimitives.IndexOfMax(logits);
            model.Forward(cache, next, logits);
        }
        long t2 = Stopwatch.GetTimestamp();
        return new DecodeMeasurement(tokens, (double)(t2 - t1) / Stopwatch.Frequency, (double)(t1 - t0) / Stopwatch.Frequency);
    }
}
