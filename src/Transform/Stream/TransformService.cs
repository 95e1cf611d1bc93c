using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Transform.Debezium;
using Peeq.Cdc.Transform.Mapping;
using Peeq.Cdc.Transform.Mapping.Declarative;

namespace Peeq.Cdc.Transform.Stream;

/// <summary>
/// Consumes the raw topics of the configured sources and produces their target row operations to the
/// unified topics, transaction by transaction: a raw transaction that arrives incomplete is not passed
/// on (its commit marker is withheld, so the Sink never applies it and asks for a replay). Raw offsets
/// are committed only once a transaction's commit marker has been delivered: after a crash the
/// Transform resumes at a transaction boundary.
/// </summary>
public sealed class TransformService(
    PipelineConfig config,
    KafkaEndpoint kafka,
    IReadOnlyDictionary<string, ITargetMapping> mappings,
    ILoggerFactory loggers,
    IReadOnlyCollection<string>? only = null) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger("Peeq.Cdc.Transform");
    private readonly ConcurrentQueue<TopicPartitionOffset> _delivered = new();
    private readonly ConcurrentDictionary<TopicPartition, bool> _failed = new();
    private Action<DeliveryReport<byte[], byte[]>>? _deliveredNothingToCommitHandler;

    // Raw bytes in a row that became nothing on the unified topic after which a progress marker is sent: a quarter
    // of Capture's in-flight window, which only what the Sink receives frees (docs/contracts.md, item 3).
    private readonly long _progressEvery = Math.Max(1, config.Options.Capture.InFlightBytes / 4);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => Run(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();

    private async Task Run(CancellationToken ct)
    {
        var o = config.Options;
        var sources = o.Sources.Where(s => only is null || only.Contains(s.Name)).ToList();
        var rawTopics = sources.Where(s => !s.IsDebezium).ToDictionary(s => Topics.Raw(o.Kafka.TopicPrefix, s.Name), s => s.Name);
        foreach (var topic in rawTopics.Keys)
        {
            await kafka.Admin.EnsureTopicAsync(topic, 1, ct);
        }

        var debezium = await DebeziumInputsAsync(sources.Where(s => s.IsDebezium).ToList(), ct);
        foreach (var topic in debezium.Keys)
        {
            await kafka.Admin.EnsureTopicAsync(topic, 1, ct);
        }

        foreach (var target in sources.Select(s => s.Target).Distinct())
        {
            await kafka.Admin.EnsureTopicAsync(Topics.Unified(o.Kafka.TopicPrefix, target), Topics.UnifiedPartitionCount(o, target), ct);
        }

        var dlq = $"{o.Kafka.TopicPrefix}.dlq.transform";
        await kafka.Admin.EnsureTopicAsync(dlq, 1, ct);

        var group = o.Transform.Group ?? $"{o.Kafka.TopicPrefix}-transform";
        var states = new Dictionary<TopicPartition, PartitionState>();
        // Per message, the client marshals only what this loop reads: a consumed message's topic (not its headers or
        // timestamp), a delivery report's status and key (not the value, headers or timestamp).
        var producerConfig = kafka.ProducerConfig("peeq-cdc-transform");
        producerConfig.DeliveryReportFields = "key,status";
        var consumerConfig = kafka.ConsumerConfig(group, "peeq-cdc-transform");
        consumerConfig.ConsumeResultFields = "topic";
        using var producer = new ProducerBuilder<byte[], byte[]>(producerConfig).Build();
        using var consumer = new ConsumerBuilder<byte[], byte[]>(consumerConfig)
            .SetPartitionsRevokedHandler((_, revoked) =>
            {
                foreach (var p in revoked)
                {
                    states.Remove(p.TopicPartition);
                }
            })
            .SetPartitionsAssignedHandler((_, assigned) => _logger.LogInformation("Transform: assigned {Partitions}", string.Join(", ", assigned)))
            .SetErrorHandler((_, e) => _logger.LogWarning("Kafka: {Reason}", e.Reason))
            .Build();
        consumer.Subscribe(rawTopics.Keys.Concat(debezium.Keys));
        _logger.LogInformation("Transform: consuming {Topics} as group {Group}", string.Join(", ", rawTopics.Keys.Concat(debezium.Keys)), group);
        var output = new MappingOutput();
        var nextCommit = DateTime.UtcNow;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (result is not null && !result.IsPartitionEOF && debezium.TryGetValue(result.Topic, out var input))
                {
                    AcceptDebezium(producer, input, result, dlq);
                }
                else if (result is not null && !result.IsPartitionEOF)
                {
                    if (!states.TryGetValue(result.TopicPartition, out var state))
                    {
                        var name = rawTopics[result.Topic];
                        var route = Topics.UnifiedRoute(o, name);
                        state = new PartitionState(name, new TopicPartition(route.Topic, route.Partition), mappings[o.Source(name).Target],
                            o.Source(name).Tables.Select(t => TableId.Parse(t)).ToHashSet());
                        states[result.TopicPartition] = state;
                    }

                    Handle(producer, state, result, output, dlq);
                }

                if (debezium.Count > 0)
                {
                    foreach (var d in debezium.Values.DistinctBy(i => i.Source))
                    {
                        ReleaseDebezium(producer, d);
                    }
                }

                if (DateTime.UtcNow >= nextCommit)
                {
                    nextCommit = DateTime.UtcNow.AddMilliseconds(200);
                    CommitDelivered(consumer);
                    Recover(consumer, states);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (ConsumeException e) when (e.Error.IsFatal)
        {
            _logger.LogCritical("Transform: fatal Kafka error: {Reason}", e.Error.Reason);
            throw;
        }
        finally
        {
            producer.Flush(TimeSpan.FromSeconds(10));
            CommitDelivered(consumer);
            consumer.Close();
        }
    }

    private void Handle(IProducer<byte[], byte[]> producer, PartitionState state, ConsumeResult<byte[], byte[]> result, MappingOutput output, string dlq)
    {
        RawEvent raw;
        try
        {
            raw = RawEventCodec.Read(result.Message.Value, ParseKey(result.Message.Key));
        }
        catch (FormatException e)
        {
            // Not one of ours: keep the bytes for inspection, and withhold the transaction it sat in.
            TransformMetrics.DeadLettered.WithLabels(result.Topic).Inc();
            _logger.LogError("Transform: unreadable message at {Topic}/{Partition}@{Offset}: {Error}; copied to {Dlq}",
                result.Topic, result.Partition.Value, result.Offset.Value, e.Message, dlq);
            DeadLetters.Copy(producer, dlq, result, e.Message);
            state.Broken = true;
            return;
        }

        switch (raw)
        {
            case TxBegin b:
                if (state.Open is not null)
                {
                    _logger.LogInformation("Source {Source}: transaction {Lsn} ended without its END marker (capture restarted); it is not passed on", state.Source, state.Open.CommitLsn);
                    TransformMetrics.Incomplete.WithLabels(state.Source).Inc();
                }

                state.Open = b;
                state.Broken = false;
                state.RawEvents = 0;
                state.Operations = 0;
                state.DroppedBytes = 0;
                state.SnapshotTargets.Clear();
                Produce(producer, state, UnifiedBegin.From(b));
                break;
            case RawChange c when c.Source != state.Source || !state.Tables.Contains(c.Table):
                {
                    // Capture emits changes of the configured tables only (it suppresses the rest of a publication), so
                    // this one was put on the topic by something else, or was captured before its table left the
                    // config. Not mapped (a target could not tell it from a real change), never dropped silently.
                    var reason = c.Source != state.Source
                        ? $"a change of source '{c.Source}' on the raw topic of source '{state.Source}'; not mapped"
                        : $"table {c.Table} is not among the configured tables of source '{state.Source}'; not mapped";
                    TransformMetrics.DeadLettered.WithLabels(result.Topic).Inc();
                    _logger.LogError("Transform: {Reason}: change at {Topic}/{Partition}@{Offset} copied to {Dlq}",
                        reason, result.Topic, result.Partition.Value, result.Offset.Value, dlq);
                    DeadLetters.Copy(producer, dlq, result, reason);
                    if (state.Open is not null && c.Position.CommitLsn == state.Open.CommitLsn)
                    {
                        // Counted like any change of the transaction: if Capture counted it too (a table removed from
                        // the config), the rest applies; if it is foreign, the count no longer matches and the
                        // transaction is withheld and replayed from the slot.
                        state.RawEvents++;
                    }

                    break;
                }

            case RawChange c:
                if (state.Open is null || c.Position.CommitLsn != state.Open.CommitLsn)
                {
                    // A change outside its transaction: the BEGIN was lost; this transaction cannot be completed.
                    state.Broken = true;
                    return;
                }

                state.RawEvents++;
                state.EventsIn.Inc();
                output.Clear();
                string? failure = null;
                TableId? failedTarget = null;
                try
                {
                    state.Mapping.Map(c, output);
                }
                catch (MappingException e)
                {
                    failure = e.Message;
                    failedTarget = e.TargetTable;
                }
                catch (Exception e)
                {
                    failure = $"mapping failed unexpectedly ({e.GetType().Name}): {e.Message}";
                    _logger.LogError(e, "Source {Source}: mapping {Table} failed", state.Source, c.Table);
                }

                if (failure is not null)
                {
                    TransformMetrics.Parked.WithLabels(state.Source, c.Table.ToString()).Inc();
                    Produce(producer, state, new ParkedChange(state.Source, c.Position.CommitLsn, c.Position.Seq, c.Table, c.Key, failedTarget, failure,
                        Encoding.UTF8.GetString(result.Message.Value), c.TsMs));
                    state.Operations++;
                    state.DroppedBytes = 0;
                    break;
                }

                foreach (var op in output.Operations)
                {
                    Produce(producer, state, op);
                    state.Operations++;
                }

                if (output.Operations.Count > 0)
                {
                    state.DroppedBytes = 0;
                }
                else
                {
                    Dropped(producer, state, c.Position, result);
                }

                if (state.Open.Kind == TransactionKind.Snapshot)
                {
                    SnapshotTargets.Note(state.SnapshotTargets, c.Table, output.Operations);
                }

                state.OperationsOut.Inc(output.Operations.Count);
                break;
            case RawSchemaChange sc:
                if (state.Open is null || sc.Position.CommitLsn != state.Open.CommitLsn)
                {
                    state.Broken = true;
                    return;
                }

                state.RawEvents++;
                if (SchemaEvents.Map(sc, state.Source, state.Mapping, _logger) is { } unified)
                {
                    Produce(producer, state, unified);
                    state.Operations++;
                    state.DroppedBytes = 0;
                }
                else
                {
                    Dropped(producer, state, sc.Position, result);
                }

                break;
            case TxEnd e:
                if (state.Open is null || e.CommitLsn != state.Open.CommitLsn || state.Broken || e.EventCount != state.RawEvents)
                {
                    TransformMetrics.Incomplete.WithLabels(state.Source).Inc();
                    _logger.LogWarning("Source {Source}: transaction {Lsn} arrived incomplete ({Got} of {Expected} events); withheld, the Sink will replay it from the slot",
                        state.Source, e.CommitLsn, state.RawEvents, e.EventCount);
                    state.Open = null;
                    break;
                }

                var offset = new TopicPartitionOffset(result.TopicPartition, result.Offset + 1);
                Produce(producer, state, new UnifiedCommit(state.Source, e.CommitLsn, e.EndLsn, e.TxId, e.TsMs, state.Operations,
                    SnapshotTargets.Attach(e.Snapshot, state.SnapshotTargets, state.Mapping)), offset);
                TransformMetrics.Transactions.WithLabels(state.Source).Inc();
                state.Open = null;
                break;
        }
    }

    /// <summary>
    /// A raw event of the open transaction that became nothing on the unified topic (a table the mapping excludes,
    /// a filter). Capture's in-flight window is freed only by what the Sink receives, so after a stretch of such
    /// events a quarter of the window long a progress marker tells the Sink, and through it Capture, that everything
    /// up to here is passed on: a transaction or snapshot of rows that reach no target cannot hold the window full.
    /// </summary>
    private void Dropped(IProducer<byte[], byte[]> producer, PartitionState state, SourcePosition at, ConsumeResult<byte[], byte[]> result)
    {
        state.DroppedBytes += result.Message.Value.Length + (result.Message.Key?.Length ?? 0);
        if (state.DroppedBytes >= _progressEvery)
        {
            Produce(producer, state, new UnifiedProgress(state.Source, at.CommitLsn, at.Seq));
            TransformMetrics.ProgressMarkers.WithLabels(state.Source).Inc();
            state.DroppedBytes = 0;
        }
    }

    private void Produce(IProducer<byte[], byte[]> producer, PartitionState state, UnifiedEvent e, TopicPartitionOffset? commitAfter = null) =>
        Produce(producer, state.Source, state.Route, e, commitAfter is { } c ? [c] : [], state.Key);

    private void Produce(IProducer<byte[], byte[]> producer, string source, TopicPartition route, UnifiedEvent e, IReadOnlyList<TopicPartitionOffset> commitAfter, byte[]? key = null)
    {
        // The key's bytes are the same for every event of a source (librdkafka copies them), and an event that
        // commits nothing shares one delivery handler instead of a closure of its own.
        var message = new Message<byte[], byte[]> { Key = key ?? Encoding.UTF8.GetBytes(source), Value = UnifiedEventCodec.Write(e) };
        var handler = commitAfter.Count == 0 ? _deliveredNothingToCommitHandler ??= DeliveredNothingToCommit : CommitAfterDelivery(source, commitAfter);
        while (true)
        {
            try
            {
                producer.Produce(route, message, handler);
                return;
            }
            catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(20));
            }
        }
    }

    private Action<DeliveryReport<byte[], byte[]>> CommitAfterDelivery(string source, IReadOnlyList<TopicPartitionOffset> commitAfter) =>
        report =>
        {
            if (report.Error.IsError)
            {
                _logger.LogWarning("Source {Source}: delivery to {Topic} failed: {Reason}", source, report.Topic, report.Error.Reason);
                foreach (var c in commitAfter)
                {
                    _failed[c.TopicPartition] = true;
                }
            }
            else
            {
                foreach (var c in commitAfter)
                {
                    _delivered.Enqueue(c);
                }
            }
        };

    private void DeliveredNothingToCommit(DeliveryReport<byte[], byte[]> report)
    {
        if (report.Error.IsError)
        {
            _logger.LogWarning("Source {Source}: delivery to {Topic} failed: {Reason}",
                report.Message?.Key is { } k ? Encoding.UTF8.GetString(k) : "?", report.Topic, report.Error.Reason);
        }
    }

    private void CommitDelivered(IConsumer<byte[], byte[]> consumer)
    {
        var latest = new Dictionary<TopicPartition, TopicPartitionOffset>();
        while (_delivered.TryDequeue(out var o))
        {
            latest[o.TopicPartition] = o;
        }

        if (latest.Count == 0)
        {
            return;
        }

        Faults.FaultPoint.Reached(Faults.FaultPoint.TransformBeforeOffsetCommit);
        try
        {
            consumer.Commit(latest.Values.Where(o => !_failed.ContainsKey(o.TopicPartition)));
        }
        catch (KafkaException e)
        {
            _logger.LogDebug("Transform: offset commit failed ({Reason}); it is retried with the next one", e.Error.Reason);
        }
    }

    /// <summary>A partition whose output failed to deliver is re-read from its last committed offset.</summary>
    private void Recover(IConsumer<byte[], byte[]> consumer, Dictionary<TopicPartition, PartitionState> states)
    {
        foreach (var tp in _failed.Keys.ToList())
        {
            _failed.TryRemove(tp, out _);
            if (!consumer.Assignment.Contains(tp))
            {
                continue;
            }

            var committed = consumer.Committed([tp], TimeSpan.FromSeconds(5)).FirstOrDefault();
            var offset = committed is { Offset.IsSpecial: false } ? committed.Offset : Offset.Beginning;
            _logger.LogWarning("Transform: re-reading {Partition} from {Offset} after a delivery failure", tp, offset);
            consumer.Seek(new TopicPartitionOffset(tp, offset));
            states.Remove(tp);
        }
    }

    /// <summary>One Debezium-fed source: its per-table topics (and transaction topic) and the assembler that orders them.</summary>
    private sealed record DebeziumInput(string Source, bool IsTransactionTopic, DebeziumAssembler Assembler, DebeziumEnvelope.ColumnTypes Types, TopicPartition Route);

    private async Task<Dictionary<string, DebeziumInput>> DebeziumInputsAsync(List<SourceOptions> sources, CancellationToken ct)
    {
        var o = config.Options;
        var result = new Dictionary<string, DebeziumInput>(StringComparer.Ordinal);
        foreach (var s in sources)
        {
            var target = o.Target(s.Target);
            var mapping = mappings[s.Target];
            var applied = Lsn.Zero;
            await using (var conn = await PgConnections.OpenAsync(target.ConnectionString, $"target '{target.Name}' (applied position of Debezium source '{s.Name}')", ct))
            {
                await PipelineSchema.EnsureAsync(conn, ct);
                if ((await PipelineSchema.ReadAppliedAsync(conn, ct)).TryGetValue(s.Name, out var p))
                {
                    applied = p.CommitLsn;
                }
            }

            var tables = s.Tables.Select(t => TableId.Parse(t)).ToList();
            var assembler = new DebeziumAssembler(s.Name, mapping, s.DebeziumTransactions, TimeSpan.FromMilliseconds(500),
                tables.Select(t => t.ToString()).ToHashSet(StringComparer.Ordinal), applied);
            DebeziumEnvelope.ColumnTypes types = mapping is DeclarativeMapping d
                ? (table, column) => d.SourceColumnType(s.Name, table, column)
                : (_, _) => null;
            var route = Topics.UnifiedRoute(o, s.Name);
            var tp = new TopicPartition(route.Topic, route.Partition);
            foreach (var t in tables)
            {
                result[$"{s.DebeziumPrefix}.{t.Schema}.{t.Name}"] = new DebeziumInput(s.Name, false, assembler, types, tp);
            }

            if (s.DebeziumTransactions)
            {
                result[$"{s.DebeziumPrefix}.transaction"] = new DebeziumInput(s.Name, true, assembler, types, tp);
            }

            _logger.LogInformation("Transform: source {Source} reads Debezium topics {Prefix}.* ({Mode}), continuing after {Lsn}",
                s.Name, s.DebeziumPrefix, s.DebeziumTransactions ? "whole transactions from the transaction metadata" : "per-row order", applied);
        }

        return result;
    }

    private void AcceptDebezium(IProducer<byte[], byte[]> producer, DebeziumInput input, ConsumeResult<byte[], byte[]> result, string dlq)
    {
        var origin = $"{result.Topic}/{result.Partition.Value}";
        try
        {
            if (input.IsTransactionTopic)
            {
                input.Assembler.AddTransaction(DebeziumEnvelope.ReadTransaction(result.Message.Value), origin, result.Offset.Value);
                return;
            }

            var change = DebeziumEnvelope.Read(input.Source, result.Message.Value, result.Message.Key, input.Types);
            if (change is null)
            {
                return; // a tombstone: the delete before it did the work
            }

            TransformMetrics.EventsIn.WithLabels(input.Source).Inc();
            input.Assembler.AddChange(change, origin, result.Offset.Value, DateTime.UtcNow, result.Message.Value);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or System.Text.Json.JsonException)
        {
            TransformMetrics.DeadLettered.WithLabels(result.Topic).Inc();
            _logger.LogError("Transform: unreadable Debezium message at {Topic}/{Partition}@{Offset}: {Error}; copied to {Dlq}",
                result.Topic, result.Partition.Value, result.Offset.Value, e.Message, dlq);
            DeadLetters.Copy(producer, dlq, result, e.Message);
        }
    }

    private void ReleaseDebezium(IProducer<byte[], byte[]> producer, DebeziumInput input)
    {
        foreach (var tx in input.Assembler.Release(DateTime.UtcNow))
        {
            var offsets = tx.Consumed.Select(kv =>
            {
                var slash = kv.Key.LastIndexOf('/');
                return new TopicPartitionOffset(kv.Key[..slash], new Partition(int.Parse(kv.Key[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture)), kv.Value);
            }).ToList();
            if (tx.Events.Count == 0)
            {
                foreach (var off in offsets)
                {
                    _delivered.Enqueue(off);
                }

                continue;
            }

            for (var i = 0; i < tx.Events.Count; i++)
            {
                Produce(producer, input.Source, input.Route, tx.Events[i], i == tx.Events.Count - 1 ? offsets : []);
            }

            TransformMetrics.OperationsOut.WithLabels(input.Source, mappings[config.Options.Source(input.Source).Target].Target).Inc(tx.Events.Count - 2);
            TransformMetrics.Transactions.WithLabels(input.Source).Inc();
        }
    }

    private static JsonObject? ParseKey(byte[]? key)
    {
        if (key is null || key.Length == 0 || key[0] != (byte)'{')
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(key) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private sealed class PartitionState(string source, TopicPartition route, ITargetMapping mapping, IReadOnlySet<TableId> tables)
    {
        public string Source { get; } = source;

        /// <summary>The source's configured tables: the only ones Capture emits changes of.</summary>
        public IReadOnlySet<TableId> Tables { get; } = tables;

        public TopicPartition Route { get; } = route;

        public ITargetMapping Mapping { get; } = mapping;

        /// <summary>The key of every unified event of this source: its name.</summary>
        public byte[] Key { get; } = Encoding.UTF8.GetBytes(source);

        public Prometheus.Counter.Child EventsIn { get; } = TransformMetrics.EventsIn.WithLabels(source);

        public Prometheus.Counter.Child OperationsOut { get; } = TransformMetrics.OperationsOut.WithLabels(source, mapping.Target);

        public TxBegin? Open { get; set; }

        public bool Broken { get; set; }

        public long RawEvents { get; set; }

        public long Operations { get; set; }

        /// <summary>Raw bytes of the open transaction passed on as nothing since the last event produced.</summary>
        public long DroppedBytes { get; set; }

        /// <summary>In a snapshot transaction: the target tables each source table's rows were mapped to.</summary>
        public Dictionary<TableId, HashSet<TableId>> SnapshotTargets { get; } = [];
    }
}
