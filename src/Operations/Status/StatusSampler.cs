using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Configuration;

namespace Peeq.Cdc.Operations.Status;

/// <summary>
/// Samples the status every <c>dashboard.refreshInterval</c> in the background: the page and /api/status serve
/// the latest sample, the <c>peeq_cdc_status_*</c> gauges export it, and the notification watcher reacts to it.
/// One sampler per process, so the lag rules see one steady sequence of samples.
/// </summary>
public sealed partial class StatusSampler(StatusCollector collector, PipelineOptions options, ILogger<StatusSampler> logger) : BackgroundService
{
    private readonly TaskCompletionSource<PipelineStatus> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Func<PipelineStatus, CancellationToken, Task>> _subscribers = [];
    private volatile PipelineStatus? _latest;

    public PipelineStatus? Latest => _latest;

    /// <summary>Called after every sample, in order, on the sampler's loop.</summary>
    public void Subscribe(Func<PipelineStatus, CancellationToken, Task> onSample)
    {
        lock (_subscribers)
        {
            _subscribers.Add(onSample);
        }
    }

    /// <summary>The latest sample, waiting for the first one if none was taken yet.</summary>
    public async Task<PipelineStatus> GetAsync(CancellationToken ct) => _latest ?? await _first.Task.WaitAsync(ct);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Dashboard.RefreshInterval);
        do
        {
            try
            {
                var status = await collector.CollectAsync(stoppingToken);
                _latest = status;
                _first.TrySetResult(status);
                StatusMetrics.Export(status);
                Func<PipelineStatus, CancellationToken, Task>[] subscribers;
                lock (_subscribers)
                {
                    subscribers = [.. _subscribers];
                }

                foreach (var s in subscribers)
                {
                    await s(status, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogSampleFailed(logger, e.Message, e);
            }
        }
        while (await NextAsync(timer, stoppingToken));
    }

    private static async Task<bool> NextAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            return await timer.WaitForNextTickAsync(ct);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        _first.TrySetCanceled(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Status sample failed: {Error}")]
    private static partial void LogSampleFailed(ILogger logger, string error, Exception e);
}
