// SupervisedFineTuning: what `nexttoken finetune` assembles from a base model and data — the chat template's tokens
// added to the vocabulary (and the model grown for them), the examples read with their loss masks, the rows — and exact
// match of greedy chat answers.
using NextToken.Chat;
using NextToken.Data;
using NextToken.Generation;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.FineTuning;

/// <summary>Options of <see cref="SupervisedFineTuning.Prepare"/>.</summary>
public sealed record SftOptions
{
    /// <summary>Rows per micro-batch.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Pack examples into rows (best-fit decreasing, document masks).</summary>
    public bool Packing { get; init; }
    /// <summary>Train on prompt tokens too (default: completion / assistant tokens only).</summary>
    public bool TrainOnPrompt { get; init; }
    /// <summary>Seed of the row order.</summary>
    public ulong Seed { get; init; } = 1337;
    /// <summary>Fraction of the examples held out for validation loss when no separate validation data is given.</summary>
    public double ValidationFraction { get; init; } = 0.05;
}

/// <summary>Everything a fine-tuning run needs, ready for the <see cref="Training.Trainer"/>.</summary>
public sealed record SftSetup(GptModel Model, ITokenizer Tokenizer, ChatTemplate Template, SftData Train, SftData? Validation,
                              SftBatches TrainBatches, SftBatches? ValidationBatches, int AddedTokens, string? TemplateNote);

/// <summary>Supervised fine-tuning (docs/finetuning.md).</summary>
public static class SupervisedFineTuning
{
    /// <summary>
    /// Prepares a run: the template is the one the base model's files declare, else ChatML; its markers are added to the
    /// vocabulary when missing (the model grows, new rows at the mean embedding); <paramref name="trainLines"/> are read
    /// (errors name <paramref name="name"/> and the line) and, unless <paramref name="validationLines"/> are given, the
    /// last <see cref="SftOptions.ValidationFraction"/> of them held out.
    /// </summary>
    public static SftSetup Prepare(GptModel baseModel, ITokenizer baseTokenizer, IEnumerable<string> trainLines, string name, SftOptions options,
                                   IEnumerable<string>? validationLines = null, string? validationName = null)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(baseTokenizer);
        var template = ChatTemplate.For(baseTokenizer, out string? note);
        var lines = trainLines.ToList();
        bool chat = lines.FirstOrDefault(l => !string.IsNullOrWhiteSpace(l))?.Contains("\"messages\"", StringComparison.Ordinal) == true;
        var tokenizer = baseTokenizer;
        int added = 0;
        if (chat)
        {
            var withMarkers = SpecialTokensTokenizer.Create(baseTokenizer, template.SpecialTokens);
            if (withMarkers.VocabSize > baseTokenizer.VocabSize) { tokenizer = withMarkers; added = withMarkers.VocabSize - baseTokenizer.VocabSize; }
            else if (baseTokenizer is not SpecialTokensTokenizer && withMarkers.AddedTokens.Count > 0) tokenizer = withMarkers;
        }
        var model = VocabularyGrowth.Grow(baseModel, Math.Max(baseModel.Config.VocabSize, tokenizer.VocabSize));
        int T = model.Config.ContextLength;
        List<string>? valLines = validationLines?.ToList();
        if (valLines is null && options.ValidationFraction > 0 && lines.Count >= 20)
        {
            int k = Math.Max(1, (int)(lines.Count * options.ValidationFraction));
            valLines = lines[^k..];
            lines = lines[..^k];
            validationName ??= name;
        }
        var train = SftDataset.Parse(lines, name, tokenizer, template, options.TrainOnPrompt, T + 1);
        SftData? val = valLines is null ? null : SftDataset.Parse(valLines, validationName ?? name, tokenizer, template, options.TrainOnPrompt, T + 1);
        var batches = SftBatches.Create(train.Examples, options.BatchSize, T, options.Packing, options.Seed);
        var valBatches = val is null ? null : SftBatches.Create(val.Examples, options.BatchSize, T, options.Packing, options.Seed);
        return new SftSetup(model, tokenizer, template, train, val, batches, valBatches, added, note);
    }

    /// <summary>
    /// Parameters that receive gradients: the model's parameter count less every tensor of <paramref name="model"/> the caller froze (<see cref="GptModel.Freeze"/>) plus <paramref name="extra"/> (e.g. adapter parameters kept outside the model).
    /// </summary>
    public static long TrainableParameters(GptModel model, long extra = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        long frozen = 0;
        foreach (var s in model.Layout.Slots)
            if (!model.IsTrainable(s.Name)) frozen += s.Length;
        return Math.Max(0, model.ParameterCount - frozen) + extra;
    }

    /// <summary>
    /// The model's greedy reply to <paramref name="messages"/> (rendered with the generation prompt), up to the template's
    /// end marker or end-of-text, at most <paramref name="maxNewTokens"/> tokens.
    /// </summary>
    public static string Reply(GptModel model, ITokenizer tokenizer, ChatTemplate template, IReadOnlyList<ChatMessage> messages, int maxNewTokens = 64)
    {
        var generator = new Generator(model, tokenizer);
        var options = new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = maxNewTokens, StopStrings = template.StopStrings }.Validate();
        return generator.Generate(tokenizer.Encode(template.Render(messages)), options).Best.Text;
    }

    /// <summary>Exact match of greedy replies on instruction examples, overall and per task.</summary>
    public static (double Overall, IReadOnlyDictionary<string, double> ByTask) ExactMatch(GptModel model, ITokenizer tokenizer, ChatTemplate template,
                                                                                         IReadOnlyList<InstructionExample> examples)
    {
        var ok = new List<(string Task, bool Right)>(examples.Count);
        foreach (var e in examples)
            ok.Add((e.Task, Reply(model, tokenizer, template, [ChatMessage.User(e.Prompt)]).Trim() == e.Answer));
        if (ok.Count == 0) return (double.NaN, new Dictionary<string, double>());
        return (ok.Count(x => x.Right) / (double)ok.Count,
                ok.GroupBy(x => x.Task).ToDictionary(g => g.Key, g => g.Count(x => x.Right) / (double)g.Count()));
    }
}
