// BpeTrainingResult: the trained tokenizer plus where the training time went.
namespace NextToken.Tokenization;

/// <summary>What <see cref="BpeTrainer.Train(string, BpeTrainerOptions)"/> returns.</summary>
/// <param name="Tokenizer">The trained tokenizer.</param>
/// <param name="UniqueWords">Distinct pre-tokenized words the merges were counted over.</param>
/// <param name="CountingTime">Time spent pre-tokenizing and counting words.</param>
/// <param name="MergingTime">Time spent choosing and applying merges.</param>
public sealed record BpeTrainingResult(BpeTokenizer Tokenizer, int UniqueWords, TimeSpan CountingTime, TimeSpan MergingTime);
