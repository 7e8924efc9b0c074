// InstructionTasks: builtin:instructions — four instruction tasks on sentences of the built-in grammar (plural, negate,
// question, who), each with one exact answer.
using System.Text.Json;
using NextToken.Tensors;

namespace NextToken.Data;

/// <summary>One instruction example: the task, the user's prompt and the exact answer.</summary>
public sealed record InstructionExample(string Task, string Prompt, string Answer)
{
    /// <summary>The example as a chat line: {"messages":[{"role":"user",…},{"role":"assistant",…}]}.</summary>
    public string ToJsonLine() => JsonSerializer.Serialize(new
    {
        messages = new[] { new { role = "user", content = Prompt }, new { role = "assistant", content = Answer } },
    });
}

/// <summary>
/// Instruction tasks derived from the grammar (docs/finetuning.md). Sentences have a singular subject (determiner,
/// optional adjective, noun) and either a transitive verb with an object or an intransitive verb with an optional
/// adverb. Tasks and their exact answers:
/// <list type="bullet">
/// <item><c>make it plural: the cat sees a dog.</c> → <c>the cats see a dog.</c> (subject and verb to the plural;
/// determiners a→some, every→many, this→these, that→those, the→the)</item>
/// <item><c>negate: the cat sees a dog.</c> → <c>the cat does not see a dog.</c></item>
/// <item><c>question: the cat sees a dog.</c> → <c>does the cat see a dog?</c></item>
/// <item><c>the cat sees a dog. who sees a dog?</c> → <c>the cat.</c> (transitive sentences)</item>
/// </list>
/// </summary>
public static class InstructionTasks
{
    /// <summary>The task names.</summary>
    public static IReadOnlyList<string> Tasks { get; } = ["plural", "negate", "question", "who"];
    /// <summary>Training examples of the built-in data.</summary>
    public const int TrainCount = 8000;
    /// <summary>Held-out examples (prompts never seen in training).</summary>
    public const int HeldOutCount = 400;

    private static readonly Dictionary<string, string> PluralDeterminer = new()
    {
        ["a"] = "some", ["the"] = "the", ["every"] = "many", ["this"] = "these", ["that"] = "those",
    };

    /// <summary>The training and held-out examples for <paramref name="seed"/> (held-out prompts never occur in training).</summary>
    public static (IReadOnlyList<InstructionExample> Train, IReadOnlyList<InstructionExample> HeldOut) Build(ulong seed = 1337)
    {
        var rng = new Rng(seed, 11);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var train = new List<InstructionExample>(TrainCount);
        var heldOut = new List<InstructionExample>(HeldOutCount);
        while (heldOut.Count < HeldOutCount)
        {
            var e = Sample(ref rng);
            if (seen.Add(e.Prompt)) heldOut.Add(e);
        }
        while (train.Count < TrainCount)
        {
            var e = Sample(ref rng);
            if (!seen.Contains(e.Prompt)) train.Add(e);
        }
        return (train, heldOut);
    }

    private static string Pick(ref Rng rng, string[] words) => words[rng.NextInt(words.Length)];

    /// <summary>One example of a task drawn uniformly.</summary>
    public static InstructionExample Sample(ref Rng rng)
    {
        string det = Pick(ref rng, GrammarCorpus.DetSingular);
        string adj = rng.NextInt(3) == 0 ? Pick(ref rng, GrammarCorpus.Adjectives) + " " : "";
        int noun = rng.NextInt(GrammarCorpus.NounSingular.Length);
        string task = Tasks[rng.NextInt(Tasks.Count)];
        bool transitive = task == "who" || rng.NextInt(3) != 0;
        int verb = rng.NextInt(transitive ? GrammarCorpus.TransitiveSingular.Length : GrammarCorpus.IntransitiveSingular.Length);
        string verbS = transitive ? GrammarCorpus.TransitiveSingular[verb] : GrammarCorpus.IntransitiveSingular[verb];
        string verbBase = transitive ? GrammarCorpus.TransitivePlural[verb] : GrammarCorpus.IntransitivePlural[verb];
        string rest;
        if (transitive)
        {
            bool plural = rng.NextInt(2) == 0;
            string oDet = Pick(ref rng, plural ? GrammarCorpus.DetPlural : GrammarCorpus.DetSingular);
            string oAdj = rng.NextInt(3) == 0 ? Pick(ref rng, GrammarCorpus.Adjectives) + " " : "";
            rest = " " + oDet + " " + oAdj + Pick(ref rng, plural ? GrammarCorpus.NounPlural : GrammarCorpus.NounSingular);
        }
        else rest = rng.NextInt(2) == 0 ? " " + Pick(ref rng, GrammarCorpus.Adverbs) : "";
        string subject = det + " " + adj + GrammarCorpus.NounSingular[noun];
        string sentence = subject + " " + verbS + rest + ".";
        return task switch
        {
            "plural" => new(task, "make it plural: " + sentence,
                            PluralDeterminer[det] + " " + adj + GrammarCorpus.NounPlural[noun] + " " + verbBase + rest + "."),
            "negate" => new(task, "negate: " + sentence, subject + " does not " + verbBase + rest + "."),
            "question" => new(task, "question: " + sentence, "does " + subject + " " + verbBase + rest + "?"),
            _ => new(task, sentence + " who " + verbS + rest + "?", subject + "."),
        };
    }
}
