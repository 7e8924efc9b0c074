// BuiltinDatasets: the corpora that ship with the library (grammar, addition), prepared like user data.
using System.Globalization;
using NextToken.Tokenization;

namespace NextToken.Data;

/// <summary>
/// Built-in datasets, so <c>nexttoken train</c> works offline and what a model learned can be checked exactly
/// (<see cref="GrammarCorpus.Evaluate"/>, <see cref="AdditionTask.ExactMatch"/>). They are written as ordinary
/// prepared directories (grammar: word-level tokens from a BPE trained on it; addition: characters), so training
/// takes the same path as for user data. Sizes suit a few-hundred-thousand-parameter model trained for a couple of
/// minutes on two cores.
/// </summary>
public static class BuiltinDatasets
{
    /// <summary>Prefix that names a built-in dataset where an input file is expected: <c>builtin:grammar</c>.</summary>
    public const string Prefix = "builtin:";
    /// <summary>The grammar corpus (<see cref="GrammarCorpus"/>).</summary>
    public const string Grammar = "grammar";
    /// <summary>The grammar corpus with repeated lines (<see cref="GrammarCorpus.GenerateWithRepeats"/>): a base that copies.</summary>
    public const string GrammarRepeats = "grammar-repeats";
    /// <summary>Two-digit addition (<see cref="AdditionTask"/>).</summary>
    public const string Addition = "addition";
    /// <summary>In-context-learning episodes (<see cref="NextToken.Evaluation.Tasks.IclEpisodes"/>): val holds only held-out tasks.</summary>
    public const string Icl = "icl";
    /// <summary>Training episodes of builtin:icl (held-out episodes: a tenth of this).</summary>
    public const int IclEpisodeCount = 8_000;
    /// <summary>Sentences sampled for the grammar dataset (about 1.2 MB of text, 290k word tokens); the last tenth is validation.</summary>
    public const int GrammarSentences = 40_000;
    /// <summary>Operand width of the addition dataset: 10,000 problems.</summary>
    public const int AdditionDigits = 2;
    /// <summary>Share of addition problems held out; they form <c>val.bin</c> and are never trained on.</summary>
    public const double AdditionHeldOutFraction = 0.1;

    /// <summary>The names of the built-in datasets.</summary>
    public static IReadOnlyList<string> Names { get; } = [Addition, Grammar, GrammarRepeats, Icl, Facts];

    /// <summary>The knowledge corpus (<see cref="FactsCorpus"/>): profile lines of Zipf-distributed entities, for scaling studies.</summary>
    public const string Facts = "facts";
    /// <summary>Profile lines generated for the facts dataset (about 3.1M tokens); the last tenth is validation.</summary>
    public const int FactsLines = 200_000;

    /// <summary>True when <paramref name="input"/> is <c>builtin:NAME</c>; <paramref name="name"/> gets NAME.</summary>
    public static bool TryParse(string input, out string name)
    {
        ArgumentNullException.ThrowIfNull(input);
        name = input.StartsWith(Prefix, StringComparison.Ordinal) ? input[Prefix.Length..] : "";
        return name.Length > 0;
    }

    /// <summary>
    /// The built-in dataset a prepared directory was generated from (its <see cref="PreparedData.Source"/> reads
    /// <c>builtin:NAME seed N</c>), or null for user data. A resumed run uses it to evaluate the same task again.
    /// </summary>
    public static string? NameOf(PreparedData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!data.Source.StartsWith(Prefix, StringComparison.Ordinal)) return null;
        string rest = data.Source[Prefix.Length..];
        int space = rest.IndexOf(' ');
        string name = space < 0 ? rest : rest[..space];
        return Names.Contains(name) ? name : null;
    }

    /// <summary>
    /// Writes the prepared directory for dataset <paramref name="name"/> (<c>grammar</c> or <c>addition</c>),
    /// generated from <paramref name="seed"/>. For addition, <c>val.bin</c> is exactly the held-out problems of
    /// <see cref="AdditionTask.HeldOutProblems"/>(<see cref="AdditionDigits"/>, seed, <see cref="AdditionHeldOutFraction"/>).
    /// </summary>
    public static PreparedData PrepareBuiltin(string name, string outDir, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(outDir);
        string source = Prefix + name + " seed " + seed.ToString(CultureInfo.InvariantCulture);
        switch (name)
        {
            case Grammar:
            case GrammarRepeats:
            {
                // Split by whole sentences (not characters) so no validation sentence is cut in half.
                string text = name == Grammar ? GrammarCorpus.Generate(seed, GrammarSentences) : GrammarCorpus.GenerateWithRepeats(seed, GrammarSentences);
                return PrepareLines(text, outDir, source);
            }
            case Facts:
                return PrepareFacts(seed, FactsLines, outDir, source);
            case Addition:
            {
                var (train, heldOut) = AdditionTask.Generate(AdditionDigits, seed, AdditionHeldOutFraction);
                return PreparedData.FromSplit(train, heldOut, "char", outDir, source);
            }
            case Icl:
            {
                // A fresh task per episode; validation episodes use only the held-out label pairs, so val loss is
                // in-context learning of tasks never seen in training.
                string train = NextToken.Evaluation.Tasks.IclEpisodes.Generate(IclEpisodeCount, seed, heldOut: false);
                string heldOut = NextToken.Evaluation.Tasks.IclEpisodes.Generate(IclEpisodeCount / 10, seed + 1, heldOut: true);
                // Tokens as GPT-2's BPE writes this format: a byte-level BPE trained on the episodes merges only inside
                // pre-tokens, so " R" (space + label) becomes one token and merges stop by themselves. The
                // label is then predicted at its key's own position, and an example's label is read by the classic
                // one-back induction circuit (find the earlier key, copy the token after it), as in the harness's
                // scoring of context "k" + continuation " R". With characters the label sits two tokens after its
                // key and a model settles on copying any recent label (about 25% at every K).
                var tokenizer = BpeTrainer.Train(train, new BpeTrainerOptions { VocabSize = 512, MinFrequency = 1, Threads = 1 }).Tokenizer;
                return PreparedData.FromSplit(train, heldOut, tokenizer, outDir, source);
            }
            default:
                throw new ArgumentException($"unknown built-in dataset '{name}': use one of {string.Join(", ", Names)}", nameof(name));
        }
    }

    /// <summary>
    /// The facts corpus with <paramref name="lines"/> lines of the world of <paramref name="seed"/>, prepared by
    /// <see cref="PrepareLines"/>: the relation words and values become single tokens, names a few pieces each.
    /// </summary>
    public static PreparedData PrepareFacts(ulong seed, int lines, string outDir, string? source = null) =>
        PrepareLines(FactsCorpus.Generate(seed, seed, lines), outDir,
                     source ?? Prefix + Facts + " seed " + seed.ToString(CultureInfo.InvariantCulture) + " lines " + lines.ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// A line-per-example corpus prepared as the word-level built-ins are: split by whole lines (the last tenth is
    /// validation, so no line is cut in half), tokenized by a byte-level BPE trained on the training lines until every
    /// word is one token (merges stop by themselves once no pair is left inside a word, or at 1,024 tokens). On the
    /// grammar the model then spends its capacity on agreement and phrase structure instead of spelling.
    /// </summary>
    public static PreparedData PrepareLines(string text, string outDir, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        int lines = text.Count(c => c == '\n'), trainLines = lines - lines / 10, cut = 0;
        for (int i = 0; i < trainLines; i++) cut = text.IndexOf('\n', cut) + 1;
        var tokenizer = BpeTrainer.Train(text[..cut], new BpeTrainerOptions { VocabSize = 1024, MinFrequency = 1, Threads = 1 }).Tokenizer;
        return PreparedData.FromSplit(text[..cut], text[cut..], tokenizer, outDir, source);
    }
}
