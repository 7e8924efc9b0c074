// BuiltinTasks: evaluation tasks generated in code, `--task builtin:NAME` (the harness's smoke tests and the ICL demo).
using NextToken.Data;
using NextToken.Tensors;

namespace NextToken.Evaluation.Tasks;

/// <summary>
/// <c>builtin:icl</c> (held-out label tasks of <see cref="IclEpisodes"/>, one <see cref="EvalTask"/> each),
/// <c>builtin:grammar</c> (grammatical vs ungrammatical sentence endings, multiple choice, for the grammar model) and
/// <c>builtin:addition</c> (held-out additions as generate-until, for the addition model).
/// </summary>
public static class BuiltinTasks
{
    /// <summary>Names accepted after <c>builtin:</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["icl", "grammar", "addition"];
    /// <summary>Questions of builtin:grammar.</summary>
    public const int GrammarQuestions = 200;

    /// <summary>The tasks of <paramref name="name"/> (several for icl; results are averaged over documents).</summary>
    public static IReadOnlyList<EvalTask> Create(string name, ulong seed = 1337) => name switch
    {
        "icl" => IclEpisodes.HeldOutTasks(),
        "grammar" => [Grammar(seed, GrammarQuestions)],
        "addition" => [Addition(seed)],
        _ => throw new ArgumentException($"unknown built-in task '{name}': use one of {string.Join(", ", Names.Select(n => "builtin:" + n))}", nameof(name)),
    };

    /// <summary>
    /// BLiMP-style minimal pairs from <see cref="GrammarCorpus"/>: a sentence is cut before word i ≥ 1; the gold choice
    /// is its true ending, the three others replace word i by a random vocabulary word that makes the sentence
    /// ungrammatical. Zero-shot; the model was trained on sentences one per line, so there is no few-shot pool.
    /// </summary>
    public static EvalTask Grammar(ulong seed, int count)
    {
        var rng = new Rng(seed, 19);
        var lines = GrammarCorpus.Generate(seed ^ 0x9E3779B97F4A7C15UL, count * 2).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var vocab = GrammarCorpus.Vocabulary;
        var docs = new List<TaskDocument>();
        foreach (string sentence in lines)
        {
            if (docs.Count == count) break;
            var words = sentence.Split(' ');
            if (words.Length < 3) continue;
            int i = 1 + rng.NextInt(words.Length - 2); // never the last word (it carries the period)
            var choices = new List<string> { string.Join(' ', words[i..]) };
            for (int tries = 0; choices.Count < 4 && tries < 200; tries++)
            {
                var w = (string[])words.Clone();
                w[i] = vocab[rng.NextInt(vocab.Count)];
                string ending = string.Join(' ', w[i..]);
                if (!GrammarCorpus.IsGrammatical(string.Join(' ', w)) && !choices.Contains(ending)) choices.Add(ending);
            }
            if (choices.Count < 4) continue;
            int gold = rng.NextInt(4);
            (choices[0], choices[gold]) = (choices[gold], choices[0]);
            docs.Add(new TaskDocument(TaskKind.MultipleChoice, "builtin:grammar", docs.Count + 1) { Context = string.Join(' ', words[..i]), Choices = choices, Gold = gold });
        }
        return new EvalTask("grammar", "\n", [], docs);
    }

    /// <summary>The held-out problems of builtin:addition (dataset seed <paramref name="seed"/>) as generate-until requests.</summary>
    public static EvalTask Addition(ulong seed)
    {
        var problems = AdditionTask.HeldOutProblems(BuiltinDatasets.AdditionDigits, seed, BuiltinDatasets.AdditionHeldOutFraction);
        var docs = problems.Select((p, i) => new TaskDocument(TaskKind.GenerateUntil, "builtin:addition", i + 1) { Context = p.Prompt, Answer = p.Expected, Until = ["\n"] }).ToList();
        return new EvalTask("addition", "\n", [], docs);
    }
}
