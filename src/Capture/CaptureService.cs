using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Capture.Position;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Capture;

/// <summary>
/// Captures every configured source (or the ones named) into its raw topic. Each source is its own
/// failure domain: an unreachable source is retried with backoff while the others flow; one that needs
/// an operator (a setting, a privilege, a lost slot) says what to do and is re-checked every minute.
/// </summary>
public sealed class CaptureService(PipelineConfig config, KafkaEndpoint kafka, ILoggerFactory loggers, IReadOnlyCollection<string>? only = null) : BackgroundService
{
    /// <summary>Environment variable holding the base64 AES-256 key that seals sensitive columns (shared with the Sink).</summary>
    public const string SealKeyVariable = PipelineOptions.SealKeyVariable;

    private readonly ILogger _logger = loggers.CreateLogger("Peeq.Cdc.Capture");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var options = config.Options;
        // Debezium-fed sources have their own connector; Capture leaves them alone.
        var sources = options.Sources.Where(s => (only is null || only.Contains(s.Name)) && !s.IsDebezium).ToList();
        var producerConfig = kafka.ProducerConfig("peeq-cdc-capture");

        // Capture reads only a delivery report's error: without this, every report also copies the message's
        // headers and timestamp back from librdkafka (one allocation per event).
        producerConfig.DeliveryReportFields = "status";
        using var producer = new ProducerBuilder<byte[], byte[]>(producerConfig)
            .SetLogHandler((_, m) => _logger.LogDebug("librdkafka {Facility}: {Message}", m.Facility, m.Message))
            .Build();
        foreach (var s in sources)
        {
            await kafka.Admin.EnsureTopicAsync(Topics.Raw(options.Kafka.TopicPrefix, s.Name), 1, stoppingToken);
        }

        var protector = options.ResolveSealKey() is { } key ? (ISensitiveValueProtector)new SealSensitiveValues(key) : OmitSensitiveValues.Instance;
        var orphans = Task.Run(() => ReportOrphanSlotsAsync(options, stoppingToken), stoppingToken);
        await Task.WhenAll(sources.Select(s => Task.Run(() => RunSourceAsync(s, producer, protector, stoppingToken), stoppingToken)).Append(orphans));
        producer.Flush(TimeSpan.FromSeconds(5));
    }

    /// <summary>Every Capture-fed source of the configuration on the same server as <paramref name="source"/> (each needs a slot and a WAL sender there).</summary>
    public static IReadOnlyCollection<SourceOptions> SameServer(PipelineOptions options, SourceOptions source)
    {
        var server = SourceAdmin.ServerOf(source.ConnectionString);
        return options.Sources.Where(s => !s.IsDebezium && SourceAdmin.ServerOf(s.ConnectionString) == server).ToList();
    }

    private async Task RunSourceAsync(SourceOptions source, IProducer<byte[], byte[]> producer, ISensitiveValueProtector protector, CancellationToken ct)
    {
        var options = config.Options;
        var target = options.Target(source.Target);
        await using var control = NpgsqlDataSource.Create(PgConnections.Prepare(source.ConnectionString, $"peeq-cdc capture {source.Name}", 10));
        await using var targetDb = NpgsqlDataSource.Create(PgConnections.Prepare(target.ConnectionString, $"peeq-cdc capture {source.Name}", 10));
        var window = new InFlightWindow(options.Capture.InFlightBytes, CaptureMetrics.InFlightPeakBytes.WithLabels(source.Name));
        var raw = new RawEventProducer(producer, source.Name, Topics.Raw(options.Kafka.TopicPrefix, source.Name), window);
        var delay = options.Capture.RetryDelay;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                PreparedSource prepared;
                await using (var conn = await PgConnections.OpenAsync(source.ConnectionString, $"source '{source.Name}'", ct, 10))
                {
                    prepared = await ReplicationSetup.PrepareAsync(source, conn, _logger, ct, SameServer(options, source));
                }

                CaptureMetrics.RetryDelaySeconds.WithLabels(source.Name).Set(0);
                var session = new SourceCaptureSession(new SourceCaptureContext(prepared, options.Capture, control, targetDb,
                    new RawEventProducer(producer, source.Name, raw.Topic, window), window, protector, _logger));
                await session.RunAsync(ct);
                delay = options.Capture.RetryDelay;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (CaptureSetupException e)
            {
                CaptureMetrics.Up.WithLabels(source.Name).Set(0);
                CaptureMetrics.Errors.WithLabels(source.Name, "permanent").Inc();
                CaptureMetrics.RetryDelaySeconds.WithLabels(source.Name).Set(60);
                _logger.LogError("{Message} (re-checked every minute; other sources keep flowing)", e.Message);
                await Delay(TimeSpan.FromMinutes(1), ct);
            }
            catch (Exception e) when (PgConnections.IsPermanent(e))
            {
                CaptureMetrics.Up.WithLabels(source.Name).Set(0);
                CaptureMetrics.Errors.WithLabels(source.Name, "permanent").Inc();
                CaptureMetrics.RetryDelaySeconds.WithLabels(source.Name).Set(60);
                _logger.LogError("Source {Source}: {Error} (re-checked every minute; other sources keep flowing)", source.Name, PgConnections.Explain(e));
                await Delay(TimeSpan.FromMinutes(1), ct);
            }
            catch (Exception e)
            {
                CaptureMetrics.Up.WithLabels(source.Name).Set(0);
                CaptureMetrics.Errors.WithLabels(source.Name, e is KafkaDeliveryException ? "produce" : e is DatabaseUnavailableException ? "connect" : "stream").Inc();
                CaptureMetrics.RetryDelaySeconds.WithLabels(source.Name).Set(delay.TotalSeconds);
                _logger.LogWarning("Source {Source}: {Error}; retrying in {Delay}", source.Name, PgConnections.Explain(e), delay);
                _logger.LogDebug(e, "Source {Source} failure detail", source.Name);
                await Delay(delay, ct);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.Capture.MaxRetryDelay.Ticks));
            }
        }

        CaptureMetrics.Up.WithLabels(source.Name).Set(0);
    }

    /// <summary>
    /// Slots named like ours (peeq_cdc_*) on the sources' servers that no configured source owns hold WAL
    /// for nobody (a source removed from the config without 'peeq-cdc source remove', a renamed source):
    /// reported at start and every few minutes, never dropped automatically.
    /// </summary>
    private async Task ReportOrphanSlotsAsync(PipelineOptions options, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var orphans = await SourceAdmin.OrphanSlotsAsync(options, ct);
                foreach (var server in options.Sources.Select(s => SourceAdmin.ServerOf(s.ConnectionString)).Distinct())
                {
                    CaptureMetrics.OrphanSlots.WithLabels(server).Set(orphans.Count(o => o.Server == server));
                }

                foreach (var o in orphans)
                {
                    _logger.LogWarning(
                        "Slot {Slot} on {Server} (database {Database}, {State}, retaining {Retained} bytes of WAL) is named like Capture's but no configured source owns it. "
                        + "If it is no longer needed: SELECT pg_drop_replication_slot('{Slot}'); (or 'peeq-cdc source remove' with the configuration that had it)",
                        o.Slot, o.Server, o.Database, o.Active ? "active" : "inactive", o.RetainedBytes, o.Slot);
                }
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                _logger.LogDebug("Orphan slot check failed: {Error}", PgConnections.Explain(e));
            }

            await Delay(TimeSpan.FromMinutes(5), ct);
        }
    }

    private static async Task Delay(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, ct);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
