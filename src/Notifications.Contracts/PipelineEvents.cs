namespace Peeq.Cdc.Notifications;

// The events Peeq.Cdc publishes for other services (a notification service, finance tooling).
// Published with MassTransit: on RabbitMQ each type has its own fanout exchange named after it
// ("Peeq.Cdc.Notifications:SourceStalled"); a subscriber binds its own queue. The JSON body follows
// MassTransit's envelope ("message" holds the record, camelCase). Fields are only ever added, never
// renamed or removed: a consumer built against an older version keeps working. docs/operations.md.

/// <summary>
/// A source has fallen behind by at least <c>dashboard.stallAfter</c>: its target has not caught up
/// with what the source committed. Published once when the source becomes stalled; <see cref="SourceRecovered"/>
/// follows when it catches up again.
/// </summary>
/// <param name="Source">The source database's name in the pipeline config.</param>
/// <param name="Target">The target it is consolidated into.</param>
/// <param name="LagSeconds">How far behind the target is (docs/operations.md, "Lag").</param>
/// <param name="AppliedCommitTime">Source commit time of the last transaction applied, if any.</param>
/// <param name="Reason">What was seen: capture down, paused by backpressure, not applying, unreachable.</param>
/// <param name="DetectedAt">When the pipeline noticed.</param>
public sealed record SourceStalled(string Source, string Target, double LagSeconds, DateTimeOffset? AppliedCommitTime, string Reason, DateTimeOffset DetectedAt);

/// <summary>A source reported as <see cref="SourceStalled"/> has caught up again.</summary>
/// <param name="StalledFor">How long it had been reported as stalled.</param>
public sealed record SourceRecovered(string Source, string Target, TimeSpan StalledFor, DateTimeOffset DetectedAt);

/// <summary>
/// A target table stopped for one source (a schema change it cannot take, peeq_cdc.table_state = parked).
/// Its rows do not flow until an operator acts; other tables keep flowing.
/// </summary>
public sealed record TableParked(string Target, string Table, string Source, string? Reason, DateTimeOffset ParkedAt);

/// <summary>
/// A reconciliation run finished with a verdict: <c>clean</c>, <c>different</c> (a real difference) or
/// <c>unresolved</c> (rows still changing after the re-checks).
/// </summary>
/// <param name="RunId">The run's identifier, as in its report.</param>
/// <param name="Verdict">clean, different or unresolved.</param>
/// <param name="TablePairs">Table pairs compared.</param>
/// <param name="Matching">Table pairs that matched.</param>
/// <param name="Report">Where the report is (a path or URL), when it was written.</param>
public sealed record ReconciliationFinished(string RunId, string Verdict, DateTimeOffset StartedAt, DateTimeOffset FinishedAt, int TablePairs, int Matching, string? Report);

/// <summary>A reconciliation run could not complete (a database unreachable, an error); no verdict.</summary>
public sealed record ReconciliationFailed(string RunId, DateTimeOffset StartedAt, DateTimeOffset FailedAt, IReadOnlyList<string> Errors, string? Report);
