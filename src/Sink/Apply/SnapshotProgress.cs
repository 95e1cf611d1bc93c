using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Contracts;
using Prometheus;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>
/// Records snapshot progress (docs/contracts.md, "Snapshots") in the same target transaction as the
/// chunk it describes: peeq_cdc.source_table_state per source table (what Capture reads back to resume),
/// and peeq_cdc.table_state per target table (loading while any of its source tables' snapshots runs,
/// ready after, parked while one is parked). When a generation completes, target rows of that source
/// table whose last change is older than the generation's start are rows the source no longer has
/// (deleted while the slot was lost, or while the table was not captured): they are deleted, with a
/// tombstone, unless the snapshot parked that row instead of applying it.
/// </summary>
public static class SnapshotProgress
{
    private static readonly Counter Swept = Metrics.CreateCounter(
        "peeq_cdc_sink_snapshot_swept_rows_total", "Target rows removed when a snapshot completed because the source no longer has them.", "source", "table");

    private static readonly Counter Superseded = Metrics.CreateCounter(
        "peeq_cdc_sink_parked_superseded_total", "Parked changes with unchanged TOASTed values resolved because the snapshot wrote their row whole later.", "source");

    private static readonly Counter Completed = Metrics.CreateCounter(
        "peeq_cdc_sink_snapshots_completed_total", "Table snapshots whose last chunk was applied.", "source");

    public static async Task RecordAsync(NpgsqlConnection conn, string source, UnifiedCommit commit, BatchWriter writer, ILogger? logger, CancellationToken ct)
    {
        var schema = writer.Schema;
        foreach (var m in commit.Snapshot ?? [])
        {
            var targets = (m.TargetTables ?? []).Select(t => t.ToString()).ToArray();
            var row = await conn.QuerySingleOrDefaultAsync<(long generation, bool unparked)?>(new CommandDefinition("""
                INSERT INTO peeq_cdc.source_table_state AS s (source, source_table, source_schema_name, source_table_name, snapshot_generation, snapshot_state,
                    snapshot_chunk, snapshot_last_key, snapshot_rows, snapshot_total_rows, snapshot_since, snapshot_started_at, snapshot_finished_at, target_tables, updated_at)
                VALUES (@source, @display, @schema, @name, @generation, CASE WHEN @done THEN 'done' ELSE 'loading' END,
                    @chunk, @lastKey::jsonb, @rows, @total, @since::pg_lsn, now(), CASE WHEN @done THEN now() END, @targets, now())
                ON CONFLICT (source, source_table) DO UPDATE SET
                    snapshot_since = CASE WHEN s.snapshot_generation = excluded.snapshot_generation AND excluded.snapshot_chunk > 1
                                          THEN coalesce(s.snapshot_since, excluded.snapshot_since) ELSE excluded.snapshot_since END,
                    snapshot_started_at = CASE WHEN s.snapshot_generation = excluded.snapshot_generation AND excluded.snapshot_chunk > 1
                                               THEN s.snapshot_started_at ELSE now() END,
                    snapshot_generation = excluded.snapshot_generation,
                    snapshot_state = excluded.snapshot_state,
                    snapshot_chunk = excluded.snapshot_chunk,
                    snapshot_last_key = excluded.snapshot_last_key,
                    snapshot_rows = excluded.snapshot_rows,
                    snapshot_total_rows = excluded.snapshot_total_rows,
                    snapshot_finished_at = excluded.snapshot_finished_at,
                    parked_reason = CASE WHEN @done AND excluded.snapshot_generation > coalesce(s.parked_generation, 0) THEN NULL ELSE s.parked_reason END,
                    target_tables = ARRAY(SELECT DISTINCT x FROM unnest(s.target_tables || excluded.target_tables) AS x ORDER BY x),
                    updated_at = now()
                WHERE s.snapshot_generation <= excluded.snapshot_generation
                RETURNING s.snapshot_generation, (s.parked_reason IS NULL AND s.parked_at IS NOT NULL) AS unparked
                """, new
            {
                source,
                display = m.Table.ToString(),
                schema = m.Table.Schema,
                name = m.Table.Name,
                generation = m.Generation,
                done = m.Done,
                chunk = m.Chunk,
                lastKey = m.LastKey?.ToJsonString(),
                rows = m.Rows,
                total = m.TotalRows,
                since = m.Since.ToString(),
                targets,
            }, cancellationToken: ct));
            await ResolveSupersededAsync(conn, source, m, schema, logger, ct);
            if (row is null)
            {
                continue; // an older generation's chunk: its rows applied, its progress superseded
            }

            if (row.Value.unparked && schema.Parked.ContainsKey(m.Table))
            {
                // Only clear the park once: parked_at stays as the record of when it happened.
                await conn.ExecuteAsync(new CommandDefinition(
                    "UPDATE peeq_cdc.source_table_state SET parked_at = NULL, parked_lsn = NULL, parked_generation = NULL WHERE source = @source AND source_schema_name = @schema AND source_table_name = @name",
                    new { source, schema = m.Table.Schema, name = m.Table.Name }, cancellationToken: ct));
                schema.Unparked(m.Table);
                logger?.LogInformation("Sink {Source}: {Table} was re-snapshotted after it was parked; it flows again", source, m.Table);
                await ReplayDivertedAsync(conn, source, m, writer, logger, ct);
            }

            if (m.Done)
            {
                Completed.WithLabels(source).Inc();
                foreach (var target in m.TargetTables ?? [])
                {
                    await SweepAsync(conn, source, m, target, schema, logger, ct);
                }
            }

            await RefreshTableStateAsync(conn, source, m.Table, ct);
        }
    }

    /// <summary>
    /// An update that left TOASTed columns unchanged, for a row the target did not hold yet (its chunk still to
    /// come, or being read), was parked: its unchanged values were unknown here. Once this source has written
    /// that row whole (a chunk row, newer than the parked change: the chunk's read saw the change, or the chunk
    /// row carries it merged) or deleted it at a later position, the parked change is part of what the target
    /// holds. It is marked 'superseded' (by whom, when), not deleted; rows parked whole (financial tables) are left
    /// to the operator.
    /// </summary>
    private static async Task ResolveSupersededAsync(NpgsqlConnection conn, string source, SnapshotMark m, SchemaChanges schema, ILogger? logger, CancellationToken ct)
    {
        foreach (var targetId in m.TargetTables ?? [])
        {
            TargetTable target;
            try
            {
                target = await schema.GetTableAsync(targetId, ct);
            }
            catch (TargetTableMissingException)
            {
                continue;
            }

            if (target.Info.IsKeyless)
            {
                continue;
            }

            var n = await conn.ExecuteAsync(new CommandDefinition($"""
                UPDATE peeq_cdc.parked_rows p
                SET status = 'superseded', resolved_at = now(),
                    resolved_by = 'snapshot ' || @generation || ' chunk ' || @chunk || ': row ' || CASE WHEN l.deleted THEN 'deleted' ELSE 'written whole' END || ' at ' || l.lsn::text || '#' || l.seq
                FROM {target.QuotedLineage} l
                WHERE p.status = 'parked' AND p.source = @source AND p.source_table = @origin AND p.target_table = @target
                  AND NOT p.whole_transaction AND p.payload_kind = 'unified' AND strpos(p.reason, @reason) > 0
                  AND l.source = p.source AND l.origin_table = p.source_table AND l.origin_key = p.source_key
                  AND (l.lsn, l.seq) > (p.commit_lsn, p.seq)
                """, new
            {
                source,
                origin = m.Table.ToString(),
                target = targetId.ToString(),
                reason = BatchWriter.UnknownUnchanged,
                generation = m.Generation.ToString(System.Globalization.CultureInfo.InvariantCulture),
                chunk = m.Chunk.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }, cancellationToken: ct));
            if (n > 0)
            {
                Superseded.WithLabels(source).Inc(n);
                logger?.LogInformation("Sink {Source}: {Count} parked change(s) of {Table} with unchanged TOASTed values superseded by the snapshot's whole rows",
                    source, n, m.Table);
            }
        }
    }

    /// <summary>
    /// Changes of the table that were parked while its re-snapshot ran: a chunk leaves out the rows that a
    /// change it did not see touched (the stream carries their newer state), and while the table was parked
    /// that newer state went to parked_rows. They are applied now, in source order, through the version
    /// guard (a change older than a chunk row of the same key loses to it). One that still cannot be applied
    /// stays parked, with the rest.
    /// </summary>
    private static async Task ReplayDivertedAsync(NpgsqlConnection conn, string source, SnapshotMark m, BatchWriter writer, ILogger? logger, CancellationToken ct)
    {
        var since = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT snapshot_since::text FROM peeq_cdc.source_table_state WHERE source = @source AND source_schema_name = @schema AND source_table_name = @name",
            new { source, schema = m.Table.Schema, name = m.Table.Name }, cancellationToken: ct));
        var rows = await Parking.ParkedRows.TableParkedSinceAsync(conn, source, m.Table, since is null ? m.Since : Lsn.Parse(since), ct);
        var ops = rows.Select(r => (r.id, Op: r.Unified)).Where(r => r.Op is RowOperation).ToList();
        if (ops.Count == 0)
        {
            return;
        }

        await conn.ExecuteAsync(new CommandDefinition("SAVEPOINT replay_diverted", cancellationToken: ct));
        try
        {
            await writer.WriteAsync(conn, ops.Select(o => o.Op!).ToList(), ct);
            await Parking.ParkedRows.MarkAsync(conn, ops.Select(o => o.id).ToList(), "replayed", "snapshot", ct);
            await conn.ExecuteAsync(new CommandDefinition("RELEASE SAVEPOINT replay_diverted", cancellationToken: ct));
            logger?.LogInformation("Sink {Source}: applied {Count} change(s) of {Table} parked while its re-snapshot ran", source, ops.Count, m.Table);
        }
        catch (Exception e) when (SinkErrors.IsRowError(e))
        {
            await conn.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT replay_diverted; RELEASE SAVEPOINT replay_diverted", cancellationToken: ct));
            writer.RolledBack();
            logger?.LogWarning("Sink {Source}: {Count} change(s) of {Table} parked while its re-snapshot ran cannot be applied ({Error}); they stay parked",
                source, ops.Count, m.Table, SinkErrors.Describe(e));
        }
    }

    /// <summary>
    /// table_state for the target tables a source table feeds: parked if any source table of this source
    /// feeding it is parked, loading if any is being snapshotted, else ready.
    /// </summary>
    public static async Task RefreshTableStateAsync(NpgsqlConnection conn, string source, TableId sourceTable, CancellationToken ct) =>
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.table_state AS ts (target_table, source, state, reason, updated_at)
            SELECT x, @source,
                   CASE WHEN bool_or(s.parked_reason IS NOT NULL) THEN 'parked'
                        WHEN bool_or(s.snapshot_state = 'loading') THEN 'loading' ELSE 'ready' END,
                   string_agg(s.parked_reason, '; ' ORDER BY s.source_table),
                   now()
            FROM peeq_cdc.source_table_state s CROSS JOIN LATERAL unnest(s.target_tables) AS x
            WHERE s.source = @source
              AND x IN (SELECT unnest(target_tables) FROM peeq_cdc.source_table_state WHERE source = @source AND source_schema_name = @schema AND source_table_name = @name)
            GROUP BY x
            ON CONFLICT (target_table, source) DO UPDATE SET state = excluded.state, reason = excluded.reason, updated_at = excluded.updated_at
            WHERE ts.state IS DISTINCT FROM excluded.state OR ts.reason IS DISTINCT FROM excluded.reason
            """, new { source, schema = sourceTable.Schema, name = sourceTable.Name }, cancellationToken: ct));

    private static async Task SweepAsync(NpgsqlConnection conn, string source, SnapshotMark m, TableId targetId, SchemaChanges schema, ILogger? logger, CancellationToken ct)
    {
        var since = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT snapshot_since::text FROM peeq_cdc.source_table_state WHERE source = @source AND source_schema_name = @schema AND source_table_name = @name",
            new { source, schema = m.Table.Schema, name = m.Table.Name }, cancellationToken: ct));
        TargetTable target;
        try
        {
            target = await schema.GetTableAsync(targetId, ct);
        }
        catch (TargetTableMissingException)
        {
            return;
        }

        if (since is null || target.Info.IsKeyless)
        {
            return; // no lineage: rows of a keyless table cannot be told apart
        }

        var keys = target.Key.Select(Sql.QuoteIdent).ToList();
        var n = await conn.ExecuteAsync(new CommandDefinition($"""
            WITH gone AS (
                UPDATE {target.QuotedLineage} l SET deleted = true, updated_at = now()
                WHERE l.source = @source AND l.origin_table = @origin AND NOT l.deleted AND l.lsn < @since::pg_lsn
                  AND NOT EXISTS (SELECT 1 FROM peeq_cdc.parked_rows p
                                  WHERE p.source = @source AND p.source_table = @origin AND p.source_key = l.origin_key AND p.commit_lsn >= @since::pg_lsn)
                RETURNING {string.Join(", ", keys.Select(k => "l." + k))})
            DELETE FROM {target.Id.Quoted} t USING gone g WHERE {string.Join(" AND ", keys.Select(k => $"t.{k} = g.{k}"))}
            """, new { source, origin = m.Table.ToString(), since }, cancellationToken: ct));
        if (n > 0)
        {
            Swept.WithLabels(source, target.Id.ToString()).Inc(n);
            logger?.LogInformation("Sink {Source}: snapshot of {Table} complete; removed {Rows} row(s) of {Target} the source no longer has", source, m.Table, n, target.Id);
        }
    }
}
