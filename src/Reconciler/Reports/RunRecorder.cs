using System.Text.Json;
using Dapper;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Reconciler.Reports;

/// <summary>
/// Records each run in peeq_cdc.reconciliation_runs of every target it read: the run's verdict, the
/// target's own verdict, the headline numbers and where the reports went. Each target keeps its own
/// audit trail, so no extra database has to exist for it.
/// </summary>
public static class RunRecorder
{
    public static async Task<IReadOnlyList<string>> RecordAsync(PipelineOptions options, ReconciliationReport report, string? reportPath, CancellationToken ct)
    {
        var errors = new List<string>();
        foreach (var target in options.Targets)
        {
            var counts = report.Checksums.Where(c => c.Target == target.Name).ToList();
            var tables = report.TableTotals.Where(t => t.Target == target.Name).ToList();
            var differences = counts.Sum(c => c.Missing + c.Extra + c.Changed) + tables.Sum(t => t.UnattributedRows);
            var unresolved = counts.Sum(c => c.Unresolved);
            var verdicts = counts.Select(c => c.Verdict).Concat(tables.Select(t => t.Verdict)).ToList();
            var targetVerdict = report.Errors.Count > 0 && verdicts.Count == 0 ? Verdict.Failed
                : verdicts.Contains(Verdict.Failed) ? Verdict.Failed
                : verdicts.Contains(Verdict.Different) ? Verdict.Different
                : verdicts.Contains(Verdict.Unresolved) ? Verdict.Unresolved : Verdict.Clean;
            try
            {
                await using var conn = await PgConnections.OpenAsync(target.ConnectionString, $"target '{target.Name}'", ct);
                // A read-only reconciler role (docs/security.md) may insert its run but not create the schema's tables.
                if (!await PipelineSchema.TableExistsAsync(conn, "reconciliation_runs", ct))
                {
                    await PipelineSchema.EnsureAsync(conn, ct);
                }

                await conn.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO peeq_cdc.reconciliation_runs (run_id, started_at, finished_at, verdict, target_verdict, differences, unresolved, parked, totals, report)
                    VALUES (@run, @started, @finished, @verdict, @targetVerdict, @differences, @unresolved, @parked, @totals::jsonb, @report)
                    ON CONFLICT (run_id) DO NOTHING
                    """, new
                {
                    run = report.RunId,
                    started = report.StartedAt.UtcDateTime,
                    finished = report.FinishedAt.UtcDateTime,
                    verdict = report.Verdict.ToString().ToLowerInvariant(),
                    targetVerdict = targetVerdict.ToString().ToLowerInvariant(),
                    differences,
                    unresolved,
                    parked = (long)report.Parked.Count(p => p.Target == target.Name),
                    totals = JsonSerializer.Serialize(report.Totals, ReconciliationReport.Json),
                    report = reportPath,
                }, cancellationToken: ct));
            }
            catch (Exception e) when (e is DatabaseUnavailableException or Npgsql.NpgsqlException)
            {
                errors.Add($"target '{target.Name}': the run could not be recorded: {e.Message}");
            }
        }

        return errors;
    }
}
