using Prometheus;

namespace Peeq.Cdc.Sink;

/// <summary>The Sink's metrics (docs/metrics.md).</summary>
public static class SinkMetrics
{
    public static readonly Counter RowsApplied = Metrics.CreateCounter(
        "peeq_cdc_sink_rows_applied_total", "Target row operations applied (after version guard), by table and kind.", "target", "table", "op");


    public static readonly Counter Transactions = Metrics.CreateCounter(
        "peeq_cdc_sink_transactions_total", "Source transactions applied.", "source", "kind");

    public static readonly Counter DuplicatesSkipped = Metrics.CreateCounter(
        "peeq_cdc_sink_duplicate_transactions_total", "Source transactions skipped because they were already applied (replay or redelivery).", "source");

    public static readonly Counter Gaps = Metrics.CreateCounter(
        "peeq_cdc_sink_gaps_total", "Gaps detected (a transaction missing or incomplete): each triggers a replay from the slot.", "source", "reason");

    public static readonly Histogram BatchRows = Metrics.CreateHistogram(
        "peeq_cdc_sink_batch_rows", "Row operations per target transaction.", new HistogramConfiguration
        {
            LabelNames = ["target"],
            Buckets = Histogram.ExponentialBuckets(1, 4, 10),
        });

    public static readonly Histogram BatchSeconds = Metrics.CreateHistogram(
        "peeq_cdc_sink_batch_duration_seconds", "Time to write and commit one target transaction.", new HistogramConfiguration
        {
            LabelNames = ["target"],
            Buckets = Histogram.ExponentialBuckets(0.001, 2, 14),
        });

    public static readonly Histogram EndToEndSeconds = Metrics.CreateHistogram(
        "peeq_cdc_sink_end_to_end_latency_seconds", "Source commit to target commit.", new HistogramConfiguration
        {
            LabelNames = ["source"],
            Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
        });

    public static readonly Gauge AppliedLsn = Metrics.CreateGauge(
        "peeq_cdc_sink_applied_lsn", "Commit LSN of the last source transaction applied (a number; compare within one source).", "source");

    public static readonly Gauge LastAppliedTimestamp = Metrics.CreateGauge(
        "peeq_cdc_sink_last_applied_commit_timestamp_seconds", "Source commit time of the last transaction applied.", "source");


    public static readonly Counter Parked = Metrics.CreateCounter(
        "peeq_cdc_sink_parked_total", "Rows parked with their reason.", "source", "reason");


    public static readonly Counter Errors = Metrics.CreateCounter(
        "peeq_cdc_sink_errors_total", "Errors by kind (transient: retried; permanent: parked).", "target", "kind");

    public static readonly Gauge ConsumerLag = Metrics.CreateGauge(
        "peeq_cdc_sink_consumer_lag_messages", "Messages on the unified topic partition not yet consumed.", "topic", "partition");
}
