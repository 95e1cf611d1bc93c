using Prometheus;

namespace Peeq.Cdc.Transform;

/// <summary>Transform's metrics (docs/metrics.md).</summary>
public static class TransformMetrics
{
    public static readonly Counter EventsIn = Metrics.CreateCounter(
        "peeq_cdc_transform_events_total", "Raw change events consumed.", "source");

    public static readonly Counter OperationsOut = Metrics.CreateCounter(
        "peeq_cdc_transform_operations_total", "Target row operations produced.", "source", "target");

    public static readonly Counter Transactions = Metrics.CreateCounter(
        "peeq_cdc_transform_transactions_total", "Source transactions passed on whole.", "source");

    public static readonly Counter Parked = Metrics.CreateCounter(
        "peeq_cdc_transform_parked_total", "Changes that could not be mapped and were parked with their reason.", "source", "table");

    public static readonly Counter Incomplete = Metrics.CreateCounter(
        "peeq_cdc_transform_incomplete_transactions_total", "Raw transactions that arrived without all their events (not passed on; the Sink replays them from the slot).", "source");

    public static readonly Counter DeadLettered = Metrics.CreateCounter(
        "peeq_cdc_transform_dead_letters_total", "Messages on a raw topic that could not be read at all, copied to the dead-letter topic.", "topic");

    public static readonly Counter TablesParked = Metrics.CreateCounter(
        "peeq_cdc_transform_tables_parked_total", "Schema changes a mapping could not take (the source table is parked at the Sink).", "source", "table");

    public static readonly Counter ProgressMarkers = Metrics.CreateCounter(
        "peeq_cdc_transform_progress_markers_total", "Progress markers sent for stretches of raw events that mapped to nothing (flow control only).", "source");
}
