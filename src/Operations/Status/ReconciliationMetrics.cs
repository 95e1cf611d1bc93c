using Peeq.Cdc.Reconciler.Reports;
using Prometheus;

namespace Peeq.Cdc.Operations.Status;

/// <summary>
/// The latest reconciliation verdict as metrics (docs/metrics.md, "Reconciler"). Whatever process runs a
/// reconciliation calls <see cref="Record"/> when it finishes (today the demo and <c>reconcile</c>; the
/// reconciler's scheduled worker exports exactly these names). The alert rules in deploy/prometheus depend on them.
/// </summary>
public static class ReconciliationMetrics
{
    public static readonly Gauge LastVerdict = Metrics.CreateGauge(
        "peeq_cdc_reconcile_last_verdict", "1 for the verdict of the latest reconciliation run (clean, different, unresolved, failed), 0 for the others.", "verdict");

    public static readonly Gauge LastRunTimestamp = Metrics.CreateGauge(
        "peeq_cdc_reconcile_last_run_timestamp_seconds", "When the latest reconciliation run finished.");

    public static void Record(ReconciliationReport report)
    {
        foreach (var v in Enum.GetValues<Verdict>())
        {
            LastVerdict.WithLabels(v.ToString().ToLowerInvariant()).Set(v == report.Verdict ? 1 : 0);
        }

        LastRunTimestamp.Set(report.FinishedAt.ToUnixTimeMilliseconds() / 1000.0);
    }
}
