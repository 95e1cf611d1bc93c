using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Notifications;
using Peeq.Cdc.Reconciler.Reports;

namespace Peeq.Cdc.Operations.Notifications;

/// <summary>
/// Publishes pipeline events (Peeq.Cdc.Notifications.Contracts) with MassTransit: in memory by default, so
/// in-process subscribers see them; on RabbitMQ by configuration (<c>notifications.transport: rabbitmq</c>), where
/// each event type is a fanout exchange other services bind their queues to. docs/operations.md, "Notifications".
/// </summary>
public static class NotificationsSetup
{
    public static bool Enabled(NotificationsOptions o) => !string.Equals(o.Transport, "off", StringComparison.OrdinalIgnoreCase);

    public static bool IsRabbitMq(NotificationsOptions o) => string.Equals(o.Transport, "rabbitmq", StringComparison.OrdinalIgnoreCase);

    /// <summary>Registers the bus (hosted with the process) and the watcher that turns status samples into events.</summary>
    public static void AddPipelineNotifications(this IServiceCollection services, NotificationsOptions o)
    {
        if (!Enabled(o))
        {
            return;
        }

        services.AddMassTransit(x => x.UsingTransport(o));
        services.AddHostedService<PipelineEventWatcher>();
    }

    /// <summary>A bus of its own, for one-shot commands (<c>reconcile</c>) that publish one event and exit.</summary>
    public static IBusControl CreateBus(NotificationsOptions o) =>
        IsRabbitMq(o)
            ? Bus.Factory.CreateUsingRabbitMq(cfg => Host(cfg, o.RabbitMq))
            : Bus.Factory.CreateUsingInMemory(_ => { });

    private static void UsingTransport(this IBusRegistrationConfigurator x, NotificationsOptions o)
    {
        if (IsRabbitMq(o))
        {
            x.UsingRabbitMq((ctx, cfg) =>
            {
                Host(cfg, o.RabbitMq);
                cfg.ConfigureEndpoints(ctx);
            });
        }
        else
        {
            x.UsingInMemory((ctx, cfg) => cfg.ConfigureEndpoints(ctx));
        }
    }

    private static void Host(IRabbitMqBusFactoryConfigurator cfg, RabbitMqOptions r) =>
        cfg.Host(new Uri(r.Host), h =>
        {
            h.Username(r.Username);
            h.Password(r.Password);
        });

    /// <summary>The event for a finished reconciliation run: <see cref="ReconciliationFailed"/> when it had no verdict.</summary>
    public static object ReconciliationEvent(ReconciliationReport report, string? reportPath) =>
        report.Verdict == Verdict.Failed
            ? new ReconciliationFailed(report.RunId, report.StartedAt, report.FinishedAt, report.Errors, reportPath)
            : new ReconciliationFinished(report.RunId, report.Verdict.ToString().ToLowerInvariant(), report.StartedAt, report.FinishedAt,
                report.Totals.TablePairs, report.Totals.TablePairsClean, reportPath);

    /// <summary>Publishes a reconciliation's outcome on the bus of a running process (its in-process subscribers, or the broker).</summary>
    public static async Task PublishReconciliationAsync(IServiceProvider services, ReconciliationReport report, string? reportPath, CancellationToken ct)
    {
        if (services.GetService<IBus>() is { } bus)
        {
            await bus.Publish(ReconciliationEvent(report, reportPath), ct);
        }
    }

    /// <summary>
    /// Publishes a reconciliation's outcome from a one-shot command. Only a broker has subscribers outside this
    /// process, so with the in-memory transport there is nobody to tell and nothing is sent.
    /// </summary>
    public static async Task PublishReconciliationAsync(NotificationsOptions o, ReconciliationReport report, string? reportPath, CancellationToken ct)
    {
        if (!IsRabbitMq(o))
        {
            return;
        }

        var bus = CreateBus(o);
        await bus.StartAsync(ct);
        try
        {
            await bus.Publish(ReconciliationEvent(report, reportPath), ct);
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None);
        }
    }
}
