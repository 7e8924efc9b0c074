// ScalarModel: a GPT trunk with a scalar head — the reward model (score on the last token) and PPO's value model (a value
// at every position) — with its files, and JointOptimizer: AdamW over a model and a head with one global clip.
using System.Globalization;
using System.Text;
using System.Text.Json;
using NextToken.Interop;
using NextToken.Model;
using NextToken.Model.Heads;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Alignment;

/// <summary>
/// A GPT whose final hidden states feed a scalar head (<see cref="LinearHead.Scalar"/>): a reward model reads the head on
/// the last token of prompt + response, a value model on every position. Saved as a NextToken checkpoint plus
/// <c>reward_head.safetensors</c> (tensors <c>score.weight</c> (1, C), <c>score.bias</c> (1)) and <c>reward_head.json</c>.
/// </summary>
public sealed class ScalarModel
{
    /// <summary>Head weights file.</summary>
    public const string HeadFileName = "reward_head.safetensors";
    /// <summary>Head description file.</summary>
    public const string SpecFileName = "reward_head.json";
    private float[] _dHidden = [];
    private int[] _rows = [];

    /// <summary>Wraps a model, its tokenizer and a head of the model's width.</summary>
    public ScalarModel(GptModel model, ITokenizer tokenizer, LinearHead head)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(head);
        if (head.Width != model.HiddenSize || head.Outputs != 1) throw new ArgumentException($"the head must be scalar and {model.HiddenSize} wide");
        Model = model; Tokenizer = tokenizer; Head = head;
    }

    /// <summary>A scalar model initialised from <paramref name="model"/> (copied) with a head of zero weights (scores start at 0).</summary>
    public static ScalarModel FromPolicy(GptModel model, ITokenizer tokenizer) =>
        new(model.Clone(), tokenizer, new LinearHead(model.HiddenSize, 1, initStd: 0f, name: "score"));

    /// <summary>A deep copy (a value model initialised from a reward model).</summary>
    public ScalarModel Clone()
    {
        var head = new LinearHead(Head.Width, 1, initStd: 0f, name: "score");
        Head.Parameters.CopyTo(head.Parameters, 0);
        return new ScalarModel(Model.Clone(), Tokenizer, head);
    }

    /// <summary>The trunk.</summary>
    public GptModel Model { get; }
    /// <summary>The tokenizer (a policy scored by this model must use the same one).</summary>
    public ITokenizer Tokenizer { get; }
    /// <summary>The scalar head.</summary>
    public LinearHead Head { get; }

    /// <summary>
    /// Runs inputs (B, T) and writes the head's output at <paramref name="rows"/> (flat indices b·T + t; empty: every
    /// position) into <paramref name="scores"/>.
    /// </summary>
    public void Forward(ReadOnlySpan<int> inputs, int B, int T, ReadOnlySpan<int> rows, Span<float> scores)
    {
        var hidden = Model.ForwardHidden(inputs, B, T);
        if (_rows.Length < rows.Length) _rows = new int[rows.Length];
        rows.CopyTo(_rows);
        Head.Forward(hidden, rows, scores);
    }

    /// <summary>Backward of the last <see cref="Forward"/> from dL/d(score) at the same rows: gradients accumulate in the head and the trunk.</summary>
    public void Backward(ReadOnlySpan<float> dScores, ReadOnlySpan<int> rows)
    {
        int n = Model.LastHidden.Length;
        if (_dHidden.Length != n) _dHidden = new float[n];
        Array.Clear(_dHidden);
        Head.Backward(dScores, rows, _dHidden);
        Model.BackwardFromHidden(_dHidden);
    }

    /// <summary>Scores of whole sequences (the head on each one's last token), batched by <paramref name="batch"/>.</summary>
    public float[] Score(IReadOnlyList<int[]> sequences, int batch = 32)
    {
        var scores = new float[sequences.Count];
        int T = Math.Min(Model.ContextLength, sequences.Count == 0 ? 1 : sequences.Max(s => s.Length));
        for (int i0 = 0; i0 < sequences.Count; i0 += batch)
        {
            int B = Math.Min(batch, sequences.Count - i0);
            var inputs = new int[B * T];
            var rows = new int[B];
            for (int b = 0; b < B; b++)
            {
                var s = sequences[i0 + b];
                var tail = s.Length > T ? s.AsSpan(s.Length - T) : s; // a sequence longer than the context is scored on its last T tokens
                tail.CopyTo(inputs.AsSpan(b * T));
                rows[b] = b * T + tail.Length - 1;
            }
            Forward(inputs, B, T, rows, scores.AsSpan(i0, B));
        }
        return scores;
    }

    /// <summary>Writes the trunk (a checkpoint with its tokenizer), the head and its description into <paramref name="directory"/>.</summary>
    public void Save(string directory, string kind = "reward")
    {
        Checkpoint.Save(directory, Model, tokenizer: Tokenizer);
        SaveHead(directory, Head, kind);
    }

    internal static void SaveHead(string directory, LinearHead head, string kind)
    {
        Directory.CreateDirectory(directory);
        head.Save(Path.Combine(directory, HeadFileName));
        string json = JsonSerializer.Serialize(new { kind, width = head.Width });
        Checkpoint.WriteAtomically(Path.Combine(directory, SpecFileName), s => s.Write(Encoding.UTF8.GetBytes(json)));
    }

    /// <summary>True when <paramref name="directory"/> holds a scalar head.</summary>
    public static bool IsScalarModel(string directory) => File.Exists(Path.Combine(directory, SpecFileName));

    /// <summary>Loads a reward (or value) model written by <see cref="Save"/>; errors name the file.</summary>
    public static ScalarModel Load(string directory)
    {
        string spec = Path.Combine(directory, SpecFileName);
        if (!File.Exists(spec)) throw new FileNotFoundException($"{spec}: not found; '{directory}' is not a reward model (reward model training writes one)", spec);
        var loaded = ModelFiles.Load(directory);
        var tokenizer = loaded.Tokenizer ?? throw new InvalidDataException($"{directory}: the reward model has no tokenizer");
        var head = new LinearHead(loaded.Model.HiddenSize, 1, initStd: 0f, name: "score");
        LoadHead(directory, head);
        return new ScalarModel(loaded.Model, tokenizer, head);
    }

    internal static void LoadHead(string directory, LinearHead head)
    {
        string path = Path.Combine(directory, HeadFileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: not found (the reward head's weights)", path);
        head.Load(path);
    }

    /// <summary>
    /// Throws when <paramref name="other"/> does not encode text exactly as <paramref name="expected"/> does (same size and
    /// the same bytes for every id): a reward model must read the policy's tokens.
    /// </summary>
    public static void RequireSameTokenizer(ITokenizer expected, ITokenizer other, string what)
    {
        if (expected.VocabSize != other.VocabSize)
            throw new InvalidDataException($"{what}'s tokenizer differs from the policy's: {other.VocabSize} tokens, the policy has {expected.VocabSize}");
        for (int id = 0; id < expected.VocabSize; id++)
            if (!expected.TokenBytes(id).SequenceEqual(other.TokenBytes(id)))
                throw new InvalidDataException($"{what}'s tokenizer differs from the policy's: token {id.ToString(CultureInfo.InvariantCulture)} is \"{Escape(other.TokenBytes(id))}\", the policy's is \"{Escape(expected.TokenBytes(id))}\"");
    }

    private static string Escape(ReadOnlySpan<byte> b) => Encoding.UTF8.GetString(b).Replace("\n", "\\n", StringComparison.Ordinal);
}

/// <summary>
/// AdamW over a model's trainable tensors and (optionally) a head, clipped by one global gradient norm over both, with
/// a file holding both moments and the step (<see cref="Save"/>/<see cref="Load"/>) for exact resume.
/// </summary>
public sealed class JointOptimizer
{
    private readonly GptModel _model;
    private readonly LinearHead? _head;
    private readonly AdamW _adam;
    private readonly AdamW? _headAdam;

    /// <summary>Creates zeroed moments; freeze tensors of <paramref name="model"/> before.</summary>
    public JointOptimizer(GptModel model, LinearHead? head, AdamWOptions options)
    {
        _model = model; _head = head;
        model.EnableGradients();
        _adam = new AdamW(model.Layout, model.GradientLayout, options);
        _headAdam = head is null ? null : new AdamW(head.Layout, options with { WeightDecay = 0f });
    }

    /// <summary>Steps taken.</summary>
    public long Step => _adam.Step;

    /// <summary>Zeroes the model's and head's gradients.</summary>
    public void ZeroGradients()
    {
        _model.EnableGradients();
        _model.ZeroGradients();
        if (_head is not null) Array.Clear(_head.Gradients);
    }

    /// <summary>One update at <paramref name="lr"/> after clipping the global norm to <paramref name="clip"/> (0: off); returns the norm before clipping.</summary>
    public float Update(float lr, float clip)
    {
        var g = _model.Gradients!;
        double sq = Sq(g);
        if (_head is not null) sq += Sq(_head.Gradients);
        float norm = (float)Math.Sqrt(sq);
        if (!float.IsFinite(norm)) throw new ArithmeticException($"the gradient norm is {norm}: no update was made");
        float scale = GradientClipping.ClipScale(norm, clip);
        _adam.Update(_model.Parameters, g, lr, scale, clearGradients: true);
        if (_head is not null) _headAdam!.Update(_head.Parameters, _head.Gradients, lr, scale, clearGradients: true);
        return norm;
    }

    private static double Sq(float[] g)
    {
        double s = 0;
        foreach (float x in g) s += (double)x * x;
        return s;
    }

    /// <summary>Writes the moments and step to <paramref name="path"/> (atomically).</summary>
    public void Save(string path)
    {
        var entries = new List<SafeTensorsEntry>
        {
            new("model.m", [_adam.M.Length], () => _adam.M), new("model.v", [_adam.V.Length], () => _adam.V),
        };
        if (_headAdam is not null)
        {
            entries.Add(new("head.m", [_headAdam.M.Length], () => _headAdam.M));
            entries.Add(new("head.v", [_headAdam.V.Length], () => _headAdam.V));
        }
        SafeTensorsWriter.Write(path, entries, "F32", new Dictionary<string, string>
        {
            ["step"] = _adam.Step.ToString(CultureInfo.InvariantCulture),
            ["head_step"] = (_headAdam?.Step ?? 0).ToString(CultureInfo.InvariantCulture),
        });
    }

    /// <summary>Reads what <see cref="Save"/> wrote; the model and head must have the same trainable tensors.</summary>
    public void Load(string path)
    {
        using var f = SafeTensorsFile.Open(path);
        void Read(string name, float[] into)
        {
            if (!f.Tensors.TryGetValue(name, out var info) || info.ElementCount != into.Length)
                throw new InvalidDataException($"{path}: optimizer tensor '{name}' missing or of the wrong size (expected {into.Length})");
            f.Read(name, into);
        }
        Read("model.m", _adam.M); Read("model.v", _adam.V);
        _adam.Step = long.Parse(f.Metadata["step"], CultureInfo.InvariantCulture);
        if (_headAdam is not null)
        {
            Read("head.m", _headAdam.M); Read("head.v", _headAdam.V);
            _headAdam.Step = long.Parse(f.Metadata["head_step"], CultureInfo.InvariantCulture);
        }
    }
}
