using System.Collections.Concurrent;
using Confluent.Kafka;
using Dapper;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Operations.Status;

/// <summary>
/// Gathers the status model: from the source servers (slot, WAL positions, walsender), the targets
/// (applied positions, parked rows, table states), Kafka (each stage's committed offsets against the high
/// watermarks) and the workers' metrics (throughput, latency, Capture's in-flight window, snapshot progress).
/// Each call is one sample; the collector remembers the previous ones for rates and for the lag rules
/// (<see cref="LagTracker"/>). Read-only: it never writes to a database or a topic.
/// </summary>
public sealed class StatusCollector : IAsyncDisposable
{
    private static readonly TimeSpan LatencyWindow = TimeSpan.FromSeconds(30);

    private readonly PipelineConfig _config;
    private readonly IMetricsReader _metrics;
    private readonly KafkaEndpoint? _kafka;
    private readonly ReconciliationReports? _reports;
    private readonly LagTracker _lag;
    private readonly ConcurrentDictionary<string, NpgsqlDataSource> _dataSources = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IConsumer<byte[], byte[]>> _groupClients = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Queue<(DateTimeOffset At, Dictionary<string, SortedDictionary<double, double>> Latency)> _latencyHistory = new();
    private (DateTimeOffset At, MetricsSnapshot Metrics)? _previous;

    public StatusCollector(PipelineConfig config, IMetricsReader metrics, KafkaEndpoint? kafka, ReconciliationReports? reports = null)
    {
        _config = config;
        _metrics = metrics;
        _kafka = kafka;
        _reports = reports;
        _lag = new LagTracker(config.Options.Capture.HeartbeatInterval);
    }

    public string MetricsMode => _metrics.Mode;

    /// <summary>The reconciliation reports the dashboard lists and serves, if configured.</summary>
    public ReconciliationReports? Reports => _reports;

    /// <summary>The server a connection string points at (host:port), grouping sources that share WAL.</summary>
    public static string ServerOf(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{b.Host}:{b.Port}";
    }

    public async Task<PipelineStatus> CollectAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            return await CollectLockedAsync(ct);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<PipelineStatus> CollectLockedAsync(CancellationToken ct)
    {
        var o = _config.Options;
        var at = DateTimeOffset.UtcNow;
        var problems = new List<string>();

        // Sources first: the server's WAL position must be read before the applied positions (LagTracker rule 2).
        var sourceReads = await Task.WhenAll(o.Sources.Select(s => ReadSourceAsync(s, ct)));
        var targetReads = await Task.WhenAll(o.Targets.Select(t => ReadTargetAsync(t, ct)));
        var stages = await Task.Run(ReadStages, ct);
        var metrics = await _metrics.ReadAsync(ct);
        problems.AddRange(sourceReads.Where(r => r.Problem is not null).Select(r => r.Problem!));
        problems.AddRange(targetReads.Where(r => r.Problem is not null).Select(r => r.Problem!));
        problems.AddRange(stages.Where(s => s.Problem is not null).Select(s => $"{s.Stage}: {s.Problem}"));
        problems.AddRange(metrics.Problems);

        var previous = _previous;
        var seconds = previous is { } p ? (at - p.At).TotalSeconds : 0;
        double? Rate(double? now, double? before) =>
            now is { } n && before is { } b && seconds > 0 && n >= b ? (n - b) / seconds : null;

        var latencyNow = o.Sources.ToDictionary(s => s.Name, s => metrics.Buckets("peeq_cdc_sink_end_to_end_latency_seconds", ("source", s.Name)));
        _latencyHistory.Enqueue((at, latencyNow));
        while (_latencyHistory.Count > 1 && at - _latencyHistory.Peek().At > LatencyWindow)
        {
            _latencyHistory.Dequeue();
        }

        var oldestLatency = _latencyHistory.Peek();
        var byTarget = targetReads.ToDictionary(t => t.Name);
        var sources = new List<SourceStatus>();
        foreach (var (s, read) in o.Sources.Zip(sourceReads))
        {
            var target = byTarget[s.Target];
            target.Applied.TryGetValue(s.Name, out var applied);
            target.Received.TryGetValue(s.Name, out var received);
            var transformLag = stages.FirstOrDefault(x => x.Stage == "transform")?.Partitions.Where(x => x.Source == s.Name).Sum(x => x.Lag);
            var sinkLag = stages.FirstOrDefault(x => x.Stage == "sink")?.Partitions.Where(x => x.Source == s.Name).Sum(x => x.Lag);
            var src = ("source", s.Name);
            var captureUp = metrics.Max("peeq_cdc_capture_source_up", src) is { } up ? up >= 1 : (bool?)null;
            var paused = metrics.Max("peeq_cdc_capture_backpressure_paused", src) is { } pz ? pz >= 1 : (bool?)null;
            var inFlight = metrics.Max("peeq_cdc_capture_in_flight_bytes", src) is { } f ? (long)f : (long?)null;
            var heartbeat = metrics.Max("peeq_cdc_capture_last_heartbeat_timestamp_seconds", src);
            long? stageLag = transformLag is null && sinkLag is null ? null : (transformLag ?? 0) + (sinkLag ?? 0);
            var verdict = _lag.Observe(s.Name, new LagObservation(at, read.ServerLsn, read.SentLsn, applied?.CommitLsn, applied?.EndLsn,
                applied?.SourceCommitTime, applied?.AppliedAt, received, captureUp, paused, inFlight, stageLag, heartbeat is > 0));

            var events = metrics.Sum("peeq_cdc_capture_events_total", src);
            var transactions = metrics.Sum("peeq_cdc_sink_transactions_total", src, ("kind", "transaction"));
            var latencySum = metrics.Sum("peeq_cdc_sink_end_to_end_latency_seconds_sum", src);
            var latencyCount = metrics.Sum("peeq_cdc_sink_end_to_end_latency_seconds_count", src);
            var window = MetricsSnapshot.Delta(latencyNow[s.Name], oldestLatency.Latency.TryGetValue(s.Name, out var old) ? old : []);
            var snapshot = Snapshot(metrics, s.Name, target.Loading.TryGetValue(s.Name, out var loading) ? loading : 0);
            var lagSeconds = verdict.LagSeconds;
            var stalled = lagSeconds >= o.Dashboard.StallAfter.TotalSeconds;
            var (state, reason) = (stalled, read, captureUp, snapshot) switch
            {
                (true, _, _, _) => ("stalled", verdict.Pending),
                (_, { ServerLsn: null }, _, _) => ("unreachable", read.Problem),
                (_, _, false, _) => ("capture-down", "peeq_cdc_capture_source_up is 0"),
                (_, _, _, { TablesLoading: > 0 }) => ("snapshotting", $"{snapshot.TablesLoading} table(s) loading"),
                _ when verdict.CaughtUp => ("caught-up", null),
                _ => ("behind", verdict.Pending),
            };

            sources.Add(new SourceStatus(
                s.Name, s.Target, ServerOf(s.ConnectionString), state, reason,
                lagSeconds, verdict.CaughtUp,
                read.ServerLsn is { } w && applied is not null ? (long)Lsn.Distance(w, applied.EndLsn) : null,
                read.ServerLsn is { } w2 && read.Confirmed is { } c ? (long)Lsn.Distance(w2, c) : null,
                read.ServerLsn is { } w3 && read.Restart is { } r ? (long)Lsn.Distance(w3, r) : null,
                // PostgreSQL leaves safe_wal_size NULL when max_slot_wal_keep_size is -1: no limit, as the Capture metric says (-1).
                read.WalStatus, read.SafeWalSize ?? (read.Confirmed is not null && read.Server is { } sv && ParseSize(sv.max_slot_wal_keep_size) == -1 ? -1 : null), read.SlotActive,
                heartbeat is > 0 ? Math.Max(0, at.ToUnixTimeMilliseconds() / 1000.0 - heartbeat.Value) : null,
                read.ServerLsn?.ToString(), read.Confirmed?.ToString(), applied?.CommitLsn.ToString(),
                applied?.SourceCommitTime, applied?.AppliedAt,
                captureUp, paused, inFlight,
                events, Rate(events, previous?.Metrics.Sum("peeq_cdc_capture_events_total", src)),
                transactions, Rate(transactions, previous?.Metrics.Sum("peeq_cdc_sink_transactions_total", src, ("kind", "transaction"))),
                latencyCount is > 0 ? latencySum / latencyCount : null,
                MetricsSnapshot.Quantile(0.99, window),
                target.Parked.TryGetValue(s.Name, out var parked) ? parked : target.Reachable ? 0 : null,
                metrics.Sum("peeq_cdc_sink_held_transactions", src),
                snapshot,
                transformLag, sinkLag));
        }

        var targets = o.Targets.Select(t =>
        {
            var read = byTarget[t.Name];
            var rows = metrics.Sum("peeq_cdc_sink_rows_applied_total", ("target", t.Name));
            return new TargetStatus(t.Name, read.Reachable,
                read.Reachable ? read.Parked.Values.Sum() : null,
                read.Reachable ? read.Loading.Values.Sum() : null,
                read.Reachable ? read.ParkedTables.Count : null,
                read.ParkedTables,
                rows, Rate(rows, previous?.Metrics.Sum("peeq_cdc_sink_rows_applied_total", ("target", t.Name))),
                metrics.Sum("peeq_cdc_sink_dangling_references", ("target", t.Name)),
                read.Problem);
        }).ToList();

        var servers = o.Sources.Zip(sourceReads)
            .GroupBy(x => ServerOf(x.First.ConnectionString), StringComparer.Ordinal)
            .Select(g =>
            {
                var row = g.Select(x => x.Second.Server).FirstOrDefault(r => r is not null);
                return new ServerStatus(g.Key, row is not null, row?.version, row?.retained, row?.slots,
                    row is null ? null : ParseSize(row.max_slot_wal_keep_size), g.Select(x => x.First.Name).ToList());
            })
            .ToList();
        var reconciliations = _reports is null ? [] : _reports.Latest(10, problems);
        _previous = (at, metrics);
        return new PipelineStatus(at, _metrics.Mode, o.Dashboard.RefreshInterval.TotalSeconds, o.Dashboard.StallAfter.TotalSeconds,
            sources, servers, targets, stages, reconciliations, problems);
    }

    private static SnapshotProgress? Snapshot(MetricsSnapshot metrics, string source, int tablesLoading)
    {
        var tables = metrics.Where("peeq_cdc_capture_snapshot_total_rows", ("source", source))
            .Select(t => new TableSnapshot(t.Label("table") ?? "", metrics.Max("peeq_cdc_capture_snapshot_rows", ("source", source), ("table", t.Label("table") ?? "")) ?? 0, t.Value))
            .OrderBy(t => t.Table, StringComparer.Ordinal)
            .ToList();
        if (tables.Count == 0 && tablesLoading == 0)
        {
            return null;
        }

        var read = tables.Sum(t => t.RowsRead);
        var estimated = tables.Sum(t => t.RowsEstimated);
        return new SnapshotProgress(read, estimated, estimated > 0 ? Math.Min(100, 100 * read / estimated) : null, tablesLoading, tables);
    }

    private sealed record SourceRead(Lsn? ServerLsn, Lsn? SentLsn, Lsn? Confirmed, Lsn? Restart, string? WalStatus, long? SafeWalSize, bool? SlotActive, ServerRow? Server, string? Problem);

    private sealed record SlotRow(string? confirmed_flush_lsn, string? restart_lsn, string? wal_status, long? safe_wal_size, bool active, string? sent_lsn);

    private sealed record ServerRow(long? retained, int slots, string max_slot_wal_keep_size, string? version);

    private async Task<SourceRead> ReadSourceAsync(SourceOptions s, CancellationToken ct)
    {
        try
        {
            await using var conn = await DataSource(s.ConnectionString).OpenConnectionAsync(ct);
            var server = Lsn.Parse((await conn.ExecuteScalarAsync<string>(new CommandDefinition("SELECT pg_current_wal_lsn()::text", cancellationToken: ct)))!);
            var slot = await conn.QuerySingleOrDefaultAsync<SlotRow>(new CommandDefinition("""
                SELECT s.confirmed_flush_lsn::text AS confirmed_flush_lsn, s.restart_lsn::text AS restart_lsn, s.wal_status, s.safe_wal_size,
                       s.active, r.sent_lsn::text AS sent_lsn
                FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
                WHERE s.slot_name = @slot
                """, new { slot = s.SlotName }, cancellationToken: ct));
            // Every slot on the server (ours and others') holds WAL: the oldest restart_lsn is what the server keeps.
            var serverRow = await conn.QuerySingleAsync<ServerRow>(new CommandDefinition("""
                SELECT (pg_current_wal_lsn() - min(restart_lsn))::bigint AS retained, count(*)::int AS slots,
                       current_setting('max_slot_wal_keep_size') AS max_slot_wal_keep_size, current_setting('server_version') AS version
                FROM pg_replication_slots
                """, cancellationToken: ct));
            if (slot is null)
            {
                return new SourceRead(server, null, null, null, null, null, null, serverRow, $"source '{s.Name}': replication slot '{s.SlotName}' does not exist");
            }

            return new SourceRead(server, ParseLsn(slot.sent_lsn), ParseLsn(slot.confirmed_flush_lsn), ParseLsn(slot.restart_lsn),
                slot.wal_status, slot.safe_wal_size, slot.active, serverRow, null);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return new SourceRead(null, null, null, null, null, null, null, null, $"source '{s.Name}': {Explain(s.ConnectionString, e)}");
        }
    }

    private sealed record TargetRead(
        string Name,
        bool Reachable,
        Dictionary<string, AppliedPosition> Applied,
        Dictionary<string, Lsn> Received,
        Dictionary<string, long> Parked,
        Dictionary<string, int> Loading,
        List<ParkedTable> ParkedTables,
        string? Problem);

    private sealed record FlowRow(string source, string commit_lsn);

    private sealed record CountRow(string source, long n);

    private sealed record TableStateRow(string target_table, string source, string state, string? reason, DateTime updated_at);

    private async Task<TargetRead> ReadTargetAsync(TargetOptions t, CancellationToken ct)
    {
        try
        {
            await using var conn = await DataSource(t.ConnectionString).OpenConnectionAsync(ct);
            var applied = await PipelineSchema.ReadAppliedAsync(conn, ct);
            if (applied.Count == 0 && !await conn.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT to_regclass('peeq_cdc.parked_rows') IS NOT NULL", cancellationToken: ct)))
            {
                return new TargetRead(t.Name, true, [], [], [], [], [], null);
            }

            var received = (await conn.QueryAsync<FlowRow>(new CommandDefinition(
                "SELECT source, commit_lsn::text AS commit_lsn FROM peeq_cdc.flow_position", cancellationToken: ct)))
                .ToDictionary(r => r.source, r => Lsn.Parse(r.commit_lsn));
            var parked = (await conn.QueryAsync<CountRow>(new CommandDefinition(
                "SELECT source, count(*) AS n FROM peeq_cdc.parked_rows WHERE status = 'parked' GROUP BY source", cancellationToken: ct)))
                .ToDictionary(r => r.source, r => r.n);
            var states = (await conn.QueryAsync<TableStateRow>(new CommandDefinition(
                "SELECT target_table, source, state, reason, updated_at FROM peeq_cdc.table_state WHERE state <> 'ready' ORDER BY target_table, source",
                cancellationToken: ct))).ToList();
            return new TargetRead(t.Name, true, applied, received, parked,
                states.Where(s => s.state == "loading").GroupBy(s => s.source).ToDictionary(g => g.Key, g => g.Count()),
                states.Where(s => s.state == "parked")
                    .Select(s => new ParkedTable(s.target_table, s.source, s.reason, new DateTimeOffset(DateTime.SpecifyKind(s.updated_at, DateTimeKind.Utc)))).ToList(),
                null);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return new TargetRead(t.Name, false, [], [], [], [], [], $"target '{t.Name}': {Explain(t.ConnectionString, e)}");
        }
    }

    /// <summary>Each consuming stage's committed offsets against the high watermarks, per source.</summary>
    private List<StageStatus> ReadStages()
    {
        var o = _config.Options;
        if (_kafka is null)
        {
            return [];
        }

        var raw = o.Sources.Select(s => (Tp: new TopicPartition(Topics.Raw(o.Kafka.TopicPrefix, s.Name), 0), Sources: (IReadOnlyList<string>)[s.Name])).ToList();
        var unified = o.Targets.SelectMany(t =>
        {
            var topic = Topics.Unified(o.Kafka.TopicPrefix, t.Name);
            return Enumerable.Range(0, Topics.UnifiedPartitionCount(o, t.Name)).Select(p => (Tp: new TopicPartition(topic, p),
                Sources: (IReadOnlyList<string>)o.Sources.Where(s => s.Target == t.Name && Topics.UnifiedRoute(o, s.Name).Partition == p).Select(s => s.Name).ToList()));
        }).ToList();
        return
        [
            ReadGroup("transform", o.Transform.Group ?? $"{o.Kafka.TopicPrefix}-transform", raw),
            ReadGroup("sink", o.Sink.Group ?? $"{o.Kafka.TopicPrefix}-sink", unified),
        ];
    }

    private StageStatus ReadGroup(string stage, string group, List<(TopicPartition Tp, IReadOnlyList<string> Sources)> partitions)
    {
        try
        {
            if (!_groupClients.TryGetValue(group, out var client))
            {
                // A consumer that never subscribes: it only asks the group coordinator for committed offsets
                // and the partition leaders for watermarks, so it never joins or disturbs the group.
                var config = _kafka!.ConsumerConfig(group, "peeq-cdc-status");
                config.EnableAutoCommit = false;
                client = new ConsumerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
                _groupClients[group] = client;
            }

            var committed = client.Committed(partitions.Select(p => p.Tp), TimeSpan.FromSeconds(3)).ToDictionary(c => c.TopicPartition, c => c.Offset);
            var result = new List<PartitionLag>();
            var total = 0L;
            foreach (var (tp, sources) in partitions)
            {
                var w = client.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(3));
                var c = committed.TryGetValue(tp, out var off) && off.Value >= 0 ? off.Value : (long?)null;
                // Nothing committed yet: the group starts from the earliest offset, so all retained messages are lag.
                var lag = Math.Max(0, w.High.Value - (c ?? w.Low.Value));
                total += lag;
                // A partition shared by several sources (fewer partitions than sources): its lag counts for each.
                result.AddRange(sources.Count == 0
                    ? [new PartitionLag(tp.Topic, tp.Partition.Value, null, c, w.High.Value, lag)]
                    : sources.Select(s => new PartitionLag(tp.Topic, tp.Partition.Value, s, c, w.High.Value, lag)));
            }

            return new StageStatus(stage, group, total, result, null);
        }
        catch (KafkaException e)
        {
            return new StageStatus(stage, group, null, [], $"consumer group '{group}': {e.Error.Reason}");
        }
    }

    private NpgsqlDataSource DataSource(string connectionString) =>
        _dataSources.GetOrAdd(connectionString, cs =>
        {
            var b = new NpgsqlConnectionStringBuilder(PgConnections.Prepare(cs, "peeq-cdc status", 5))
            {
                MaxPoolSize = 2,
                ConnectionIdleLifetime = 30,
                CommandTimeout = 10,
            };
            return NpgsqlDataSource.Create(b.ConnectionString);
        });

    /// <summary>A size setting as PostgreSQL shows it (<c>-1</c>, <c>1024MB</c>, <c>10GB</c>), in bytes; -1 for unlimited.</summary>
    public static long? ParseSize(string text)
    {
        text = text.Trim();
        if (text == "-1")
        {
            return -1;
        }

        var i = 0;
        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            i++;
        }

        if (i == 0 || !long.TryParse(text[..i], System.Globalization.CultureInfo.InvariantCulture, out var n))
        {
            return null;
        }

        return text[i..].Trim() switch
        {
            "" or "B" => n,
            "kB" => n * 1024,
            "MB" => n * 1024 * 1024,
            "GB" => n * 1024 * 1024 * 1024,
            "TB" => n * 1024 * 1024 * 1024 * 1024,
            _ => null,
        };
    }

    private static Lsn? ParseLsn(string? text) => text is null ? null : Lsn.Parse(text);

    private static string Explain(string connectionString, Exception e) =>
        $"cannot read {PgConnections.Describe(connectionString)}: {PgConnections.Explain(e)}";

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _groupClients.Values)
        {
            c.Dispose();
        }

        _groupClients.Clear();
        foreach (var ds in _dataSources.Values)
        {
            await ds.DisposeAsync();
        }

        _dataSources.Clear();
        _gate.Dispose();
    }
}
