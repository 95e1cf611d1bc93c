using Prometheus;

namespace Peeq.Cdc.Operations.Status;

/// <summary>
/// The status, exported by the process that samples it (<c>dashboard</c>, <c>run</c>, <c>demo</c>) so that
/// Prometheus alerts on the same lag definition the dashboard shows (docs/metrics.md, "Status").
/// </summary>
public static class StatusMetrics
{
    public static readonly Gauge SourceLagSeconds = Metrics.CreateGauge(
        "peeq_cdc_status_source_lag_seconds", "Seconds the target is behind the source (0 when caught up; docs/operations.md, Lag).", "source");

    public static readonly Gauge SourceLagBytes = Metrics.CreateGauge(
        "peeq_cdc_status_source_lag_bytes", "Source server WAL position minus the end LSN the target has applied.", "source");

    public static readonly Gauge SourceStalled = Metrics.CreateGauge(
        "peeq_cdc_status_source_stalled", "1 while the source's lag is at or over dashboard.stallAfter.", "source");

    public static readonly Gauge SourceParkedRows = Metrics.CreateGauge(
        "peeq_cdc_status_source_parked_rows", "Rows of the source parked in its target and not yet resolved (peeq_cdc.parked_rows).", "source");

    public static readonly Gauge ServerRetainedWalBytes = Metrics.CreateGauge(
        "peeq_cdc_status_server_retained_wal_bytes", "WAL a source server keeps for all its replication slots (current position minus the oldest restart LSN).", "server");

    public static readonly Gauge ServerMaxSlotWalKeepSizeBytes = Metrics.CreateGauge(
        "peeq_cdc_status_server_max_slot_wal_keep_size_bytes", "The server's max_slot_wal_keep_size in bytes (-1 unlimited).", "server");

    public static readonly Gauge TargetTables = Metrics.CreateGauge(
        "peeq_cdc_status_target_tables", "Target tables per source not ready, by state (loading, parked).", "target", "state");

    public static readonly Gauge StageLagMessages = Metrics.CreateGauge(
        "peeq_cdc_status_stage_lag_messages", "Messages on a stage's input topics not yet committed by its consumer group.", "stage");

    public static readonly Gauge SampleTimestamp = Metrics.CreateGauge(
        "peeq_cdc_status_sample_timestamp_seconds", "When the status was last sampled.");

    public static void Export(PipelineStatus s)
    {
        foreach (var src in s.Sources)
        {
            Set(SourceLagSeconds.WithLabels(src.Name), src.LagSeconds);
            Set(SourceLagBytes.WithLabels(src.Name), src.LagBytes);
            SourceStalled.WithLabels(src.Name).Set(src.State == "stalled" ? 1 : 0);
            Set(SourceParkedRows.WithLabels(src.Name), src.ParkedRows);
        }

        foreach (var server in s.Servers)
        {
            Set(ServerRetainedWalBytes.WithLabels(server.Server), server.RetainedWalBytes);
            Set(ServerMaxSlotWalKeepSizeBytes.WithLabels(server.Server), server.MaxSlotWalKeepSizeBytes);
        }

        foreach (var t in s.Targets)
        {
            Set(TargetTables.WithLabels(t.Name, "loading"), t.TablesLoading);
            Set(TargetTables.WithLabels(t.Name, "parked"), t.TablesParked);
        }

        foreach (var stage in s.Stages)
        {
            Set(StageLagMessages.WithLabels(stage.Stage), stage.LagMessages);
        }

        SampleTimestamp.Set(s.SampledAt.ToUnixTimeMilliseconds() / 1000.0);
    }

    private static void Set(Gauge.Child gauge, double? value)
    {
        // Unknown is not zero: an unreadable figure keeps its series but reads NaN, which no threshold matches.
        gauge.Set(value ?? double.NaN);
    }
}
