using Prometheus;

namespace Peeq.Cdc.Capture;

/// <summary>Capture's metrics (docs/metrics.md). Labels are low-cardinality: source and table, never keys or LSNs.</summary>
public static class CaptureMetrics
{
    public static readonly Counter Events = Metrics.CreateCounter(
        "peeq_cdc_capture_events_total", "Row change events produced to the raw topic.", "source", "op");

    public static readonly Counter Transactions = Metrics.CreateCounter(
        "peeq_cdc_capture_transactions_total", "Source transactions produced to the raw topic.", "source", "kind");

    public static readonly Counter Bytes = Metrics.CreateCounter(
        "peeq_cdc_capture_bytes_total", "Bytes of event values produced to the raw topic.", "source");

    public static readonly Gauge SlotLagBytes = Metrics.CreateGauge(
        "peeq_cdc_capture_slot_lag_bytes", "WAL bytes between the server's current position and the slot's confirmed position.", "source");

    public static readonly Gauge RetainedWalBytes = Metrics.CreateGauge(
        "peeq_cdc_capture_retained_wal_bytes", "WAL bytes the slot keeps on the source server (from restart_lsn).", "source");

    public static readonly Gauge SlotWalStatus = Metrics.CreateGauge(
        "peeq_cdc_capture_slot_wal_status", "1 for the slot's current wal_status (reserved, extended, unreserved, lost).", "source", "status");

    public static readonly Gauge SafeWalSizeBytes = Metrics.CreateGauge(
        "peeq_cdc_capture_slot_safe_wal_size_bytes", "WAL that can still be written before the slot is at risk of max_slot_wal_keep_size (-1 = unlimited).", "source");

    public static readonly Gauge InFlightBytes = Metrics.CreateGauge(
        "peeq_cdc_capture_in_flight_bytes", "Bytes produced to Kafka that the Sink has not yet received or applied.", "source");

    public static readonly Gauge InFlightPeakBytes = Metrics.CreateGauge(
        "peeq_cdc_capture_in_flight_peak_bytes", "The most bytes ever in flight at once since the process started (bounded by the in-flight window plus one message).", "source");

    public static readonly Gauge Paused = Metrics.CreateGauge(
        "peeq_cdc_capture_backpressure_paused", "1 while Capture waits for the Sink (in-flight window full).", "source");

    public static readonly Gauge ConfirmedLsn = Metrics.CreateGauge(
        "peeq_cdc_capture_confirmed_lsn", "The LSN confirmed to the slot (as a number; compare within one source only).", "source");

    public static readonly Gauge LastCommitAge = Metrics.CreateGauge(
        "peeq_cdc_capture_seconds_since_last_commit", "Seconds since the last source commit seen in the stream.", "source");

    public static readonly Gauge LastCommitTimestamp = Metrics.CreateGauge(
        "peeq_cdc_capture_last_commit_timestamp_seconds", "Unix time of the last source commit seen in the stream.", "source");

    public static readonly Gauge HeartbeatTimestamp = Metrics.CreateGauge(
        "peeq_cdc_capture_last_heartbeat_timestamp_seconds", "Unix time of the last heartbeat seen in the stream.", "source");

    public static readonly Gauge Up = Metrics.CreateGauge(
        "peeq_cdc_capture_source_up", "1 while the source is streaming, 0 while it is being retried or is stopped.", "source");

    public static readonly Gauge RetryDelaySeconds = Metrics.CreateGauge(
        "peeq_cdc_capture_retry_delay_seconds", "While the source is not capturing: seconds Capture waits before it tries again (backoff, or 60 for an error that needs an operator); 0 once it is set up.", "source");

    public static readonly Counter Errors = Metrics.CreateCounter(
        "peeq_cdc_capture_errors_total", "Errors by kind (connect, permanent, stream, produce, slot_lost, snapshot).", "source", "kind");

    public static readonly Counter Replays = Metrics.CreateCounter(
        "peeq_cdc_capture_replays_total", "Times the stream was restarted from the slot because the Sink reported a gap.", "source");

    public static readonly Gauge SnapshotRows = Metrics.CreateGauge(
        "peeq_cdc_capture_snapshot_rows", "Rows read by the running or last snapshot.", "source", "table");

    public static readonly Gauge SnapshotTotalRows = Metrics.CreateGauge(
        "peeq_cdc_capture_snapshot_total_rows", "Estimated rows of the table being snapshotted.", "source", "table");

    public static readonly Counter SnapshotRowsRead = Metrics.CreateCounter(
        "peeq_cdc_capture_snapshot_rows_read_total", "Rows read by chunked snapshots (rate() of this is the snapshot's speed).", "source", "table");

    public static readonly Gauge SnapshotRowsPerSecond = Metrics.CreateGauge(
        "peeq_cdc_capture_snapshot_rows_per_second", "Rows per second of the running or last chunked snapshot of the table, since it (re)started.", "source", "table");

    public static readonly Gauge SnapshotRunning = Metrics.CreateGauge(
        "peeq_cdc_capture_snapshot_running", "1 while the table's snapshot is being taken.", "source", "table");

    public static readonly Gauge SnapshotTablesPending = Metrics.CreateGauge(
        "peeq_cdc_capture_snapshot_tables_pending", "Tables waiting for their snapshot (after the one running).", "source");

    public static readonly Counter SnapshotChunks = Metrics.CreateCounter(
        "peeq_cdc_capture_snapshot_chunks_total", "Snapshot chunks emitted.", "source");

    public static readonly Counter SchemaEvents = Metrics.CreateCounter(
        "peeq_cdc_capture_schema_events_total", "Schema events emitted (a table's columns, first seen in a session or changed).", "source");

    public static readonly Gauge OrphanSlots = Metrics.CreateGauge(
        "peeq_cdc_capture_orphan_slots", "Replication slots named like Capture's (peeq_cdc_*) on a source server that no configured source owns.", "server");

    public static readonly Counter AppendOnlyViolations = Metrics.CreateCounter(
        "peeq_cdc_capture_append_only_violations_total", "Updates or deletes seen on a table captured as append-only (no key): reported, not replicated.", "source", "table");
}
