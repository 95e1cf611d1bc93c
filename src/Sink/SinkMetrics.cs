using Prometheus;

namespace Peeq.Cdc.Sink;

/// <summary>The Sink's metrics (docs/metrics.md).</summary>
public static class SinkMetrics
{
    public static readonly Counter RowsApplied = Metrics.CreateCounter(
        "peeq_cdc_sink_rows_applied_total", "Target row operations applied (after version guard), by table and kind.", "target", "table", "op");

    public static readonly Counter DeadLettered = Metrics.CreateCounter(
        "peeq_cdc_sink_dead_letters_total", "Messages on a unified topic the Sink could not take (unreadable, or from a source not configured for the target), copied to the dead-letter topic with the reason.", "topic");


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


    public static readonly Counter TransactionsParked = Metrics.CreateCounter(
        "peeq_cdc_sink_transactions_parked_total", "Source transactions parked whole (financial tables): parked, or held behind a parked one.", "source", "kind");

    public static readonly Gauge ParkedOpen = Metrics.CreateGauge(
        "peeq_cdc_sink_parked_rows", "Parked rows not yet replayed or discarded, per target and source (refreshed by the upkeep).", "target", "source");

    public static readonly Gauge HeldTransactions = Metrics.CreateGauge(
        "peeq_cdc_sink_held_transactions", "Source transactions waiting behind a parked transaction, per target and source.", "target", "source");

    public static readonly Gauge Dangling = Metrics.CreateGauge(
        "peeq_cdc_sink_dangling_references", "Rows whose reference (references.yaml, within one target database) has no parent, per reference.", "target", "reference");

    public static readonly Gauge ShadowedClaims = Metrics.CreateGauge(
        "peeq_cdc_sink_shadowed_claims", "Claims kept but not applied because another source's claim has priority, per target table.", "target", "table");

    public static readonly Gauge PendingLookups = Metrics.CreateGauge(
        "peeq_cdc_sink_pending_lookups", "Lookup values written NULL until their identity arrives, per target.", "target");

    public static readonly Counter LookupsResolved = Metrics.CreateCounter(
        "peeq_cdc_sink_lookups_resolved_total", "Pending lookups filled in once their identity arrived.", "table");

    public static readonly Counter TombstonesRemoved = Metrics.CreateCounter(
        "peeq_cdc_sink_tombstones_removed_total", "Delete tombstones removed by the clean-up rule.", "target");

    public static readonly Gauge BatchTargetRows = Metrics.CreateGauge(
        "peeq_cdc_sink_batch_target_rows", "The adaptive batch size: operations after which whole transactions are committed while more keep arriving.", "source");

    public static readonly Counter Errors = Metrics.CreateCounter(
        "peeq_cdc_sink_errors_total", "Errors by kind (transient: retried; permanent: parked).", "target", "kind");

    public static readonly Counter IsolationWrites = Metrics.CreateCounter(
        "peeq_cdc_sink_isolation_writes_total", "Writes under a savepoint spent finding the operations of a transaction that cannot apply (halving it down to them).", "source");

    public static readonly Gauge ConsumerLag = Metrics.CreateGauge(
        "peeq_cdc_sink_consumer_lag_messages", "Messages on the unified topic partition not yet consumed.", "topic", "partition");
}
