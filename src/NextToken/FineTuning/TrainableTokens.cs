// TrainableTokens: beside LoRA adapters, train only some rows of the (frozen) token embedding — the chat markers added
// to the vocabulary — as PEFT's trainable_token_indices does. Rows: (count, C) of wte (and of an untied lm_head).
using NextToken.Model;
using NextToken.Training;

namespace NextToken.FineTuning;

/// <summary>
/// Trains the embedding rows of chosen token ids and keeps every other row of the embedding exactly as it was. Without
/// it a LoRA fine-tune with added chat markers cannot learn to end a turn: a new row stays at its mean initialisation, so
/// the end-of-turn logit is the mean of the others. <see cref="Attach"/> makes <c>wte.weight</c> (and an untied
/// <c>lm_head.weight</c>) trainable and hooks the <see cref="Trainer"/>: after the backward every other row's gradient
/// is zeroed (so the clipping norm and the moments see only the chosen rows), after the update every other row is put
/// back from a copy taken at attach time (undoing decoupled weight decay). <see cref="TrainableParameters"/> counts
/// rows × C for each tensor.
/// </summary>
public sealed class TrainableTokens
{
    private readonly GptModel _model;
    private readonly int[] _ids;
    private readonly (string Name, float[] Original)[] _tensors;
    // The rows that are not trained, as runs of consecutive elements (start, length) within a tensor.
    private readonly (int Start, int Length)[] _frozenRuns;

    private TrainableTokens(GptModel model, int[] ids, (string, float[])[] tensors)
    {
        _model = model; _ids = ids; _tensors = tensors;
        int C = model.Config.EmbeddingSize, rows = tensors[0].Item2.Length / C, from = 0;
        var runs = new List<(int, int)>();
        foreach (int id in ids)
        {
            if (id > from) runs.Add((from * C, (id - from) * C));
            from = id + 1;
        }
        if (from < rows) runs.Add((from * C, (rows - from) * C));
        _frozenRuns = runs.ToArray();
    }

    /// <summary>The trained token ids, ascending.</summary>
    public IReadOnlyList<int> Ids => _ids;

    /// <summary>Parameters trained: rows × embedding width for the embedding (and an untied output head).</summary>
    public long TrainableParameters => (long)_ids.Length * _model.Config.EmbeddingSize * _tensors.Length;

    /// <summary>Makes the embedding trainable for the rows <paramref name="ids"/> (call <see cref="Hook"/> on the trainer).</summary>
    public static TrainableTokens Attach(GptModel model, IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(ids);
        int[] rows = ids.Distinct().Order().ToArray();
        if (rows.Length == 0) throw new ArgumentException("no token ids to train", nameof(ids));
        foreach (int id in rows)
            if ((uint)id >= (uint)model.Config.VocabSize) throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id {id} is outside the vocabulary (0..{model.Config.VocabSize - 1})");
        var names = model.Config.TiedEmbeddings ? new[] { "wte.weight" } : ["wte.weight", "lm_head.weight"];
        model.SetTrainable(s => names.Contains(s.Name), true);
        var tensors = names.Select(n =>
        {
            var slot = model.Layout[n];
            return (n, model.Parameters.AsSpan((int)slot.Offset, checked((int)slot.Length)).ToArray());
        }).ToArray();
        return new TrainableTokens(model, rows, tensors);
    }

    /// <summary>Hooks <paramref name="trainer"/>: <see cref="MaskGradients"/> before each update, <see cref="RestoreFrozenRows"/> after it.</summary>
    public void Hook(Trainer trainer)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        trainer.BeforeUpdate += MaskGradients;
        trainer.AfterUpdate += RestoreFrozenRows;
    }

    /// <summary>Zeroes the gradient of every embedding row that is not trained.</summary>
    public void MaskGradients()
    {
        var grads = _model.Gradients ?? throw new InvalidOperationException("the model has no gradients enabled");
        foreach (var (name, _) in _tensors)
        {
            int offset = (int)_model.GradientLayout[name].Offset;
            foreach (var (start, length) in _frozenRuns) grads.AsSpan(offset + start, length).Clear();
        }
    }

    /// <summary>Puts every row that is not trained back to its value at attach time.</summary>
    public void RestoreFrozenRows()
    {
        foreach (var (name, original) in _tensors)
        {
            int offset = (int)_model.Layout[name].Offset;
            foreach (var (start, length) in _frozenRuns) original.AsSpan(start, length).CopyTo(_model.Parameters.AsSpan(offset + start, length));
        }
    }
}
