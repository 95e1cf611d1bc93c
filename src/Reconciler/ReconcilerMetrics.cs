using Peeq.Cdc.Reconciler.Reports;
using Prometheus;

namespace Peeq.Cdc.Reconciler;

/// <summary>The reconciler's metrics (docs/metrics.md): the last run's results, for dashboards and alerts.</summary>
public static class ReconcilerMetrics
{
    public static readonly Gauge LastVerdict = Metrics.CreateGauge(
        "peeq_cdc_reconcile_last_verdict", "1 for the verdict of the last reconciliation run (clean, different, unresolved, failed), 0 for the others.", "verdict");

    public static readonly Gauge LastRun = Metrics.CreateGauge(
        "peeq_cdc_reconcile_last_run_timestamp_seconds", "When the last reconciliation run finished (Unix time).");

    public static readonly Gauge LastDuration = Metrics.CreateGauge(
        "peeq_cdc_reconcile_last_duration_seconds", "How long the last reconciliation run took.");

    public static readonly Counter Runs = Metrics.CreateCounter(
        "peeq_cdc_reconcile_runs_total", "Reconciliation runs, by verdict.", "verdict");

    public static readonly Gauge Differences = Metrics.CreateGauge(
        "peeq_cdc_reconcile_differences", "Row differences in the last run, by target and status (different, unresolved, parked, shadowed).", "target", "status");

    public static readonly Gauge TableDifferences = Metrics.CreateGauge(
        "peeq_cdc_reconcile_table_differences", "Real row differences in the last run, by target table.", "target", "table");

    public static readonly Gauge BalanceDifferences = Metrics.CreateGauge(
        "peeq_cdc_reconcile_balance_differences", "Balance groups that differ in the last run, by check and status.", "check", "status");

    public static readonly Gauge Observations = Metrics.CreateGauge(
        "peeq_cdc_reconcile_observations", "Rows breaking an invariant in the last run, by invariant and side.", "check", "side");

    public static readonly Gauge Dangling = Metrics.CreateGauge(
        "peeq_cdc_reconcile_dangling_references", "Dangling reference rows in the last run, by reference and class (in_flight, orphaned, excluded, undetermined).", "reference", "class");

    public static readonly Gauge Parked = Metrics.CreateGauge(
        "peeq_cdc_reconcile_parked_rows", "Open parked rows seen by the last run, by target.", "target");

    private static readonly string[] Verdicts = ["clean", "different", "unresolved", "failed"];

    public static void Record(ReconciliationReport r)
    {
        var verdict = r.Verdict.ToString().ToLowerInvariant();
        foreach (var v in Verdicts)
        {
            LastVerdict.WithLabels(v).Set(v == verdict ? 1 : 0);
        }

        LastRun.Set(r.FinishedAt.ToUnixTimeMilliseconds() / 1000.0);
        LastDuration.Set((r.FinishedAt - r.StartedAt).TotalSeconds);
        Runs.WithLabels(verdict).Inc();
        foreach (var target in r.Counts.Select(c => c.Target).Concat(r.TableTotals.Select(t => t.Target)).Distinct())
        {
            foreach (var status in Enum.GetValues<DifferenceStatus>())
            {
                Differences.WithLabels(target, status.ToString().ToLowerInvariant()).Set(
                    status switch
                    {
                        DifferenceStatus.Unresolved => r.Checksums.Where(c => c.Target == target).Sum(c => c.Unresolved),
                        DifferenceStatus.Parked => r.Checksums.Where(c => c.Target == target).Sum(c => c.Parked),
                        DifferenceStatus.Shadowed => r.Checksums.Where(c => c.Target == target).Sum(c => c.Shadowed),
                        _ => r.Checksums.Where(c => c.Target == target).Sum(c => c.Missing + c.Extra + c.Changed)
                             + r.TableTotals.Where(t => t.Target == target).Sum(t => t.UnattributedRows),
                    });
            }

            Parked.WithLabels(target).Set(r.Parked.Count(p => p.Target == target));
        }

        foreach (var t in r.TableTotals)
        {
            TableDifferences.WithLabels(t.Target, t.TargetTable).Set(
                r.Checksums.Where(c => c.Target == t.Target && c.TargetTable == t.TargetTable).Sum(c => c.Missing + c.Extra + c.Changed) + t.UnattributedRows);
        }

        foreach (var b in r.Balances)
        {
            BalanceDifferences.WithLabels(b.Name, "different").Set(b.GroupsDiffering);
            BalanceDifferences.WithLabels(b.Name, "unresolved").Set(b.GroupsUnresolved);
        }

        foreach (var i in r.Invariants)
        {
            Observations.WithLabels(i.Name, i.Side).Set(i.Breaks);
        }

        foreach (var x in r.References)
        {
            Dangling.WithLabels(x.Name, "in_flight").Set(x.InFlight);
            Dangling.WithLabels(x.Name, "orphaned").Set(x.Orphaned);
            Dangling.WithLabels(x.Name, "excluded").Set(x.Excluded);
            Dangling.WithLabels(x.Name, "undetermined").Set(x.Undetermined);
        }
    }
}
