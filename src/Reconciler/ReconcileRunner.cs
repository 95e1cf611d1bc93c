using Microsoft.Extensions.Logging;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Reconciler;

/// <summary>A whole run as the command and the scheduled worker do it: reconcile, write the reports, record the run, export the metrics.</summary>
public static class ReconcileRunner
{
    public static async Task<ReconciliationReport> RunAsync(PipelineConfig config, IReadOnlyDictionary<string, ITargetMapping> mappings, string directory, ILogger logger, CancellationToken ct)
    {
        var report = await new Reconciliation(config, mappings, logger).RunAsync(directory, ct);
        await ReportFiles.WriteAsync(report, directory, ct);
        var errors = await RunRecorder.RecordAsync(config.Options, report, Path.GetFullPath(Path.Combine(directory, ReportFiles.Html)), ct);
        foreach (var e in errors)
        {
            logger.LogWarning("Reconcile: {Error}", e);
        }

        ReconcilerMetrics.Record(report);
        return report;
    }
}
