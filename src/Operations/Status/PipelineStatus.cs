namespace Peeq.Cdc.Operations.Status;

// The one status model behind the dashboard page, GET /api/status, `peeq-cdc status` and the
// notifications. Figures are null when what they come from cannot be read (a database unreachable, no
// metrics page): absent is never shown as zero. docs/operations.md explains every figure.

/// <summary>The whole pipeline at one moment.</summary>
/// <param name="SampledAt">When the figures were read.</param>
/// <param name="Metrics">Where metrics came from: in-process, scraped, or none (databases only).</param>
/// <param name="Problems">What could not be read, each with the reason.</param>
public sealed record PipelineStatus(
    DateTimeOffset SampledAt,
    string Metrics,
    double RefreshSeconds,
    double StallAfterSeconds,
    IReadOnlyList<SourceStatus> Sources,
    IReadOnlyList<ServerStatus> Servers,
    IReadOnlyList<TargetStatus> Targets,
    IReadOnlyList<StageStatus> Stages,
    IReadOnlyList<ReconciliationSummary> Reconciliations,
    IReadOnlyList<string> Problems);

/// <summary>Where a source stands: its slot on the source server, how far its target has applied it, and how fast it moves.</summary>
/// <param name="State">caught-up, behind, snapshotting, stalled, capture-down, unreachable (the first that applies from the end of this list back).</param>
/// <param name="LagSeconds">0 when caught up, else seconds since the point up to which the target is known complete (docs/operations.md, "Lag").</param>
/// <param name="LagBytes">Server WAL position minus the applied end LSN (includes other databases' WAL on a shared server).</param>
/// <param name="SlotLagBytes">Server WAL position minus the slot's confirmed LSN.</param>
/// <param name="RetainedWalBytes">Server WAL position minus the slot's restart LSN: WAL this slot keeps on disk.</param>
/// <param name="HeartbeatAgeSeconds">Seconds since Capture last saw its heartbeat come through the stream.</param>
/// <param name="EventsPerSecond">Row changes captured per second over the last refresh.</param>
/// <param name="TransactionsPerSecond">Source transactions applied per second over the last refresh.</param>
/// <param name="LatencyMeanSeconds">Mean source-commit-to-target-commit latency since the Sink started.</param>
/// <param name="LatencyP99Seconds">99th percentile latency over the last 30 seconds (null without observations).</param>
/// <param name="ParkedRows">Rows of this source parked in its target and not yet resolved.</param>
/// <param name="HeldRows">Source transactions waiting behind a parked financial transaction (peeq_cdc_sink_held_transactions).</param>
public sealed record SourceStatus(
    string Name,
    string Target,
    string Server,
    string State,
    string? StateReason,
    double? LagSeconds,
    bool CaughtUp,
    long? LagBytes,
    long? SlotLagBytes,
    long? RetainedWalBytes,
    string? WalStatus,
    long? SafeWalSizeBytes,
    bool? SlotActive,
    double? HeartbeatAgeSeconds,
    string? ServerLsn,
    string? ConfirmedLsn,
    string? AppliedLsn,
    DateTimeOffset? AppliedCommitTime,
    DateTimeOffset? AppliedAt,
    bool? CaptureUp,
    bool? BackpressurePaused,
    long? InFlightBytes,
    double? EventsCaptured,
    double? EventsPerSecond,
    double? TransactionsApplied,
    double? TransactionsPerSecond,
    double? LatencyMeanSeconds,
    double? LatencyP99Seconds,
    long? ParkedRows,
    double? HeldRows,
    SnapshotProgress? Snapshot,
    long? TransformLagMessages,
    long? SinkLagMessages);

/// <summary>A source server: the WAL all its replication slots keep (ours and any others), against its limit.</summary>
/// <param name="RetainedWalBytes">Server WAL position minus the oldest restart LSN of any slot on it.</param>
/// <param name="MaxSlotWalKeepSizeBytes">max_slot_wal_keep_size in bytes; -1 unlimited.</param>
public sealed record ServerStatus(string Server, bool Reachable, string? Version, long? RetainedWalBytes, int? Slots, long? MaxSlotWalKeepSizeBytes, IReadOnlyList<string> Sources);

/// <summary>Snapshot progress of a source: rows read over the tables' estimated rows, and tables still loading in the target.</summary>
public sealed record SnapshotProgress(double RowsRead, double RowsEstimated, double? Percent, int TablesLoading, IReadOnlyList<TableSnapshot> Tables);

public sealed record TableSnapshot(string Table, double RowsRead, double RowsEstimated);

/// <summary>A target database: reachability, parked rows and table states, apply rate.</summary>
public sealed record TargetStatus(
    string Name,
    bool Reachable,
    long? ParkedRows,
    int? TablesLoading,
    int? TablesParked,
    IReadOnlyList<ParkedTable> ParkedTables,
    double? RowsApplied,
    double? RowsPerSecond,
    double? DanglingReferences,
    string? Problem);

public sealed record ParkedTable(string Table, string Source, string? Reason, DateTimeOffset Since);

/// <summary>A consuming stage's lag: messages on its input topics not yet committed by its consumer group.</summary>
public sealed record StageStatus(string Stage, string Group, long? LagMessages, IReadOnlyList<PartitionLag> Partitions, string? Problem);

public sealed record PartitionLag(string Topic, int Partition, string? Source, long? Committed, long HighWatermark, long? Lag);

/// <summary>A reconciliation run's verdict, with links to its reports.</summary>
public sealed record ReconciliationSummary(string RunId, DateTimeOffset FinishedAt, string Verdict, string Summary, int TablePairs, int Matching, int Errors, IReadOnlyList<ReportLink> Reports);

public sealed record ReportLink(string Format, string Url);
