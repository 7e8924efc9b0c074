// Trainer: the pre-training loop — batches, accumulation, clipping, AdamW, schedule, evaluation, checkpoints, logs.
using System.Diagnostics;
using System.Text.Json;
using NextToken.Data;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Training;

/// <summary>
/// Trains a <see cref="GptModel"/> on token sources. Deterministic for a seed on one machine: batches, dropout and
/// kernels are, so a run resumed from a checkpoint reproduces the losses of an uninterrupted one.
/// </summary>
public sealed class Trainer
{
    private readonly GptModel _model;
    private readonly IBatchSource _train;
    private readonly Func<IBatchSource>? _validation;
    private readonly int[]? _valTokens;
    private readonly TokenFile? _valFile;
    private readonly TrainOptions _options;
    private readonly AdamW _optimizer;
    private readonly string? _outDir;
    private readonly ITokenizer? _tokenizer;
    private readonly string? _dataDir;
    private long _step;
    private double _bestVal = double.NaN;
    private float _lastTrainLoss = float.NaN;
    private long _lastCheckpointStep = -1;
    private readonly long _resumedStep = -1;
    private const ulong EvalSeed = 0xE7A1;

    /// <summary>Called after every step (and evaluation).</summary>
    public event Action<TrainProgress>? Progress;
    /// <summary>Called after the backward of every micro-batch of a step, before clipping and the update (gradient masks).</summary>
    public event Action? BeforeUpdate;
    /// <summary>Called after each optimizer update (e.g. to put back rows that must not move).</summary>
    public event Action? AfterUpdate;

    private AdamW? _extraOptimizer;
    private ExtraParameters? _extra;

    /// <summary>
    /// Parameters trained beside the model's (LoRA adapters; the model itself usually frozen): set before <see cref="Run"/>.
    /// They get their own AdamW (same betas and weight decay), the same learning rate and one global-norm clip with the model's.
    /// </summary>
    public ExtraParameters? Extra
    {
        get => _extra;
        set
        {
            var optimizer = value is null ? null : new AdamW(value.Layout, new AdamWOptions { Beta1 = _options.Beta1, Beta2 = _options.Beta2, WeightDecay = _options.WeightDecay });
            if (value?.Resume is { } r)
            {
                if (r.TrainerStep != _step)
                    throw new InvalidDataException($"{ExtraOptimizerState.FileName} is from step {r.TrainerStep} but the checkpoint is at step {_step}: the run was cut off while saving; start it again from an earlier copy");
                if (r.M.Length != optimizer!.M.Length) throw new ArgumentException($"the resumed moments hold {r.M.Length} values, the extra parameters {optimizer.M.Length}");
                r.M.CopyTo(optimizer.M);
                r.V.CopyTo(optimizer.V);
                optimizer.Step = r.Step;
            }
            _extra = value;
            _extraOptimizer = optimizer;
        }
    }

    /// <summary>
    /// Creates a trainer. <paramref name="outDir"/> (optional) receives checkpoints and log.jsonl (the trainer draws
    /// nothing: the CLI plots loss.png from the log).
    /// <paramref name="resume"/> restores optimizer moments, step and data position from a loaded checkpoint.
    /// </summary>
    /// <paramref name="validation"/> (optional, instead of <paramref name="val"/>) makes a fresh source of validation
    /// batches for each evaluation (fine-tuning: held-out examples with their loss weights); <paramref name="validationRows"/>
    /// is how many rows it holds, so that one evaluation covers them at most once.
    public Trainer(GptModel model, IBatchSource train, TokenFile? val, TrainOptions options, string? outDir = null,
                   ITokenizer? tokenizer = null, string? dataDir = null, Checkpoint.Loaded? resume = null, int[]? valTokens = null,
                   Func<IBatchSource>? validation = null, int validationRows = 0)
    {
        _validation = validation;
        _model = model;
        _train = train;
        _valFile = val;
        _valTokens = valTokens;
        _options = options.Validate();
        if (options.SequenceLength > model.Config.ContextLength)
            throw new ArgumentException($"sequence length {options.SequenceLength} exceeds the model's context length {model.Config.ContextLength}");
        if (train.BatchSize != options.BatchSize || train.SequenceLength != options.SequenceLength)
            throw new ArgumentException($"the batch loader cuts {train.BatchSize} x {train.SequenceLength} batches but the options say {options.BatchSize} x {options.SequenceLength}");
        _outDir = outDir;
        _tokenizer = tokenizer;
        _dataDir = dataDir;
        _optimizer = resume?.Optimizer is { } saved ? Checkpoint.ForTrainable(model, saved)
            : new AdamW(model.Layout, model.GradientLayout, new AdamWOptions { Beta1 = options.Beta1, Beta2 = options.Beta2, WeightDecay = options.WeightDecay });
        if (resume?.State is { } st)
        {
            _step = st.Step;
            _bestVal = st.BestValLoss;
            _lastTrainLoss = (float)st.TrainLoss;
            _lastCheckpointStep = _resumedStep = st.Step;
            _train.Restore(new BatchLoaderState(st.LoaderPosition, st.LoaderRngState, st.LoaderRngIncrement));
        }
        model.EnableGradients();
        EvaluationBatches = validation is not null
            ? (int)Math.Min(_options.EvalIterations, Math.Min((validationRows + _options.BatchSize - 1) / _options.BatchSize, Math.Max(1L, (long)_options.Iterations * _options.GradientAccumulation)))
            : CountEvaluationBatches(_valFile?.Count ?? _valTokens?.Length ?? 0, _options);
    }

    /// <summary>Completed optimizer steps.</summary>
    public long Step => _step;

    /// <summary>
    /// Runs until <see cref="TrainOptions.Iterations"/> steps or cancellation (then a checkpoint is written and the
    /// result says Interrupted). A non-finite loss throws <see cref="NonFiniteLossException"/> without saving.
    /// A run resumed from a checkpoint that already reached <see cref="TrainOptions.Iterations"/> trains nothing and
    /// writes nothing: it returns the saved run's summary (its last training loss, best and current validation loss).
    /// </summary>
    public TrainResult Run(CancellationToken cancellation = default)
    {
        var o = _options;
        if (_step >= o.Iterations && _step == _resumedStep)
        {
            float val = Evaluate(); // deterministic: the value the finished run reported
            return Result(_lastTrainLoss, val, tokens: 0, wall: 0, interrupted: false);
        }
        int B = o.BatchSize, T = o.SequenceLength;
        int decay = o.DecayIterations > 0 ? o.DecayIterations : o.Iterations;
        var inputs = new int[B * T];
        var targets = new int[B * T];
        var weights = _train.HasWeights ? new float[B * T] : [];
        var docs = _train.HasDocuments ? new int[B * T] : [];
        var log = _outDir is null ? null : OpenLog();
        var sw = Stopwatch.StartNew();
        long tokens = 0;
        float loss = _lastTrainLoss, lastVal = float.NaN;
        bool interrupted = false, gradientsClear = false;
        _model.Training = true;
        try
        {
            while (_step < o.Iterations)
            {
                if (cancellation.IsCancellationRequested) { interrupted = true; break; }
                if (o.EvalInterval > 0 && _step % o.EvalInterval == 0 && _step > 0) lastVal = EvaluateAndMaybeSave(log, sw, loss);
                float lr = LearningRateSchedule.At(_step, o.LearningRate, o.MinLearningRate, o.WarmupIterations, decay);
                // The update below leaves the gradients at zero; only the first step (or one after an exception in
                // the update) needs the zeroing pass.
                if (!gradientsClear) { _model.ZeroGradients(); if (_extra is not null) Array.Clear(_extra.Gradients); }
                gradientsClear = false;
                // Micro-batches accumulate unnormalised gradients (dloss = weight); dividing by the weight of the whole
                // optimizer batch at the update gives the mean over every counted target, however the masked targets
                // are spread over the micro-batches.
                var total = default(LossSum);
                for (int micro = 0; micro < o.GradientAccumulation; micro++)
                {
                    _train.Next(inputs, targets, weights, docs);
                    total += _model.ForwardSum(inputs, targets, B, T, computeGradients: true, 1f, weights, new BatchLayout { DocumentIds = docs });
                    _model.Backward();
                }
                BeforeUpdate?.Invoke();
                loss = (float)total.Mean;
                if (!float.IsFinite(loss)) throw new NonFiniteLossException(_step + 1, loss, Math.Max(0, _lastCheckpointStep));
                float mean = total.Weight > 0 ? (float)(1.0 / total.Weight) : 0f;
                // Clipping fused into the update (the same scale factor, one pass over the gradients fewer).
                float norm = GradientClipping.GlobalNorm(_model.Gradients!) * mean;
                if (_extra is not null) norm = MathF.Sqrt(norm * norm + MathF.Pow(GradientClipping.GlobalNorm(_extra.Gradients) * mean, 2));
                _optimizer.Update(_model.Parameters, _model.Gradients!, lr, GradientClipping.ClipScale(norm, o.GradientClip) * mean, clearGradients: true);
                _extraOptimizer?.Update(_extra!.Parameters, _extra.Gradients, lr, GradientClipping.ClipScale(norm, o.GradientClip) * mean, clearGradients: true);
                gradientsClear = true;
                AfterUpdate?.Invoke();
                _step++;
                tokens += (long)B * T * o.GradientAccumulation;
                var p = new TrainProgress(_step, o.Iterations, loss, lr, norm, tokens / Math.Max(1e-9, sw.Elapsed.TotalSeconds), sw.Elapsed.TotalSeconds, null);
                _lastTrainLoss = loss;
                Write(log, p);
                Progress?.Invoke(p);
                if (o.CheckpointInterval > 0 && _step % o.CheckpointInterval == 0) Save();
            }
            // Final evaluation and checkpoint (also on Ctrl-C, so nothing trained is lost).
            lastVal = Evaluate();
            if (float.IsFinite(lastVal) && !(lastVal >= _bestVal)) _bestVal = lastVal;
            var final = new TrainProgress(_step, o.Iterations, loss, 0, 0, tokens / Math.Max(1e-9, sw.Elapsed.TotalSeconds), sw.Elapsed.TotalSeconds, lastVal);
            Write(log, final);
            Progress?.Invoke(final);
            Save();
        }
        finally
        {
            _model.Training = false;
            log?.Dispose();
        }
        return Result(loss, lastVal, tokens, sw.Elapsed.TotalSeconds, interrupted);
    }

    // The summary; values that are not finite (no step run, no validation split) become null, so it is valid JSON.
    private TrainResult Result(float trainLoss, float valLoss, long tokens, double wall, bool interrupted) => new()
    {
        FinalTrainLoss = float.IsFinite(trainLoss) ? trainLoss : null,
        BestValLoss = double.IsFinite(_bestVal) ? _bestVal : null,
        FinalValLoss = float.IsFinite(valLoss) ? valLoss : null,
        Iterations = _step, TokensPerSecond = tokens / Math.Max(1e-9, wall), WallSeconds = wall, Interrupted = interrupted,
        Parameters = _model.ParameterCount, CheckpointDirectory = _outDir,
    };

    private float EvaluateAndMaybeSave(StreamWriter? log, Stopwatch sw, float lastLoss)
    {
        float val = Evaluate();
        if (float.IsFinite(val) && !(val >= _bestVal)) _bestVal = val;
        var p = new TrainProgress(_step, _options.Iterations, lastLoss, 0, 0, 0, sw.Elapsed.TotalSeconds, val);
        Write(log, p);
        Progress?.Invoke(p);
        if (_options.CheckpointInterval == 0) Save();
        return val;
    }

    /// <summary>
    /// Validation batches one evaluation runs: <see cref="TrainOptions.EvalIterations"/>, capped so that tiny runs
    /// stay cheap: at most the batches that cover every distinct validation window once (count − T windows of T + 1
    /// tokens, B per batch), and at most Iterations × GradientAccumulation (one forward per batch against a forward and
    /// a backward per micro-batch of training, so an evaluation costs at most about a third of the run it measures).
    /// 0 without a validation split or with one shorter than T + 1 tokens.
    /// </summary>
    public int EvaluationBatches { get; }

    internal static int CountEvaluationBatches(long valTokens, TrainOptions o)
    {
        long windows = valTokens - o.SequenceLength;
        if (windows <= 0) return 0;
        long covering = (windows + o.BatchSize - 1) / o.BatchSize;
        long run = Math.Max(1, (long)o.Iterations * o.GradientAccumulation);
        return (int)Math.Min(o.EvalIterations, Math.Min(covering, run));
    }

    /// <summary>
    /// Mean loss over <see cref="EvaluationBatches"/> validation batches at random offsets over the whole split (as
    /// nanoGPT's estimate_loss). A fresh loader with a fixed seed draws the same batches every time, so evaluation
    /// neither depends on nor disturbs the training state. NaN when there is nothing to evaluate.
    /// </summary>
    public float Evaluate()
    {
        int batches = EvaluationBatches;
        if (batches == 0) return float.NaN;
        int B = _options.BatchSize, T = _options.SequenceLength;
        IBatchSource loader = _validation is not null ? _validation()
            : _valFile is not null ? new BatchLoader(_valFile, B, T, BatchOrder.Random, EvalSeed) : new BatchLoader(_valTokens!, B, T, BatchOrder.Random, EvalSeed);
        var inputs = new int[B * T];
        var targets = new int[B * T];
        var weights = loader.HasWeights ? new float[B * T] : [];
        var docs = loader.HasDocuments ? new int[B * T] : [];
        bool wasTraining = _model.Training;
        _model.Training = false;
        double sum = 0, count = 0;
        for (int i = 0; i < batches; i++)
        {
            loader.Next(inputs, targets, weights, docs);
            if (loader.HasWeights)
            {
                // Masked targets: the mean over every counted target of the evaluation, not a mean of batch means.
                var s = _model.ForwardSum(inputs, targets, B, T, false, 1f, weights, new BatchLayout { DocumentIds = docs });
                sum += s.Sum;
                count += s.Weight;
            }
            else
            {
                sum += _model.Forward(inputs, targets, B, T);
                count++;
            }
        }
        _model.Training = wasTraining;
        return count > 0 ? (float)(sum / count) : float.NaN;
    }

    /// <summary>Writes the checkpoint now (no-op without an output directory).</summary>
    public void Save()
    {
        if (_outDir is null) return;
        var ls = _train.State;
        var state = new TrainingState
        {
            Step = _step, DropoutRngState = _model.DropoutRng.State, DropoutRngIncrement = _model.DropoutRng.Increment,
            LoaderPosition = ls.Position, LoaderRngState = ls.RngState, LoaderRngIncrement = ls.RngIncrement,
            BestValLoss = _bestVal, TrainLoss = _lastTrainLoss, Options = _options, DataDirectory = _dataDir,
        };
        Checkpoint.Save(_outDir, _model, _optimizer, state, _tokenizer);
        if (_extra is not null)
        {
            _extra.Save?.Invoke(_outDir);
            ExtraOptimizerState.Save(_outDir, _extra.Layout, _extraOptimizer!, _step, _extra.State?.Invoke());
        }
        _lastCheckpointStep = _step;
    }

    private StreamWriter OpenLog()
    {
        Directory.CreateDirectory(_outDir!);
        string path = Path.Combine(_outDir!, TrainingLog.FileName);
        // On resume keep only the records of steps the checkpoint contains, so the log matches an uninterrupted run.
        var keep = File.Exists(path) && _step > 0
            ? File.ReadAllLines(path).Where(l => TrainingLog.StepOf(l) is long s && s <= _step).ToList()
            : [];
        if (_step == 0) keep.Clear();
        File.WriteAllLines(path, keep);
        return new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
    }

    private static void Write(StreamWriter? log, TrainProgress p) => log?.WriteLine(TrainingLog.Format(p));
}
