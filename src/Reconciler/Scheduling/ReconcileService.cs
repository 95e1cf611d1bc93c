using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Reconciler.Scheduling;

/// <summary>
/// Reconciles on a schedule (<c>reconcile.interval</c>) inside a worker: each run writes its reports to
/// <c>reconcile.out/&lt;run time&gt;</c>, is recorded in the targets and updates the metrics. A failed run
/// is logged and the schedule goes on.
/// </summary>
public sealed class ReconcileService(PipelineConfig config, IReadOnlyDictionary<string, ITargetMapping> mappings, ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger("Peeq.Cdc.Reconciler");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = config.Options.Reconcile.Interval;
        if (interval <= TimeSpan.Zero)
        {
            return;
        }

        var root = config.Resolve(config.Options.Reconcile.Out);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, stoppingToken);
                var dir = Path.Combine(root, DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
                var report = await ReconcileRunner.RunAsync(config, mappings, dir, _logger, stoppingToken);
                _logger.LogInformation("Reconcile: {Summary}; report in {Directory}", report.Summary, dir);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                ReconcilerMetrics.LastVerdict.WithLabels("failed").Set(1);
                foreach (var v in new[] { "clean", "different", "unresolved" })
                {
                    ReconcilerMetrics.LastVerdict.WithLabels(v).Set(0);
                }

                ReconcilerMetrics.LastRun.Set(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
                _logger.LogError("Reconcile: the scheduled run failed: {Error}", e.Message);
            }
        }
    }
}
