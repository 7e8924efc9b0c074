// VocabularyGrowth: a model with room for tokens added to its vocabulary (chat markers), new rows at the mean embedding.
using NextToken.Model;

namespace NextToken.FineTuning;

/// <summary>Grows a model's vocabulary for added special tokens.</summary>
public static class VocabularyGrowth
{
    /// <summary>
    /// A copy of <paramref name="model"/> with <paramref name="vocabSize"/> ids: every tensor copied; the token embedding
    /// (and an untied LM head) gain rows initialised to the mean of the existing real rows, the usual choice for added
    /// tokens (their logits start at the average and their embeddings inside the learned distribution). Returns the model
    /// itself when it is already that size.
    /// </summary>
    public static GptModel Grow(GptModel model, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        int oldV = model.Config.VocabSize, C = model.Config.EmbeddingSize;
        if (vocabSize == oldV) return model;
        if (vocabSize < oldV) throw new ArgumentException($"the vocabulary can only grow ({oldV} → {vocabSize} asked)");
        var grown = GptModel.CreateUninitialised(model.Config with { VocabSize = vocabSize });
        foreach (var slot in model.Layout.Slots)
        {
            var src = model.Parameter(slot.Name);
            var dst = grown.Parameter(slot.Name);
            if (slot.Name is "wte.weight" or "lm_head.weight")
            {
                src[..(oldV * C)].CopyTo(dst);
                var mean = new double[C];
                for (int v = 0; v < oldV; v++)
                    for (int c = 0; c < C; c++) mean[c] += src[v * C + c];
                for (int v = oldV; v < vocabSize; v++)
                    for (int c = 0; c < C; c++) dst[v * C + c] = (float)(mean[c] / oldV);
            }
            else src.CopyTo(dst);
        }
        return grown;
    }
}
