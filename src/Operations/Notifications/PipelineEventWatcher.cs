using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Notifications;
using Peeq.Cdc.Operations.Status;

namespace Peeq.Cdc.Operations.Notifications;

/// <summary>
/// Watches the status samples and publishes what changed: a source became stalled or recovered, a target
/// table was parked. Each transition is published once per process; at start, sources already stalled and
/// tables already parked are announced (subscribers deduplicate by source, or by target, table, source and ParkedAt).
/// </summary>
public sealed partial class PipelineEventWatcher(StatusSampler sampler, IBus bus, ILogger<PipelineEventWatcher> logger) : IHostedService
{
    private readonly Dictionary<string, DateTimeOffset> _stalledSince = new(StringComparer.Ordinal);
    private readonly HashSet<(string Target, string Table, string Source, DateTimeOffset Since)> _parked = [];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        sampler.Subscribe(OnSampleAsync);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    internal async Task OnSampleAsync(PipelineStatus status, CancellationToken ct)
    {
        foreach (var s in status.Sources)
        {
            var stalled = s.State == "stalled";
            if (stalled && !_stalledSince.ContainsKey(s.Name))
            {
                _stalledSince[s.Name] = status.SampledAt;
                await PublishAsync(new SourceStalled(s.Name, s.Target, s.LagSeconds ?? 0, s.AppliedCommitTime, s.StateReason ?? "behind", status.SampledAt), ct);
            }
            else if (!stalled && s.CaughtUp && _stalledSince.Remove(s.Name, out var since))
            {
                await PublishAsync(new SourceRecovered(s.Name, s.Target, status.SampledAt - since, status.SampledAt), ct);
            }
        }

        foreach (var t in status.Targets)
        {
            foreach (var p in t.ParkedTables)
            {
                if (_parked.Add((t.Name, p.Table, p.Source, p.Since)))
                {
                    await PublishAsync(new TableParked(t.Name, p.Table, p.Source, p.Reason, p.Since), ct);
                }
            }
        }
    }

    private async Task PublishAsync<T>(T message, CancellationToken ct)
        where T : class
    {
        LogPublishing(logger, typeof(T).Name, message.ToString() ?? "");
        try
        {
            // A broker that is away must not hold up the status: bounded, and the failure is logged.
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(10));
            await bus.Publish(message, cts.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            LogPublishFailed(logger, typeof(T).Name, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Notification {Event}: {Message}")]
    private static partial void LogPublishing(ILogger logger, string @event, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Notification {Event} could not be published: {Error}")]
    private static partial void LogPublishFailed(ILogger logger, string @event, string error);
}
