// SequenceSink: collects one sequence's tokens, log-probabilities and text, and decides when it is finished.
using NextToken.Tokenization;

namespace NextToken.Generation;

/// <summary>
/// Every strategy hands its chosen tokens to a sink, so end-of-text, stop strings, max new tokens, log-probabilities
/// and streaming behave the same whatever the strategy.
/// </summary>
internal sealed class SequenceSink
{
    private readonly ITokenizer? _tokenizer;
    private readonly int? _endOfText;
    private readonly GenerationOptions _o;
    private readonly Action<TextPiece>? _onPiece;
    private readonly StreamingTextDecoder? _decoder;
    private readonly int[] _topIds;
    private readonly float[] _topValues;
    private double _score;
    // Streaming attribution: _ends[i] is the decoded text's length once token i is in (int.MaxValue: its text never
    // shows — end-of-text, a token completing a stop string); Logprobs[.._attributed] went out with pieces covering
    // the first _emitted characters.
    private readonly List<int> _ends = [];
    private int _attributed, _emitted;

    public SequenceSink(ITokenizer? tokenizer, int? endOfText, GenerationOptions options, Action<TextPiece>? onPiece)
    {
        _tokenizer = tokenizer;
        _endOfText = options.StopAtEndOfText ? endOfText : null;
        _o = options;
        _onPiece = onPiece;
        _decoder = tokenizer is null ? null : new StreamingTextDecoder(options.StopStrings);
        _topIds = new int[options.TopLogprobs];
        _topValues = new float[options.TopLogprobs];
    }

    public List<int> Tokens { get; } = [];
    public List<TokenLogprob> Logprobs { get; } = [];
    public FinishReason? Finished { get; private set; }

    /// <summary>Adds a token chosen from <paramref name="rawLogits"/> (the model's unprocessed row); false when the sequence is done.</summary>
    public bool Add(int token, ReadOnlySpan<float> rawLogits)
    {
        double lse = Sampling.LogSumExp(rawLogits);
        IReadOnlyList<TopLogprob> top = [];
        if (_topIds.Length > 0)
        {
            int n = Sampling.TopN(rawLogits, _topIds, _topValues);
            var list = new TopLogprob[n];
            for (int i = 0; i < n; i++) list[i] = new TopLogprob(_topIds[i], (float)(_topValues[i] - lse));
            top = list;
        }
        return Add(token, (float)(rawLogits[token] - lse), top);
    }

    /// <summary>Adds a token whose log-probability is already known.</summary>
    public bool Add(int token, float logprob, IReadOnlyList<TopLogprob> top)
    {
        if (Finished is not null) return false;
        Tokens.Add(token);
        Logprobs.Add(new TokenLogprob(token, logprob, top));
        _score += logprob;
        if (token == _endOfText) { _ends.Add(int.MaxValue); Finished = FinishReason.EndOfText; return false; }
        if (_decoder is null) _ends.Add(int.MaxValue);
        else
        {
            string piece = _decoder.Append(_tokenizer!.TokenBytes(token));
            _ends.Add(_decoder.Stopped ? int.MaxValue : _decoder.Length);
            Emit(piece);
            if (_decoder.Stopped) { Finished = FinishReason.Stop; return false; }
        }
        if (Tokens.Count >= _o.MaxNewTokens) { Finished = FinishReason.Length; return false; }
        return true;
    }

    // Hands a non-empty piece to the callback with the tokens whose decoded text it completes: usually one; several
    // after held-back text; none when the piece is the first part of one token's text (the rest was held back).
    private void Emit(string piece)
    {
        if (piece.Length == 0 || _onPiece is null) return;
        _emitted += piece.Length;
        int from = _attributed;
        while (_attributed < _ends.Count && _ends[_attributed] <= _emitted) _attributed++;
        _onPiece(new TextPiece(piece, Logprobs.GetRange(from, _attributed - from).ToArray()));
    }

    /// <summary>Marks the sequence finished for <paramref name="reason"/> unless it already is.</summary>
    public void Finish(FinishReason reason) => Finished ??= reason;

    /// <summary>Flushes held-back text and returns the sequence (score: the beam score when given, else Σ log p).</summary>
    public GeneratedSequence Complete(double? score = null)
    {
        Finished ??= FinishReason.Length;
        string text = "";
        if (_decoder is not null)
        {
            Emit(_decoder.Finish());
            text = _decoder.Text;
            if (_decoder.Stopped) Finished = FinishReason.Stop;
        }
        return new GeneratedSequence(Tokens.ToArray(), text, Logprobs.ToArray(), Finished.Value, score ?? _score);
    }
}
