// ShapesTask: builtin:shapes — deterministic 32×32 RGB scenes of one to four solid shapes, with questions whose answers
// follow exactly from the scene (colour, shape, count, left-of, above, caption).
using NextToken.Tensors;

namespace NextToken.Vision;

/// <summary>One shape of a scene: its kind, colour and grid cell (column, row of the 2 × 2 grid).</summary>
public sealed record Shape(string Kind, string Colour, int Column, int Row, int CenterX, int CenterY, int HalfSize);

/// <summary>A question about an image with its exact answer and type (colour, shape, count, left, above, caption).</summary>
public sealed record VisionQuestion(string Type, string Question, string Answer)
{
    /// <summary>
    /// The grid cells the question names, one character per cell in reading order (cell = row · 2 + column): '1' the first
    /// (or only) shape it names, '2' the second, '0' neither; "" when it names none in particular (a caption, user data).
    /// "what colour is the circle?" with the circle bottom left: "0010". A training signal only (grounding targets).
    /// </summary>
    public string Referents { get; init; } = "";
}

/// <summary>A rendered image (S × S × 3, values in [0, 1]) with the shapes drawn on it.</summary>
public sealed record ShapesScene(float[] Pixels, IReadOnlyList<Shape> Shapes);

/// <summary>
/// The built-in vision task (docs/multimodal.md). Scenes: a black 32 × 32 canvas divided into a 2 × 2 grid of 16-pixel
/// cells; one to four shapes, each in its own cell, of a kind (square, circle, triangle, cross) and colour (red, green,
/// blue, yellow, white, purple), 9 to 13 pixels across, its centre moved up to 2 pixels from the cell's centre.
/// Questions use the templates of <see cref="Questions"/>; answers are single words except captions.
/// </summary>
public static class ShapesTask
{
    /// <summary>Image side in pixels.</summary>
    public const int ImageSize = 32;
    /// <summary>The question types, in report order.</summary>
    public static IReadOnlyList<string> Types { get; } = ["colour", "shape", "count", "left", "above", "caption"];
    /// <summary>Shape kinds.</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["square", "circle", "triangle", "cross"];
    /// <summary>Colour names with their RGB values.</summary>
    public static IReadOnlyList<(string Name, byte R, byte G, byte B)> Colours { get; } =
        [("red", 230, 30, 30), ("green", 30, 190, 40), ("blue", 40, 90, 240), ("yellow", 240, 220, 30), ("white", 250, 250, 250), ("purple", 150, 40, 200)];
    private static readonly string[] Numbers = ["zero", "one", "two", "three", "four"];

    /// <summary>Every character questions and answers use (the task's character vocabulary).</summary>
    public const string Alphabet = " \n.,?abcdefghijklmnopqrstuvwxyz";

    /// <summary>A random scene from <paramref name="rng"/>.</summary>
    public static ShapesScene Sample(ref Rng rng)
    {
        int count = 1 + rng.NextInt(4);
        var cells = new List<int> { 0, 1, 2, 3 };
        var shapes = new List<Shape>(count);
        for (int i = 0; i < count; i++)
        {
            int cell = cells[rng.NextInt(cells.Count)];
            cells.Remove(cell);
            int col = cell % 2, row = cell / 2;
            int half = 4 + rng.NextInt(3); // 9..13 pixels across
            int cx = col * 16 + 8 + rng.NextInt(5) - 2, cy = row * 16 + 8 + rng.NextInt(5) - 2;
            shapes.Add(new Shape(Kinds[rng.NextInt(Kinds.Count)], Colours[rng.NextInt(Colours.Count)].Name, col, row, cx, cy, half));
        }
        shapes.Sort((a, b) => (a.Row * 2 + a.Column).CompareTo(b.Row * 2 + b.Column));
        return new ShapesScene(Render(shapes), shapes);
    }

    /// <summary>Draws <paramref name="shapes"/> on a black canvas (pixel centres at integer + 0.5).</summary>
    public static float[] Render(IReadOnlyList<Shape> shapes)
    {
        var px = new float[ImageSize * ImageSize * 3];
        foreach (var s in shapes)
        {
            var (_, r, g, b) = Colours.First(c => c.Name == s.Colour);
            for (int y = 0; y < ImageSize; y++)
                for (int x = 0; x < ImageSize; x++)
                {
                    if (!Covers(s, x + 0.5 - s.CenterX, y + 0.5 - s.CenterY)) continue;
                    int i = (y * ImageSize + x) * 3;
                    px[i] = r / 255f; px[i + 1] = g / 255f; px[i + 2] = b / 255f;
                }
        }
        return px;
    }

    private static bool Covers(Shape s, double dx, double dy)
    {
        double h = s.HalfSize;
        return s.Kind switch
        {
            "square" => Math.Abs(dx) <= h && Math.Abs(dy) <= h,
            "circle" => dx * dx + dy * dy <= h * h,
            "triangle" => dy >= -h && dy <= h && Math.Abs(dx) <= (dy + h) / 2, // apex at the top
            "cross" => (Math.Abs(dx) <= h / 3 && Math.Abs(dy) <= h) || (Math.Abs(dy) <= h / 3 && Math.Abs(dx) <= h),
            _ => throw new ArgumentException($"unknown shape kind '{s.Kind}'"),
        };
    }

    /// <summary>
    /// Every question the scene answers unambiguously: "what colour is the KIND?" (KIND unique in the scene), "what shape
    /// is the COLOUR one?" (COLOUR unique), "how many KINDs are there?" (each kind, zero to four), "is the C1 K1 left of the
    /// C2 K2?" and "is the C1 K1 above the C2 K2?" (both shapes named uniquely; yes when its grid column, or row, is
    /// smaller), "describe the image." (the shapes in reading order: "a red circle, a blue square and a green cross.").
    /// </summary>
    public static IReadOnlyList<VisionQuestion> Questions(IReadOnlyList<Shape> shapes)
    {
        var q = new List<VisionQuestion>();
        foreach (var s in shapes)
            if (shapes.Count(o => o.Kind == s.Kind) == 1) q.Add(new("colour", $"what colour is the {s.Kind}?", s.Colour) { Referents = Refs(s) });
        foreach (var s in shapes)
            if (shapes.Count(o => o.Colour == s.Colour) == 1) q.Add(new("shape", $"what shape is the {s.Colour} one?", s.Kind) { Referents = Refs(s) });
        foreach (string k in Kinds)
            q.Add(new("count", $"how many {Plural(k)} are there?", Numbers[shapes.Count(o => o.Kind == k)]) { Referents = Refs([.. shapes.Where(o => o.Kind == k)]) });
        var named = Named(shapes);
        foreach (var a in named)
            foreach (var b in named)
            {
                if (ReferenceEquals(a, b)) continue;
                q.Add(new("left", $"is the {a.Colour} {a.Kind} left of the {b.Colour} {b.Kind}?", a.Column < b.Column ? "yes" : "no") { Referents = Refs(a, b) });
                q.Add(new("above", $"is the {a.Colour} {a.Kind} above the {b.Colour} {b.Kind}?", a.Row < b.Row ? "yes" : "no") { Referents = Refs(a, b) });
            }
        q.Add(new("caption", "describe the image.", Caption(shapes)));
        return q;
    }

    /// <summary>
    /// Auxiliary training questions (not scored): "where is the C K?" for each uniquely named shape, answered with its grid
    /// cell ("top left", "top right", "bottom left", "bottom right"). They teach the first half of left/above — finding a
    /// named shape and reading its place — on its own.
    /// </summary>
    public static IReadOnlyList<VisionQuestion> WhereQuestions(IReadOnlyList<Shape> shapes) =>
        [.. Named(shapes).Select(s => new VisionQuestion("where", $"where is the {s.Colour} {s.Kind}?", Cell(s)) { Referents = Refs(s) })];

    /// <summary>
    /// Auxiliary training questions (not scored) about two uniquely named shapes, in the words of left/above: "where are
    /// the C1 K1 and the C2 K2?", answered "top left and bottom right". The second shape's words sit where a relation
    /// question has its second shape ("is the C1 K1 left of the C2 K2?": the 8th and 9th tokens), so finding it is taught
    /// at the place the relation reads it; "where is the C K?" teaches only the first.
    /// </summary>
    public static IReadOnlyList<VisionQuestion> WherePairQuestions(IReadOnlyList<Shape> shapes)
    {
        var named = Named(shapes);
        return [.. from a in named from b in named where !ReferenceEquals(a, b)
                   select new VisionQuestion("where2", $"where are the {a.Colour} {a.Kind} and the {b.Colour} {b.Kind}?", $"{Cell(a)} and {Cell(b)}") { Referents = Refs(a, b) }];
    }

    /// <summary>
    /// Auxiliary training questions (not scored): "where in the whole image is the C K?" for each uniquely named shape,
    /// answered with its cell as <see cref="WhereQuestions"/>. The shape's words are the 8th and 9th tokens, where a relation
    /// question names its second shape, and the first answer token is read at the image's end, where a relation's answer is.
    /// </summary>
    public static IReadOnlyList<VisionQuestion> WhereSecondQuestions(IReadOnlyList<Shape> shapes) =>
        [.. Named(shapes).Select(s => new VisionQuestion("where3", $"where in the whole image is the {s.Colour} {s.Kind}?", Cell(s)) { Referents = Refs(s) })];

    /// <summary>Every auxiliary question of the scene: where, where2 (pairs) and where3 ("in the whole image").</summary>
    public static IReadOnlyList<VisionQuestion> AuxiliaryQuestions(IReadOnlyList<Shape> shapes) =>
        [.. WhereQuestions(shapes), .. WherePairQuestions(shapes), .. WhereSecondQuestions(shapes)];

    // The shapes no other shape of the scene shares both kind and colour with (named uniquely by "the C K").
    private static List<Shape> Named(IReadOnlyList<Shape> shapes) => [.. shapes.Where(s => shapes.Count(o => o.Kind == s.Kind && o.Colour == s.Colour) == 1)];

    // Referents of a question naming `first` (and `second`): '1' at the first one's cell, '2' at the second's (see
    // VisionQuestion.Referents). With several shapes as `first` (a count), '1' at each.
    private static string Refs(Shape first, Shape? second = null) => Refs([first], second);

    private static string Refs(IReadOnlyList<Shape> first, Shape? second = null)
    {
        var cells = "0000".ToCharArray();
        foreach (var s in first) cells[s.Row * 2 + s.Column] = '1';
        if (second is not null) cells[second.Row * 2 + second.Column] = '2';
        return new string(cells);
    }

    // A shape's grid cell in words: "top left" ... "bottom right".
    private static string Cell(Shape s) => (s.Row == 0 ? "top " : "bottom ") + (s.Column == 0 ? "left" : "right");

    /// <summary>"a red circle, a blue square and a green cross." (reading order of the cells).</summary>
    public static string Caption(IReadOnlyList<Shape> shapes)
    {
        var parts = shapes.OrderBy(s => s.Row * 2 + s.Column).Select(s => $"a {s.Colour} {s.Kind}").ToList();
        return (parts.Count == 1 ? parts[0] : string.Join(", ", parts.Take(parts.Count - 1)) + " and " + parts[^1]) + ".";
    }

    private static string Plural(string kind) => kind == "cross" ? "crosses" : kind + "s";

    /// <summary>One question per type that the scene has, chosen with <paramref name="rng"/> (types missing from a scene are skipped).</summary>
    public static VisionQuestion PickQuestion(IReadOnlyList<VisionQuestion> questions, ref Rng rng)
    {
        // Types first, uniformly among those present, so that rare types (colour, shape) are trained as often as counts.
        var types = questions.Select(x => x.Type).Distinct().ToList();
        string type = types[rng.NextInt(types.Count)];
        var ofType = questions.Where(x => x.Type == type).ToList();
        return ofType[rng.NextInt(ofType.Count)];
    }

    /// <summary>
    /// Exact-match scoring: the answer with surrounding whitespace removed must equal the expected one exactly.
    /// Returns (overall, per type) accuracy over <paramref name="results"/>.
    /// </summary>
    public static (double Overall, IReadOnlyDictionary<string, double> ByType) Score(IEnumerable<(string Type, string Expected, string Got)> results)
    {
        var list = results.ToList();
        if (list.Count == 0) return (double.NaN, new Dictionary<string, double>());
        static bool Ok((string Type, string Expected, string Got) r) => string.Equals(r.Got.Trim(), r.Expected.Trim(), StringComparison.Ordinal);
        var byType = list.GroupBy(r => r.Type).ToDictionary(g => g.Key, g => g.Count(Ok) / (double)g.Count());
        return (list.Count(Ok) / (double)list.Count, byType);
    }
}
