// LinearHead: a small head on the model's hidden states — scalar (value, reward) or classification — with its own arenas.
using NextToken.Interop;
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Model.Heads;

/// <summary>
/// out = h·Wᵀ + b over chosen rows of the final hidden states (B·T, C): every row for a value head, the last token of
/// each sequence for a reward model or a GPT-1 classifier. Its weight (K, C) and bias (K) live in its own parameter
/// and gradient arenas (<see cref="Layout"/>), so an optimizer updates it beside the model's, and it is trained
/// through the model's two-phase backward: <see cref="Backward"/> adds dL/dh into the (B·T, C) buffer passed to
/// <c>GptModel.Backward(dLogProbs, dHidden)</c>.
/// </summary>
public sealed class LinearHead
{
    private readonly TensorSlot _w, _b;

    /// <summary>A head with <paramref name="outputs"/> outputs on hidden states of width <paramref name="width"/>, weights N(0, <paramref name="initStd"/>), bias 0.</summary>
    public LinearHead(int width, int outputs, ulong seed = 1, float initStd = 0.02f, string name = "head")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputs, 1);
        Width = width; Outputs = outputs;
        Layout = new TensorLayout();
        _w = Layout.Add(name + ".weight", TensorKind.Matrix, outputs, width);
        _b = Layout.Add(name + ".bias", TensorKind.Bias, outputs);
        Parameters = new float[Layout.Size];
        Gradients = new float[Layout.Size];
        new Rng(seed).FillNormal(Parameters.AsSpan((int)_w.Offset, (int)_w.Length), 0f, initStd);
    }

    /// <summary>A scalar head (value head for PPO, reward model): one output per row.</summary>
    public static LinearHead Scalar(int width, ulong seed = 1, string name = "score") => new(width, 1, seed, name: name);

    /// <summary>A classification head (GPT-1 task heads): one logit per class.</summary>
    public static LinearHead Classifier(int width, int classes, ulong seed = 1, string name = "classifier") => new(width, classes, seed, name: name);

    /// <summary>C.</summary>
    public int Width { get; }
    /// <summary>K.</summary>
    public int Outputs { get; }
    /// <summary>The head's tensors (weight (K, C), bias (K)).</summary>
    public TensorLayout Layout { get; }
    /// <summary>The head's parameters (see <see cref="Layout"/>).</summary>
    public float[] Parameters { get; }
    /// <summary>The head's gradients (accumulated by <see cref="Backward"/>).</summary>
    public float[] Gradients { get; }
    private float[] _rowsIn = [], _dRows = [];

    /// <summary>
    /// hidden is (rows of the batch, C); <paramref name="rows"/> picks which rows (empty: all); output is (picked rows, K).
    /// The picked rows are gathered into a buffer kept for <see cref="Backward"/>.
    /// </summary>
    public void Forward(ReadOnlySpan<float> hidden, ReadOnlySpan<int> rows, Span<float> output)
    {
        int C = Width, K = Outputs, R = rows.IsEmpty ? hidden.Length / C : rows.Length;
        if (hidden.Length % C != 0) throw new ArgumentException($"hidden has {hidden.Length} floats, not a multiple of the width {C}");
        if (output.Length < R * K) throw new ArgumentException($"output needs {R * K} floats (rows × outputs)");
        if (_rowsIn.Length < R * C) _rowsIn = new float[R * C];
        var x = _rowsIn.AsSpan(0, R * C);
        Gather(hidden, rows, x, C);
        Matmul.Forward(x, Parameters.AsSpan((int)_w.Offset, (int)_w.Length), Parameters.AsSpan((int)_b.Offset, K), output, R, C, K);
    }

    /// <summary>
    /// dOutput is (picked rows, K) for the rows of the last <see cref="Forward"/>; accumulates the head's gradients and
    /// adds dL/dh into <paramref name="dHidden"/> (same shape as the forward's hidden) at the picked rows.
    /// </summary>
    public void Backward(ReadOnlySpan<float> dOutput, ReadOnlySpan<int> rows, Span<float> dHidden)
    {
        int C = Width, K = Outputs, R = rows.IsEmpty ? dHidden.Length / C : rows.Length;
        if (dOutput.Length < R * K) throw new ArgumentException($"dOutput needs {R * K} floats (rows × outputs)");
        if (_dRows.Length < R * C) _dRows = new float[R * C];
        var dx = _dRows.AsSpan(0, R * C);
        dx.Clear();
        Matmul.Backward(dOutput[..(R * K)], _rowsIn.AsSpan(0, R * C), Parameters.AsSpan((int)_w.Offset, (int)_w.Length), dx,
                        Gradients.AsSpan((int)_w.Offset, (int)_w.Length), Gradients.AsSpan((int)_b.Offset, K), R, C, K);
        for (int r = 0; r < R; r++)
        {
            int row = rows.IsEmpty ? r : rows[r];
            var d = dHidden.Slice(row * C, C);
            System.Numerics.Tensors.TensorPrimitives.Add(d, dx.Slice(r * C, C), d);
        }
    }

    /// <summary>Writes the head's tensors (<c>NAME.weight</c>, <c>NAME.bias</c>) to a safetensors file (F32).</summary>
    public void Save(string path)
    {
        var entries = Layout.Slots.Select(s => new SafeTensorsEntry(s.Name, s.Shape, () => Parameters.AsSpan((int)s.Offset, (int)s.Length).ToArray())).ToList();
        SafeTensorsWriter.Write(path, entries, "F32");
    }

    /// <summary>Reads the head's tensors from a safetensors file written by <see cref="Save"/>; a missing or misshapen tensor is an error naming it.</summary>
    public void Load(string path)
    {
        using var f = SafeTensorsFile.Open(path);
        foreach (var s in Layout.Slots)
        {
            if (!f.Tensors.TryGetValue(s.Name, out var info) || info.ElementCount != s.Length)
                throw new InvalidDataException($"{path}: tensor '{s.Name}' missing or of the wrong size (expected {string.Join("×", s.Shape)})");
            f.Read(s.Name, Parameters.AsSpan((int)s.Offset, (int)s.Length));
        }
    }

    private static void Gather(ReadOnlySpan<float> hidden, ReadOnlySpan<int> rows, Span<float> x, int C)
    {
        if (rows.IsEmpty) { hidden.CopyTo(x); return; }
        int available = hidden.Length / C;
        for (int r = 0; r < rows.Length; r++)
        {
            if ((uint)rows[r] >= (uint)available) throw new ArgumentOutOfRangeException(nameof(rows), $"row {rows[r]} is outside the {available} hidden rows");
            hidden.Slice(rows[r] * C, C).CopyTo(x.Slice(r * C, C));
        }
    }
}
