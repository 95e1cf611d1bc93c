using System.Collections.Concurrent;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Sink.Apply;

namespace Peeq.Cdc.Sink;

/// <summary>
/// Consumes the unified topics of the configured targets and hands each source's events to its own
/// <see cref="SourceApplier"/>: sources apply in parallel, each in its own commit order. A source
/// whose applier falls behind pauses only its own partition (bounded queues, never unbounded buffering).
/// </summary>
public sealed class SinkService(PipelineConfig config, KafkaEndpoint kafka, ILoggerFactory loggers, IReadOnlyCollection<string>? onlyTargets = null) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger("Peeq.Cdc.Sink");
    private readonly ConcurrentQueue<(string Source, TopicPartitionOffset Offset)> _done = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = config.Options;
        var targets = o.Targets.Where(t => onlyTargets is null || onlyTargets.Contains(t.Name)).ToList();
        var dataSources = new Dictionary<string, NpgsqlDataSource>();
        try
        {
            foreach (var t in targets)
            {
                var ds = NpgsqlDataSource.Create(PgConnections.Prepare(t.ConnectionString, $"peeq-cdc sink {t.Name}", 15));
                dataSources[t.Name] = ds;
                await PrepareTargetAsync(o, t, stoppingToken);
                await kafka.Admin.EnsureTopicAsync(Topics.Unified(o.Kafka.TopicPrefix, t.Name), Topics.UnifiedPartitionCount(o, t.Name), stoppingToken);
            }

            await kafka.Admin.EnsureTopicAsync($"{o.Kafka.TopicPrefix}.dlq.sink", 1, stoppingToken);
            await Task.Factory.StartNew(() => ConsumeAsync(targets, dataSources, stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        }
        finally
        {
            foreach (var ds in dataSources.Values)
            {
                await ds.DisposeAsync();
            }
        }
    }

    /// <summary>Creates the peeq_cdc schema (and, for identity targets, missing tables), retrying while the target is unreachable.</summary>
    private async Task PrepareTargetAsync(PipelineOptions o, TargetOptions t, CancellationToken ct)
    {
        var delay = o.Sink.RetryDelay;
        while (true)
        {
            try
            {
                await using var conn = await PgConnections.OpenAsync(t.ConnectionString, $"target '{t.Name}'", ct, 10);
                await PipelineSchema.EnsureAsync(conn, ct);
                if (t.IsIdentity && t.CreateTables)
                {
                    await IdentityTables.EnsureAsync(o, t, conn, _logger, ct);
                }

                return;
            }
            catch (Exception e) when (e is DatabaseUnavailableException or NpgsqlException && !PgConnections.IsPermanent(e))
            {
                _logger.LogWarning("Target {Target}: {Error}; retrying in {Delay}", t.Name, e.Message, delay);
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, o.Sink.MaxRetryDelay.Ticks));
            }
        }
    }

    /// <summary>Copies a message the Sink cannot take to the dead-letter topic as it is, with the reason and where it came from.</summary>
    private void DeadLetter(IProducer<byte[], byte[]> producer, ConsumeResult<byte[], byte[]> result, string reason)
    {
        SinkMetrics.DeadLettered.WithLabels(result.Topic).Inc();
        DeadLetters.Copy(producer, $"{config.Options.Kafka.TopicPrefix}.dlq.sink", result, reason);
    }

    private async Task ConsumeAsync(List<TargetOptions> targets, Dictionary<string, NpgsqlDataSource> dataSources, CancellationToken ct)
    {
        var o = config.Options;
        var sealKey = o.ResolveSealKey();
        var topics = targets.ToDictionary(t => Topics.Unified(o.Kafka.TopicPrefix, t.Name), t => t.Name);
        var foreign = new ForeignIdentities(o.Targets);
        var configured = o.Sources.Select(s => (s.Name, s.Target)).ToHashSet();
        var tables = targets.ToDictionary(t => t.Name, t => new TargetTables(dataSources[t.Name]) { Foreign = foreign });
        var appliers = new Dictionary<string, (SourceApplier Applier, Task Task)>();
        var upkeep = targets.Select(t => Task.Run(() => new Upkeep.TargetUpkeep(t, o, dataSources[t.Name], tables[t.Name], _logger).RunAsync(ct), ct)).ToList();
        var tracker = new OffsetTracker();
        // Messages of a paused partition, in order: librdkafka may still hand over what it prefetched
        // before the pause took effect, and none of it may be dropped or reordered.
        var stalled = new Dictionary<TopicPartition, Queue<(SourceApplier Applier, Delivered Item)>>();
        using var producer = new ProducerBuilder<byte[], byte[]>(kafka.ProducerConfig("peeq-cdc-sink-dlq")).Build();
        using var consumer = new ConsumerBuilder<byte[], byte[]>(kafka.ConsumerConfig(o.Sink.Group ?? $"{o.Kafka.TopicPrefix}-sink", "peeq-cdc-sink"))
            .SetPartitionsRevokedHandler((_, revoked) =>
            {
                foreach (var p in revoked)
                {
                    tracker.Revoked(p.TopicPartition);
                    stalled.Remove(p.TopicPartition);
                }
            })
            .SetPartitionsAssignedHandler((_, assigned) => _logger.LogInformation("Sink: assigned {Partitions}", string.Join(", ", assigned)))
            .SetErrorHandler((_, e) => _logger.LogWarning("Kafka: {Reason}", e.Reason))
            .Build();
        consumer.Subscribe(topics.Keys);
        _logger.LogInformation("Sink: consuming {Topics}", string.Join(", ", topics.Keys));
        var nextCommit = DateTime.UtcNow;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                foreach (var (tp, backlog) in stalled.ToList())
                {
                    while (backlog.TryPeek(out var next) && next.Applier.TryEnqueue(next.Item))
                    {
                        backlog.Dequeue();
                    }

                    if (backlog.Count == 0)
                    {
                        stalled.Remove(tp);
                        consumer.Resume([tp]);
                    }
                }

                var result = consumer.Consume(TimeSpan.FromMilliseconds(stalled.Count > 0 ? 5 : 50));
                if (result is not null && !result.IsPartitionEOF)
                {
                    UnifiedEvent? e = null;
                    try
                    {
                        e = UnifiedEventCodec.Read(result.Message.Value);
                    }
                    catch (FormatException fe)
                    {
                        _logger.LogError("Sink: unreadable message at {Topic}/{Partition}@{Offset}: {Error}; copied to the dead-letter topic",
                            result.Topic, result.Partition.Value, result.Offset.Value, fe.Message);
                        DeadLetter(producer, result, fe.Message);
                        tracker.ConsumedNothing(result.TopicPartition, result.Offset.Value);
                    }

                    if (e is not null)
                    {
                        var target = topics[result.Topic];
                        if (!configured.Contains((e.Source, target)))
                        {
                            _logger.LogError("Sink: event from source '{Source}' at {Topic}/{Partition}@{Offset}, which is not a configured source of target '{Target}'; copied to the dead-letter topic",
                                e.Source, result.Topic, result.Partition.Value, result.Offset.Value, target);
                            DeadLetter(producer, result, $"source '{e.Source}' is not a configured source of target '{target}'");
                            tracker.ConsumedNothing(result.TopicPartition, result.Offset.Value);
                        }
                        else
                        {
                            if (!appliers.TryGetValue(e.Source, out var a))
                            {
                                var sourceOptions = o.Source(e.Source);
                                var applier = new SourceApplier(e.Source, target, dataSources[target], o.Sink, tables[target], sealKey,
                                    _logger, (s, off) => _done.Enqueue((s, off)),
                                    sourceOptions.FinancialTables.Select(f => TableId.Parse(f)),
                                    SensitiveColumnsOf(o, target));
                                a = (applier, Task.Run(() => applier.RunAsync(stop.Token), stop.Token));
                                appliers[e.Source] = a;
                            }

                            tracker.Consumed(result.TopicPartition, e.Source, result.Offset.Value);
                            var item = new Delivered(e, result.TopicPartitionOffset, result.Message.Value.Length);
                            if (stalled.TryGetValue(result.TopicPartition, out var backlog))
                            {
                                backlog.Enqueue((a.Applier, item));
                            }
                            else if (!a.Applier.TryEnqueue(item))
                            {
                                consumer.Pause([result.TopicPartition]);
                                stalled[result.TopicPartition] = new Queue<(SourceApplier, Delivered)>([(a.Applier, item)]);
                            }
                        }
                    }
                }

                while (_done.TryDequeue(out var d))
                {
                    tracker.Done(d.Source, d.Offset);
                }

                if (DateTime.UtcNow >= nextCommit)
                {
                    nextCommit = DateTime.UtcNow.AddMilliseconds(250);
                    Commit(consumer, tracker);
                    ReportLag(consumer);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var (applier, task) in appliers.Values)
            {
                try
                {
                    await task;
                }
                catch (OperationCanceledException)
                {
                }

                await applier.DisposeAsync();
            }

            while (_done.TryDequeue(out var d))
            {
                tracker.Done(d.Source, d.Offset);
            }

            Commit(consumer, tracker);
            consumer.Close();
            try
            {
                await Task.WhenAll(upkeep);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Target column names that carry a sensitive value (a sealed value lands in the column of the same name).</summary>
    private static HashSet<string> SensitiveColumnsOf(PipelineOptions o, string target) =>
        o.Sources.Where(s => s.Target == target)
            .SelectMany(s => s.SensitiveColumns)
            .Select(c => ColumnRef.TryParse(c, out var r, out _) ? r.Column : null)
            .OfType<string>()
            .ToHashSet(StringComparer.Ordinal);

    private void Commit(IConsumer<byte[], byte[]> consumer, OffsetTracker tracker)
    {
        var offsets = tracker.Committable().Where(o => consumer.Assignment.Contains(o.TopicPartition)).ToList();
        if (offsets.Count == 0)
        {
            return;
        }

        try
        {
            consumer.Commit(offsets);
        }
        catch (KafkaException e)
        {
            _logger.LogDebug("Sink: offset commit failed ({Reason}); retried with the next one", e.Error.Reason);
        }
    }

    private static void ReportLag(IConsumer<byte[], byte[]> consumer)
    {
        foreach (var tp in consumer.Assignment)
        {
            var w = consumer.GetWatermarkOffsets(tp);
            var position = consumer.Position(tp);
            if (w.High.Value >= 0 && position.Value >= 0)
            {
                SinkMetrics.ConsumerLag.WithLabels(tp.Topic, tp.Partition.Value.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    .Set(Math.Max(0, w.High.Value - position.Value));
            }
        }
    }
}
