// PublishedModel: one row of a paper's model table, paired with the preset that builds it.
namespace NextToken.Scaling;

/// <summary>A model as a paper lists it, the preset of the same shape, and what the paper's figure is.</summary>
/// <param name="Name">The paper's name for it ("GPT-3 XL").</param>
/// <param name="Preset">The <see cref="Model.GptPresets"/> name of the same shape.</param>
/// <param name="PaperParameters">The parameter count the paper prints (rounded as printed).</param>
/// <param name="Layers">n_layers as printed.</param>
/// <param name="Width">d_model as printed.</param>
/// <param name="Heads">n_heads as printed.</param>
/// <param name="ExactParameters">A known exact count of the released model (Hugging Face), or null.</param>
/// <param name="Note">What differs between the paper and the preset, if anything.</param>
public sealed record PublishedModel(string Name, string Preset, double PaperParameters, int Layers, int Width, int Heads,
                                    long? ExactParameters = null, string? Note = null);
