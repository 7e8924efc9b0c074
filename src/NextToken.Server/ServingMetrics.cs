// ServingMetrics: the Prometheus series of one server (its own registry, so several servers in one process do not clash).
using Prometheus;

namespace NextToken.Server;

/// <summary>Requests, tokens, queue depth, batch occupancy and latency histograms, exported as Prometheus text.</summary>
public sealed class ServingMetrics
{
    /// <summary>Creates the series in a fresh registry.</summary>
    public ServingMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        Requests = f.CreateCounter("nexttoken_requests_total", "HTTP requests by endpoint and status code", "endpoint", "status");
        PromptTokens = f.CreateCounter("nexttoken_prompt_tokens_total", "Prompt tokens processed");
        CompletionTokens = f.CreateCounter("nexttoken_completion_tokens_total", "Tokens generated");
        QueueDepth = f.CreateGauge("nexttoken_queue_depth", "Requests waiting for a batch slot");
        BatchOccupancy = f.CreateGauge("nexttoken_batch_occupancy", "Sequences in the decode batch");
        var buckets = Histogram.ExponentialBuckets(0.001, 2, 16);
        RequestSeconds = f.CreateHistogram("nexttoken_request_duration_seconds", "Request latency", new HistogramConfiguration { Buckets = buckets, LabelNames = ["endpoint"] });
        TimeToFirstTokenSeconds = f.CreateHistogram("nexttoken_time_to_first_token_seconds", "Streaming time to first token", new HistogramConfiguration { Buckets = buckets });
        GenerationSeconds = f.CreateHistogram("nexttoken_generation_duration_seconds", "Time from queueing to the last token of one sequence", new HistogramConfiguration { Buckets = buckets });
    }

    /// <summary>The registry /metrics exports.</summary>
    public CollectorRegistry Registry { get; }
    public Counter Requests { get; }
    public Counter PromptTokens { get; }
    public Counter CompletionTokens { get; }
    public Gauge QueueDepth { get; }
    public Gauge BatchOccupancy { get; }
    public Histogram RequestSeconds { get; }
    public Histogram TimeToFirstTokenSeconds { get; }
    public Histogram GenerationSeconds { get; }
}
