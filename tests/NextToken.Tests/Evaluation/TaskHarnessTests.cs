// Task harness: every metric against log-likelihoods computed directly from one plain forward (no cache), prefix reuse
// against scoring from scratch, few-shot prompt golden strings, the published file layouts, and bad input.
using NextToken.Evaluation.Tasks;
using NextToken.Generation;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Tests.Evaluation;

public sealed class TaskHarnessTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nt-task-" + Guid.NewGuid().ToString("N"));
    public TaskHarnessTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static readonly CharTokenizer Tok = CharTokenizer.FromText("abcdefghijklmnopqrstuvwxyz0123456789 .,:?\n#");

    private static GptModel Model(int context = 64) =>
        new(new GptConfig { VocabSize = Tok.VocabSize, ContextLength = context, Layers = 2, Heads = 2, EmbeddingSize = 16, InitStd = 0.3f }, 5);

    // Reference: Σ log p(cont | ctx) from ONE plain full forward over (ctx + cont)[:-1], log-softmax in double.
    private static (double Sum, bool Greedy) Reference(GptModel model, int[] ctx, int[] cont)
    {
        int[] all = [.. ctx, .. cont];
        int T = all.Length - 1, V = model.VocabSize;
        var logits = new float[T * V];
        model.ForwardLogits(all.AsSpan(0, T), 1, T, logits);
        double sum = 0;
        bool greedy = true;
        for (int j = 0; j < cont.Length; j++)
        {
            int pos = ctx.Length - 1 + j;
            var row = logits.AsSpan(pos * V, V);
            sum += row[cont[j]] - Sampling.LogSumExp(row);
            int arg = 0;
            for (int v = 1; v < V; v++) if (row[v] > row[arg]) arg = v;
            greedy &= arg == cont[j];
        }
        return (sum, greedy);
    }

    private static double RefScore(GptModel model, string context, string continuation)
    {
        var scorer = new LoglikelihoodScorer(model, Tok);
        var (c, k) = scorer.Encode(context, continuation);
        return Reference(model, c, k).Sum;
    }

    private static TaskDocument Mc(string ctx, string[] choices, int gold, int line = 1, string? split = null) =>
        new(TaskKind.MultipleChoice, "t.jsonl", line) { Context = ctx, Choices = choices, Gold = gold, Split = split };

    [Theory]
    [InlineData(" on the mat| x| in a big red box.| mat")] // long choices: one forward per fork
    [InlineData(" on| x| ma| m")]                           // short choices: batched one-token steps
    public void PrefixReuseAndBatchedChoices_EqualScoringFromScratch_AndThePlainForward(string choices)
    {
        var model = Model();
        string context = "the cat sat on the mat. q: where?";
        string[] conts = choices.Split('|');
        var shared = new LoglikelihoodScorer(model, Tok).Score(context, conts);
        var scorer = new LoglikelihoodScorer(model, Tok) { ShareContext = false };
        var scratch = scorer.Score(context, conts);
        Assert.Equal(0, scorer.Truncated);
        for (int i = 0; i < conts.Length; i++)
        {
            var (c, k) = new LoglikelihoodScorer(model, Tok).Encode(context, conts[i]);
            var (refSum, refGreedy) = Reference(model, c, k);
            Assert.True(Math.Abs(refSum - scratch[i].LogLikelihood) < 1e-4, $"scratch {i}: {refSum} vs {scratch[i].LogLikelihood}, shared {shared[i].LogLikelihood}");
            Assert.Equal(refSum, shared[i].LogLikelihood, 1e-4);
            Assert.Equal(refGreedy, shared[i].IsGreedy);
            Assert.Equal(k.Length, shared[i].Tokens);
        }
    }

    [Fact]
    public void MultipleChoice_AccAndAccNorm_FollowTheReferenceLogLikelihoods()
    {
        var model = Model();
        var docs = new List<TaskDocument>
        {
            Mc("abc", ["d", "defghijk", "zz"], 0, 1), Mc("hello wor", ["ld", "m", "ld and more words"], 0, 2),
            Mc("1 2 3", ["4", "45", "456", "4567"], 3, 3), Mc("x", ["y", "yy"], 1, 4),
        };
        var r = TaskEvaluator.Run(model, Tok, new EvalTask("t", null, [], docs), new TaskEvalOptions { MutualInfo = true });
        int acc = 0, norm = 0, mi = 0;
        foreach (var d in docs)
        {
            var ll = d.Choices.Select(c => RefScore(model, d.Context, " " + c)).ToArray();
            var un = d.Choices.Select(c => RefScore(model, "", " " + c)).ToArray();
            int a = Array.IndexOf(ll, ll.Max());
            var n = ll.Select((x, i) => x / d.Choices[i].Length).ToArray();
            var m = ll.Select((x, i) => x - un[i]).ToArray();
            if (a == d.Gold) acc++;
            if (Array.IndexOf(n, n.Max()) == d.Gold) norm++;
            if (Array.IndexOf(m, m.Max()) == d.Gold) mi++;
        }
        Assert.Equal(acc / 4.0, r.Acc);
        Assert.Equal(norm / 4.0, r.AccNorm);
        Assert.Equal(mi / 4.0, r.AccMutualInfo);
        Assert.Equal(4, r.Examples);
    }

    [Fact]
    public void AccAndAccNorm_DisagreeWhenLengthsDiffer()
    {
        // Summed: -2 beats -3. Per character: -3/6 = -0.5 beats -2/1.
        var (acc, norm) = TaskEvaluator.Predict([-2.0, -3.0], ["a", "abcdef"]);
        Assert.Equal(0, acc);
        Assert.Equal(1, norm);
    }

    [Fact]
    public void Loglikelihood_IsGreedy_AndPerplexity_MatchTheReference()
    {
        var model = Model();
        // The model's own greedy continuation is greedy by construction; changing its last character is not.
        string ctx = "abc def";
        var ids = Tok.Encode(ctx).ToList();
        var logits = new float[model.VocabSize * 64];
        for (int s = 0; s < 3; s++)
        {
            model.ForwardLogits(ids.ToArray(), 1, ids.Count, logits);
            var row = logits.AsSpan((ids.Count - 1) * model.VocabSize, model.VocabSize);
            int arg = 0;
            for (int v = 1; v < row.Length; v++) if (row[v] > row[arg]) arg = v;
            ids.Add(arg);
        }
        string greedy = Tok.Decode(ids.ToArray()[Tok.Encode(ctx).Length..]);
        string other = greedy[..^1] + (greedy[^1] == 'q' ? "r" : "q");
        var docs = new List<TaskDocument>
        {
            new(TaskKind.Loglikelihood, "t", 1) { Context = ctx, Continuation = greedy },
            new(TaskKind.Loglikelihood, "t", 2) { Context = ctx, Continuation = other },
        };
        var r = TaskEvaluator.Run(model, Tok, new EvalTask("t", null, [], docs), new TaskEvalOptions());
        Assert.Equal([true, false], r.Correct);
        Assert.Equal(0.5, r.Acc);
        double mean = (RefScore(model, ctx, greedy) + RefScore(model, ctx, other)) / 2;
        Assert.Equal(Math.Exp(-mean), r.Perplexity!.Value, 1e-5 * Math.Exp(-mean));
    }

    [Fact]
    public void Rolling_WindowsAsLmEval_PerplexityBitsPerByteWordPerplexity()
    {
        var model = Model(context: 16);
        string text = "the quick brown fox jumps over the lazy dog. 12345 and more";
        var r = TaskEvaluator.Run(model, Tok, new EvalTask("t", null, [], [new TaskDocument(TaskKind.Rolling, "t", 1) { Text = text }]), new TaskEvalOptions());
        // Reference windows (lm-eval get_rolling_token_windows, context_len 1): predict tokens in disjoint blocks of
        // T = 16, each block from one plain forward over the T tokens before each prediction (prefix token first).
        int[] x = Tok.Encode(text);
        int prefix = new LoglikelihoodScorer(model, Tok).PrefixToken;
        double sum = 0;
        for (int start = 0; start < x.Length; start += 16)
        {
            int len = Math.Min(16, x.Length - start), end = start + len;
            int[] input = start == 0 ? [prefix, .. x[..(len - 1)]] : x[(end - 17)..(end - 1)];
            var logits = new float[input.Length * model.VocabSize];
            model.ForwardLogits(input, 1, input.Length, logits);
            for (int j = 0; j < len; j++)
            {
                var row = logits.AsSpan((input.Length - len + j) * model.VocabSize, model.VocabSize);
                sum += row[x[end - len + j]] - Sampling.LogSumExp(row);
            }
        }
        Assert.Equal(Math.Exp(-sum / x.Length), r.Perplexity!.Value, 1e-3);
        Assert.Equal(-sum / text.Length / Math.Log(2), r.BitsPerByte!.Value, 1e-4);
        Assert.Equal(Math.Exp(-sum / 12), r.WordPerplexity!.Value, 1e-2 * r.WordPerplexity.Value);
        Assert.Equal(12, TaskEvaluator.CountWords(text));
    }

    [Fact]
    public void GenerateUntil_StopsAtTheStopSequence_AndScoresExactMatch()
    {
        var model = Model();
        var scorer = new LoglikelihoodScorer(model, Tok);
        string free = scorer.Generate("abc", ["never-appears"], 12);
        Assert.Equal(12, Tok.Encode(free).Length);
        string stop = free[3..5];
        int at = free.IndexOf(stop, StringComparison.Ordinal);
        Assert.Equal(free[..at], new LoglikelihoodScorer(model, Tok).Generate("abc", [stop], 12));
        var docs = new List<TaskDocument>
        {
            new(TaskKind.GenerateUntil, "t", 1) { Context = "abc", Answer = " " + free[..at] + " ", Until = [stop] },
            new(TaskKind.GenerateUntil, "t", 2) { Context = "abc", Answer = "wrong", Until = [stop] },
        };
        var r = TaskEvaluator.Run(model, Tok, new EvalTask("t", null, [], docs), new TaskEvalOptions { MaxGenTokens = 12 });
        Assert.Equal(0.5, r.ExactMatch);
    }

    [Fact]
    public void FewShotPrompt_GoldenStrings()
    {
        var train = new List<TaskDocument> { Mc("2+2=", ["3", "4"], 1, 1, "train"), Mc("1+1=", ["2", "5"], 0, 2, "train"), Mc("3+1=", ["4", "1"], 0, 3, "train") };
        var doc = Mc("5+1=", ["6", "7"], 0, 4);
        Assert.Equal("Sums.\n\n2+2= 4\n\n1+1= 2\n\n5+1=", FewShotSampler.Build("Sums.\n\n", train[..2], doc));
        Assert.Equal("5+1=", FewShotSampler.Build(null, [], doc));
        var lambada = new TaskDocument(TaskKind.Loglikelihood, "t", 9) { Context = "a b", Continuation = " c" };
        Assert.Equal("a b c\n\na b", FewShotSampler.Build(null, [lambada], lambada));
        // Seeded sampler: the same seed gives the same prompts, a train document is never its own example.
        var task = new EvalTask("t", null, train, [.. train, doc]);
        var s1 = new FewShotSampler(task, 2, 1234);
        var s2 = new FewShotSampler(task, 2, 1234);
        foreach (var d in task.Test)
        {
            var ex = s1.Examples(d);
            Assert.Equal(ex, s2.Examples(d));
            Assert.DoesNotContain(d, ex);
            Assert.Equal(2, ex.Distinct().Count());
        }
        Assert.Equal("3+1= 4\n\n1+1= 2\n\n5+1=", new FewShotSampler(task, 2, 1234).Prompt(doc));
    }

    [Fact]
    public void LongContext_IsLeftTruncated_Counted_AndScoredAsTheTruncatedInput()
    {
        var model = Model(context: 16);
        string context = "abcdefghijklmnopqrstuvwxyz0123456789";
        var scorer = new LoglikelihoodScorer(model, Tok);
        var s = scorer.Score(context, [" xy", " z"]);
        Assert.Equal(1, scorer.Truncated);
        var (c, k) = scorer.Encode(context, " xy");
        int keep = 16 - (3 - 1); // the longest continuation has 3 tokens
        Assert.Equal(Reference(model, c[^keep..], k).Sum, s[0].LogLikelihood, 1e-4);
        var r = TaskEvaluator.Run(model, Tok, new EvalTask("t", null, [], [Mc(context, ["xy", "z"], 0)]), new TaskEvalOptions());
        Assert.Equal(1, r.Truncated);
    }

    [Fact]
    public void HellaSwagAndLambada_PublishedLayouts_AreReadAsLmEvalDoes()
    {
        // A line shaped as rowanz/hellaswag's hellaswag_val.jsonl (fields as published).
        string hs = Path.Combine(_dir, "hellaswag_val.jsonl");
        File.WriteAllText(hs,
            "{\"ind\": 24, \"activity_label\": \"Roof shingle removal\", \"ctx_a\": \"A man is sitting on a roof.\", \"ctx_b\": \"he\", " +
            "\"ctx\": \"A man is sitting on a roof. he\", \"split\": \"val\", \"split_type\": \"indomain\", \"label\": 3, " +
            "\"endings\": [\"is using wrap to wrap a pair of skis.\", \"is ripping level tiles off.\", \"is holding a rubik's cube.\", \"starts pulling up roofing on a roof.\"], \"source_id\": \"activitynet~v_-JhWjGDPHMY\"}\n" +
            "{\"ind\": 9, \"activity_label\": \"Personal Care and Style\", \"ctx_a\": \"[header] How to dye your hair [title] Pick a color.\", \"ctx_b\": \"\", " +
            "\"ctx\": \"x\", \"split\": \"val\", \"split_type\": \"zeroshot\", \"label\": \"0\", \"endings\": [\"[step] Rinse  well.\", \"b\", \"c\", \"d\"], \"source_id\": \"wikihow~1\"}\n");
        var (docs, _) = TaskFile.Read(hs);
        Assert.Equal("Roof shingle removal: A man is sitting on a roof. He", docs[0].Context);
        Assert.Equal(3, docs[0].Gold);
        Assert.Equal("starts pulling up roofing on a roof.", docs[0].Choices[3]);
        Assert.Equal("Personal Care and Style: How to dye your hair. Pick a color.", docs[1].Context);
        Assert.Equal(" Rinse well.", docs[1].Choices[0]);
        Assert.Equal(0, docs[1].Gold);
        // LAMBADA (lambada_test.jsonl as EleutherAI publishes it): {"text"}; the last word is the target.
        string lam = Path.Combine(_dir, "lambada_test.jsonl");
        File.WriteAllText(lam, "{\"text\": \"in my palm is a clear stone , and inside it is a small ivory statuette\"}\n");
        var l = TaskFile.Read(lam).Documents[0];
        Assert.Equal(TaskKind.Loglikelihood, l.Kind);
        Assert.Equal("in my palm is a clear stone , and inside it is a small ivory", l.Context);
        Assert.Equal(" statuette", l.Continuation);
    }

    [Fact]
    public void OurSchema_AllFourKinds_SplitAndDescription()
    {
        string f = Path.Combine(_dir, "mine.jsonl");
        File.WriteAllLines(f, [
            "{\"description\": \"Answer.\\n\\n\"}",
            "{\"context\": \"q1\", \"choices\": [\"a\", \"b\"], \"gold\": 1, \"split\": \"train\"}",
            "{\"context\": \"q2\", \"choices\": [\"a\", \"b\"], \"gold\": 0}",
            "", "{\"context\": \"c\", \"continuation\": \" d\"}", "{\"text\": \"doc\"}", "{\"context\": \"2+2=\", \"answer\": \"4\", \"until\": \"\\n\"}",
        ]);
        var task = TaskFile.Load(f);
        Assert.Equal("Answer.\n\n", task.Description);
        Assert.Single(task.Train);
        Assert.Equal([TaskKind.MultipleChoice, TaskKind.Loglikelihood, TaskKind.Rolling, TaskKind.GenerateUntil], task.Test.Select(d => d.Kind));
        Assert.Equal(5, task.Test[1].Line);
        Assert.Equal(["\n"], task.Test[3].Until);
    }

    [Theory]
    [InlineData("{\"context\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 2}", ":2: field 'gold' is 2: expected an index from 0 to 1")]
    [InlineData("{\"context\": \"q\", \"choices\": [\"a\", \"b\"]}", ":2: field 'gold' is missing")]
    [InlineData("{\"context\": 5, \"continuation\": \"x\"}", ":2: field 'context' is 5: expected a string")]
    [InlineData("{\"context\": \"q\", \"choices\": \"ab\", \"gold\": 0}", ":2: field 'choices' is \"ab\": expected an array of strings")]
    [InlineData("{\"question\": \"q\"}", ":2: no task fields")]
    [InlineData("{\"context\": \"q\"", ":2: not valid JSON")]
    [InlineData("[1, 2]", ":2: a JSON array")]
    public void SchemaViolations_NameFileLineAndField(string badLine, string expected)
    {
        string f = Path.Combine(_dir, "bad.jsonl");
        File.WriteAllLines(f, ["{\"text\": \"fine\"}", badLine]);
        var e = Assert.Throws<FormatException>(() => TaskFile.Load(f));
        Assert.StartsWith(f + expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void MoreShotsThanTheTrainSplit_IsAnError()
    {
        var task = new EvalTask("t", null, [Mc("a", ["b", "c"], 0, 1, "train")], [Mc("d", ["e", "f"], 0, 2)]);
        var e = Assert.Throws<ArgumentException>(() => TaskEvaluator.Run(Model(), Tok, task, new TaskEvalOptions { Shots = 2 }));
        Assert.Contains("2 shots is larger than the train split", e.Message);
    }

    [Fact]
    public void BuiltinIcl_EpisodesAreFreshMapsInThePromptFormat_HeldOutTasksNeverTrained()
    {
        foreach (bool heldOut in new[] { false, true })
        {
            string text = IclEpisodes.Generate(20, 1, heldOut);
            var episodes = text.Split("#\n\n", StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(20, episodes.Length);
            foreach (var ep in episodes)
            {
                var ex = ep.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal(IclEpisodes.ExamplesPerEpisode, ex.Length);
                Assert.All(ex, e => Assert.Matches("^[a-z] [A-Z]$", e));
                var map = ex.Select(e => (Key: e[0] - 'a', Label: e[2] - 'A')).Distinct().ToArray();
                Assert.Equal(map.Length, map.Select(m => m.Key).Distinct().Count()); // a function: one label per letter
                Assert.True(map.Length <= IclEpisodes.KeysPerTask);
                if (map.Length == IclEpisodes.KeysPerTask)
                    Assert.Equal(heldOut, IclEpisodes.IsHeldOut(map.Select(m => m.Key).ToArray(), map.Select(m => m.Label).ToArray()));
            }
        }
        var tasks = BuiltinTasks.Create("icl");
        Assert.Equal(IclEpisodes.HeldOutTaskCount, tasks.Count);
        Assert.All(tasks, t =>
        {
            Assert.Equal(IclEpisodes.KeysPerTask, t.Test.Count);
            Assert.Equal(IclEpisodes.KeysPerTask * IclEpisodes.PoolCopies, t.Train.Count);
            Assert.All(t.Test, d => Assert.Equal(4, t.Train.Count(p => p.Context == d.Context && p.Gold == d.Gold)));
        });
        var grammar = BuiltinTasks.Create("grammar")[0];
        Assert.Equal(BuiltinTasks.GrammarQuestions, grammar.Test.Count);
        Assert.All(grammar.Test, d => Assert.True(NextToken.Data.GrammarCorpus.IsGrammatical(d.Context + " " + d.Choices[d.Gold])));
    }
}
