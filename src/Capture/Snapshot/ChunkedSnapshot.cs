using System.Diagnostics;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Capture.Snapshot;

/// <summary>
/// Takes keyed tables' snapshots in chunks of <c>capture.snapshotChunkRows</c> rows in primary-key
/// order while the session streams (<see cref="WatermarkTracker"/> explains how a chunk and the stream
/// are merged). One table at a time, one chunk at a time: a chunk is read, handed to the stream reader,
/// and the next is read once the reader has emitted it. Also polls the target for re-snapshot requests
/// (<c>peeq-cdc snapshot</c>) and takes them as new generations.
/// </summary>
public sealed class ChunkedSnapshot(SourceCaptureContext ctx, RelationCache relations, WatermarkTracker tracker, Func<CancellationToken, Task> restartSession)
{
    /// <summary>A chunk stops early once its rows hold this much text, so wide rows cannot blow up memory.</summary>
    public const long MaxChunkBytes = 16L * 1024 * 1024;

    private static readonly TimeSpan RequestPoll = TimeSpan.FromSeconds(1);

    private readonly string _name = ctx.Source.Options.Name;
    private readonly Dictionary<TableId, long> _generations = [];
    private readonly List<SnapshotWork> _queue = [];
    private DateTime _nextPoll = DateTime.MinValue;
    private long _watermarks;

    /// <summary>Runs <paramref name="work"/>, then serves requests until the session ends.</summary>
    /// <param name="known">The generation each table has (recorded or being taken), so older requests are not taken twice.</param>
    public async Task RunAsync(IReadOnlyList<SnapshotWork> work, IReadOnlyDictionary<TableId, long> known, CancellationToken ct)
    {
        foreach (var (t, g) in known)
        {
            _generations[t] = g;
        }

        foreach (var w in work)
        {
            _generations[w.Table] = Math.Max(_generations.GetValueOrDefault(w.Table, -1), w.Generation);
        }

        _queue.AddRange(work);
        PublishPending();
        while (!ct.IsCancellationRequested)
        {
            if (_queue.Count == 0)
            {
                await Task.Delay(RequestPoll, ct);
            }

            await PollRequestsAsync(ct);
            if (_queue.Count == 0)
            {
                continue;
            }

            var next = _queue[0];
            _queue.RemoveAt(0);
            PublishPending();
            var info = ctx.Source.Tables[next.Table];
            if (info.IsKeyless || !ctx.Source.SupportsMessages)
            {
                // Read whole from an exported snapshot, which a session prepares before it streams.
                ctx.Logger.LogInformation("Source {Source}: snapshot of {Table} requested; it is read from an exported snapshot, so the stream restarts to take it",
                    _name, next.Table);
                await restartSession(ct);
                return;
            }

            await RunTableAsync(next, ct);
        }
    }

    private void PublishPending() => CaptureMetrics.SnapshotTablesPending.WithLabels(_name).Set(_queue.Count);

    private async Task PollRequestsAsync(CancellationToken ct)
    {
        if (DateTime.UtcNow < _nextPoll)
        {
            return;
        }

        _nextPoll = DateTime.UtcNow + RequestPoll;
        Dictionary<TableId, long> requests;
        await using (var conn = await ctx.Target.OpenConnectionAsync(ct))
        {
            requests = await SnapshotStore.LatestRequestsAsync(conn, _name, ct);
        }

        foreach (var (table, id) in requests)
        {
            if (!ctx.Source.Tables.ContainsKey(table))
            {
                continue; // not captured by this source (the CLI refuses these; a config may have changed since)
            }

            if (id > _generations.GetValueOrDefault(table, -1))
            {
                _generations[table] = id;
                _queue.RemoveAll(w => w.Table == table);
                _queue.Add(new SnapshotWork(table, id, 0, null, 0));
                ctx.Logger.LogInformation("Source {Source}: re-snapshot of {Table} requested (generation {Generation})", _name, table, id);
            }
        }

        PublishPending();
    }

    private async Task RunTableAsync(SnapshotWork work, CancellationToken ct)
    {
        var table = work.Table;
        var label = table.ToString();
        var rowsGauge = CaptureMetrics.SnapshotRows.WithLabels(_name, label);
        var rowsCounter = CaptureMetrics.SnapshotRowsRead.WithLabels(_name, label);
        CaptureMetrics.SnapshotRunning.WithLabels(_name, label).Set(1);
        try
        {
            var total = await EstimateRowsAsync(table, ct);
            CaptureMetrics.SnapshotTotalRows.WithLabels(_name, label).Set(total);
            if (work.Resumes)
            {
                ctx.Logger.LogInformation("Source {Source}: resuming the snapshot of {Table} (generation {Generation}) after chunk {Chunk}, {Rows} rows done",
                    _name, table, work.Generation, work.Chunk, work.Rows);
            }
            else
            {
                ctx.Logger.LogInformation("Source {Source}: snapshot of {Table} (generation {Generation}) starting, about {Total} rows in chunks of {Chunk}",
                    _name, table, work.Generation, total, ctx.Options.SnapshotChunkRows);
            }

            var low = tracker.Content("low", ++_watermarks);
            tracker.BeginTable(table, low);
            await EmitWatermarkAsync(low, ct);
            await WaitForTransactionsInProgressAsync(table, ct);

            var chunkNo = work.Chunk;
            var rows = work.Rows;
            var lastKey = work.ResumeAfter;
            var clock = Stopwatch.StartNew();
            var rowsAtStart = rows;
            rowsGauge.Set(rows);
            while (true)
            {
                var chunk = await ReadChunkAsync(table, work.Generation, chunkNo + 1, lastKey, rows, total, ct);
                var emitted = tracker.Offer(chunk);
                await EmitWatermarkAsync(chunk.WatermarkId, ct);
                var written = await emitted.WaitAsync(ct);
                chunkNo = chunk.Chunk;
                rows = chunk.RowsRead;
                lastKey = chunk.LastKey;
                rowsGauge.Set(rows);
                rowsCounter.Inc(chunk.Rows.Count);
                CaptureMetrics.SnapshotChunks.WithLabels(_name).Inc();
                Faults.FaultPoint.Reached(Faults.FaultPoint.CaptureAfterSnapshotChunk);
                var rate = (rows - rowsAtStart) / Math.Max(0.001, clock.Elapsed.TotalSeconds);
                CaptureMetrics.SnapshotRowsPerSecond.WithLabels(_name, label).Set(rate);
                ctx.Logger.LogDebug("Source {Source}: snapshot of {Table}: chunk {Chunk}, {Read} rows read, {Written} emitted ({Dropped} newer in the stream); {Rows} rows, {Rate:0} rows/s",
                    _name, table, chunk.Chunk, chunk.Rows.Count, written, chunk.Rows.Count - written, rows, rate);
                if (chunk.Done)
                {
                    ctx.Logger.LogInformation("Source {Source}: snapshot of {Table} (generation {Generation}) read: {Rows} rows in {Chunks} chunks",
                        _name, table, work.Generation, rows, chunkNo);
                    break;
                }

                await PollRequestsAsync(ct);
                if (_generations.GetValueOrDefault(table) > work.Generation)
                {
                    ctx.Logger.LogInformation("Source {Source}: a newer snapshot of {Table} was requested; this one stops here", _name, table);
                    break;
                }
            }
        }
        finally
        {
            tracker.EndTable();
            CaptureMetrics.SnapshotRunning.WithLabels(_name, label).Set(0);
        }
    }

    /// <summary>The planner's row estimate; a table never analyzed is counted (for at most 10 s) instead, so progress has a denominator.</summary>
    public static async Task<long> EstimateRowsAsync(NpgsqlConnection conn, TableInfo table, CancellationToken ct, bool count = true)
    {
        var estimate = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = @oid::oid", new { oid = (long)table.Oid }, cancellationToken: ct));
        if (estimate > 0 || !count)
        {
            return Math.Max(estimate, 0);
        }

        try
        {
            await using var cmd = new NpgsqlCommand($"SELECT count(*) FROM {table.Id.Quoted}", conn) { CommandTimeout = 10 };
            return (long)(await cmd.ExecuteScalarAsync(ct))!;
        }
        catch (Exception e) when (e is NpgsqlException { IsTransient: true } or PostgresException { SqlState: "57014" } or TimeoutException)
        {
            return 0;
        }
    }

    private async Task<long> EstimateRowsAsync(TableId table, CancellationToken ct)
    {
        await using var conn = await ctx.Control.OpenConnectionAsync(ct);
        return await EstimateRowsAsync(conn, ctx.Source.Tables[table], ct);
    }

    private async Task EmitWatermarkAsync(string content, CancellationToken ct)
    {
        await using var conn = await ctx.Control.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "SELECT pg_logical_emit_message(false, @prefix, @content)", new { prefix = WatermarkTracker.Prefix, content }, cancellationToken: ct));
    }

    /// <summary>
    /// Waits until every transaction in progress after the low watermark has ended. After that, every
    /// transaction whose commit precedes the low watermark is visible to any chunk's snapshot, so the
    /// reader's record, which starts at the low watermark, covers every transaction a chunk can miss.
    /// </summary>
    private async Task WaitForTransactionsInProgressAsync(TableId table, CancellationToken ct)
    {
        await using var conn = await ctx.Control.OpenConnectionAsync(ct);
        var snapshot = await conn.ExecuteScalarAsync<string>(new CommandDefinition("SELECT pg_current_snapshot()::text", cancellationToken: ct));
        var waited = Stopwatch.StartNew();
        var warned = false;
        while (true)
        {
            var running = (await conn.QueryAsync<long>(new CommandDefinition("""
                SELECT x::text::bigint FROM pg_snapshot_xip(@snapshot::pg_snapshot) AS x
                WHERE pg_xact_status(x) = 'in progress'
                """, new { snapshot }, cancellationToken: ct))).ToList();
            if (running.Count == 0)
            {
                return;
            }

            if (!warned && waited.Elapsed > TimeSpan.FromSeconds(10))
            {
                warned = true;
                ctx.Logger.LogWarning("Source {Source}: the snapshot of {Table} waits for {Count} long-running transaction(s) to end (xid {Xids})",
                    _name, table, running.Count, string.Join(", ", running.Take(5)));
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), ct);
        }
    }

    private async Task<SnapshotChunk> ReadChunkAsync(TableId table, long generation, long chunkNo, JsonObject? after, long rowsBefore, long total, CancellationToken ct)
    {
        await using var conn = await ctx.Control.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        // The transaction's first statement takes its snapshot: the chunk below is read in exactly this one.
        var snapshot = XidSnapshot.Parse((await conn.ExecuteScalarAsync<string>(new CommandDefinition(
            "SELECT pg_current_snapshot()::text", transaction: tx, cancellationToken: ct)))!);
        tracker.SetSnapshot(snapshot);

        // The definition as of this chunk: a column added or dropped mid-snapshot is read as it is now.
        var info = (await Catalog.LoadTablesAsync(conn, [table], ct)).GetValueOrDefault(table)
            ?? throw new InvalidOperationException($"table {table} disappeared from the source during its snapshot");
        if (info.KeyColumns.Count == 0)
        {
            throw new InvalidOperationException($"table {table} lost its primary key during its snapshot");
        }

        var columns = relations.ColumnsFromCatalog(info);
        var keys = info.KeyColumns;
        await using var cmd = new NpgsqlCommand { Connection = conn, Transaction = tx, AllResultTypesAreUnknown = true };
        var where = "";
        if (after is not null)
        {
            // Row comparison in key order: exactly the index order the ORDER BY below walks.
            where = $" WHERE ({string.Join(", ", keys.Select(Sql.QuoteIdent))}) > ({string.Join(", ", keys.Select((k, i) => $"${i + 1}::{info.Column(k)!.BaseTypeSql}"))})";
            foreach (var k in keys)
            {
                var text = after.TryGetPropertyValue(k, out var v) ? ValueCodec.ToPgText(v, info.Column(k)!.Type) : null;
                if (text is null)
                {
                    throw new InvalidOperationException($"the recorded snapshot position of {table} has no value for key column {k}");
                }

                cmd.Parameters.Add(new NpgsqlParameter { Value = text, NpgsqlDbType = NpgsqlDbType.Text });
            }
        }

        var limit = Math.Max(1, ctx.Options.SnapshotChunkRows);
        cmd.CommandText = $"SELECT {string.Join(", ", columns.Select(c => Sql.QuoteIdent(c.Name)))} FROM {table.Quoted}{where} "
            + $"ORDER BY {string.Join(", ", keys.Select(Sql.QuoteIdent))} LIMIT {limit}";
        var rows = new List<SnapshotRow>(Math.Min(limit, 10_000));
        long bytes = 0;
        var capped = false;
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            var values = new string?[columns.Length];
            while (await reader.ReadAsync(ct))
            {
                for (var i = 0; i < columns.Length; i++)
                {
                    values[i] = reader.IsDBNull(i) ? null : reader.GetString(i);
                    bytes += values[i]?.Length ?? 0;
                }

                var row = CapturedRow.FromValues(columns, values, ctx.Protector);
                rows.Add(new SnapshotRow(row, RawEventCodec.WriteKey(row.KeyImage, table.ToString())));
                if (bytes >= MaxChunkBytes && rows.Count < limit)
                {
                    capped = true;
                    break;
                }
            }
        }

        await tx.CommitAsync(ct);
        var last = rows.Count > 0 ? JsonNode.Parse(rows[^1].Key) as JsonObject : after;
        var done = rows.Count < limit && !capped;
        return new SnapshotChunk(table, generation, chunkNo, rows, last, done, rowsBefore + rows.Count, total,
            tracker.Content("high", ++_watermarks), snapshot);
    }
}
