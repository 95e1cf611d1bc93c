using System.Text;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;
using Prometheus;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>
/// One source's schema changes at the Sink (docs/contracts.md, "Schema changes"), inside its apply
/// transactions: a target table that mirrors a source table gains the columns the source added
/// (<see cref="TableSchemaChange"/>), and a source table whose change the mapping or the target cannot take
/// is parked (<see cref="TableStateChange"/>, or a column type the target column cannot hold): from that
/// position on every change of it from this source goes to peeq_cdc.parked_rows instead of the target,
/// nothing lost, until a re-snapshot of the table completes. Other tables keep flowing.
/// </summary>
public sealed partial class SchemaChanges(TargetTables tables, string target, string source, ILogger? logger = null)
{
    private static readonly Counter ColumnsAdded = Metrics.CreateCounter(
        "peeq_cdc_sink_columns_added_total", "Columns added to a target table because its source table gained them (mirroring mappings).", "target", "table");

    private static readonly Counter TablesParked = Metrics.CreateCounter(
        "peeq_cdc_sink_tables_parked_total", "Source tables parked because of a schema change the mapping or the target cannot take.", "source", "table");

    private static readonly Counter ParkedByTable = Metrics.CreateCounter(
        "peeq_cdc_sink_parked_table_rows_total", "Row operations parked because their source table is parked.", "source", "table");

    // Definitions changed inside the open target transaction: other connections do not see them yet.
    private readonly Dictionary<TableId, TargetTable> _pending = [];
    private readonly Dictionary<TableId, string> _parked = [];
    private readonly Dictionary<TableId, long> _parkedGeneration = [];

    // Snapshots completed by commits received but not yet committed to the target: changes after such a
    // commit flow again, though the park is only cleared (SnapshotProgress) when the batch commits.
    private readonly Dictionary<TableId, (long Generation, Lsn At)> _completedAt = [];
    private bool _loaded;

    /// <summary>The source tables parked for this source, with the reason.</summary>
    public IReadOnlyDictionary<TableId, string> Parked => _parked;

    /// <summary>A target table as this applier's open transaction sees it.</summary>
    public async Task<TargetTable> GetTableAsync(TableId id, CancellationToken ct) =>
        _pending.TryGetValue(id, out var t) ? t : await tables.GetAsync(id, ct);

    /// <summary>Loads the parked tables once per (re)start, through the apply connection so it sees the open transaction.</summary>
    public async Task EnsureLoadedAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        if (_loaded)
        {
            return;
        }

        _parked.Clear();
        _parkedGeneration.Clear();
        var rows = await conn.QueryAsync<(string schema, string name, string reason, long generation)>(new CommandDefinition(
            "SELECT source_schema_name, source_table_name, parked_reason, coalesce(parked_generation, 0) FROM peeq_cdc.source_table_state WHERE source = @source AND parked_reason IS NOT NULL",
            new { source }, cancellationToken: ct));
        foreach (var (schema, name, reason, generation) in rows)
        {
            _parked[new TableId(schema, name)] = reason;
            _parkedGeneration[new TableId(schema, name)] = generation;
        }

        _loaded = true;
    }

    /// <summary>The target transaction committed: what it changed is now everyone's.</summary>
    public void Committed()
    {
        foreach (var id in _pending.Keys)
        {
            tables.Invalidate(id);
        }

        _pending.Clear();
        _completedAt.Clear();
    }

    /// <summary>Everything not committed was dropped (the applier resets): commits will be received again.</summary>
    public void Reset()
    {
        RolledBack();
        _completedAt.Clear();
    }

    /// <summary>
    /// A source commit was received whole: a snapshot it completes unparks its table for every change
    /// after it (when its generation is newer than the park), even within the same target transaction.
    /// </summary>
    public void Received(UnifiedCommit commit)
    {
        foreach (var m in commit.Snapshot ?? [])
        {
            if (m.Done && !_completedAt.ContainsKey(m.Table))
            {
                _completedAt[m.Table] = (m.Generation, commit.CommitLsn);
            }
        }
    }

    /// <summary>The target transaction (or part of it) was rolled back: forget what it changed, reread the parked tables.</summary>
    public void RolledBack()
    {
        _pending.Clear();
        _loaded = false;
    }

    /// <summary>A snapshot completed after the park: the table flows again.</summary>
    public void Unparked(TableId table)
    {
        _parked.Remove(table);
        _parkedGeneration.Remove(table);
    }

    /// <summary>True when <paramref name="op"/> must be parked because its source table is. Snapshot rows still apply: a re-snapshot is how a parked table comes back.</summary>
    public bool Diverts(RowOperation op) =>
        !op.Snapshot && _parked.ContainsKey(op.Origin.Table)
        && !(_completedAt.TryGetValue(op.Origin.Table, out var done) && done.Generation > _parkedGeneration.GetValueOrDefault(op.Origin.Table) && op.CommitLsn > done.At);

    public async Task ApplyAsync(NpgsqlConnection conn, UnifiedEvent e, CancellationToken ct)
    {
        await EnsureLoadedAsync(conn, ct);
        switch (e)
        {
            case TableStateChange { State: "parked" } s:
                await ParkAsync(conn, s.SourceTable, s.Reason ?? "parked by the mapping", s.CommitLsn, [], ct);
                break;
            case TableStateChange s:
                logger?.LogWarning("Sink {Source}: table state '{State}' for {Table} is not one this Sink knows; ignored", source, s.State, s.SourceTable);
                break;
            case TableSchemaChange sc:
                await FollowAsync(conn, sc, ct);
                break;
        }
    }

    /// <summary>Parks the operations of parked tables (in one statement), with the table's reason.</summary>
    public async Task ParkOperationsAsync(NpgsqlConnection conn, IReadOnlyList<RowOperation> ops, CancellationToken ct)
    {
        if (ops.Count == 0)
        {
            return;
        }

        await Parking.ParkedRows.ParkAsync(conn, ops.Select(o => new ParkedOp(o, $"table parked: {_parked.GetValueOrDefault(o.Origin.Table)}")).ToList(),
            whole: false, heldBehind: null, ct);
        foreach (var g in ops.GroupBy(o => o.Origin.Table))
        {
            ParkedByTable.WithLabels(source, g.Key.ToString()).Inc(g.Count());
        }
    }

    /// <summary>
    /// A mirrored table's new columns: a column the target lacks is added (and, when the source filled
    /// existing rows with a default, those rows of this source get it too); a column the target has must
    /// be able to hold the new type, and the key must be the same, else the source table is parked.
    /// </summary>
    private async Task FollowAsync(NpgsqlConnection conn, TableSchemaChange sc, CancellationToken ct)
    {
        if (_parked.ContainsKey(sc.SourceTable))
        {
            return;
        }

        TargetTable table;
        try
        {
            table = await GetTableAsync(sc.Table, ct);
        }
        catch (TargetTableMissingException)
        {
            return; // its rows are parked as "table missing" when they come
        }

        var problems = new List<string>();
        var sourceKey = sc.Columns.Where(c => c.IsKey).Select(c => c.Name).ToList();
        if (sourceKey.Count > 0 && !sourceKey.ToHashSet().SetEquals(table.Key))
        {
            problems.Add($"its key is now ({string.Join(", ", sourceKey)}), the target table's is ({string.Join(", ", table.Key)})");
        }

        var added = new List<SchemaColumn>();
        foreach (var c in sc.Columns)
        {
            if (table.Info.Column(c.Name) is not { } existing)
            {
                added.Add(c);
            }
            else if (!TypeCompatibility.CanHold(existing.TypeSql, c.TypeSql))
            {
                problems.Add($"column {c.Name} is now {c.TypeSql}, which target column {table.Id}.{c.Name} ({existing.TypeSql}) cannot hold without loss");
            }
        }

        if (problems.Count > 0)
        {
            await ParkAsync(conn, sc.SourceTable, $"schema change of {sc.SourceTable}: {string.Join("; ", problems)}", sc.CommitLsn, [sc.Table], ct);
            return;
        }

        if (added.Count == 0)
        {
            return;
        }

        foreach (var c in added)
        {
            var type = await CheckedTypeAsync(conn, c.TypeSql, ct);
            await conn.ExecuteAsync(new CommandDefinition(
                $"ALTER TABLE {table.Id.Quoted} ADD COLUMN IF NOT EXISTS {Sql.QuoteIdent(c.Name)} {type}", cancellationToken: ct));
            if (c.ExistingValue is not null)
            {
                // Rows of this source that existed before the column was added hold the value the source gave them.
                var sql = table.Info.IsKeyless
                    ? $"UPDATE {table.Id.Quoted} SET {Sql.QuoteIdent(c.Name)} = @value::{type} WHERE {Sql.QuoteIdent(c.Name)} IS NULL"
                    : $"""
                      UPDATE {table.Id.Quoted} t SET {Sql.QuoteIdent(c.Name)} = @value::{type}
                      FROM {table.QuotedLineage} l
                      WHERE {string.Join(" AND ", table.Key.Select(k => $"t.{Sql.QuoteIdent(k)} = l.{Sql.QuoteIdent(k)}"))}
                        AND l.source = @source AND l.origin_table = @origin AND NOT l.deleted
                      """;
                await conn.ExecuteAsync(new CommandDefinition(sql, new { value = c.ExistingValue, source, origin = sc.SourceTable.ToString() }, cancellationToken: ct));
            }

            ColumnsAdded.WithLabels(target, table.Id.ToString()).Inc();
            logger?.LogInformation("Sink {Source}: added column {Column} {Type} to {Table} (the source table {SourceTable} gained it)",
                source, c.Name, type, table.Id, sc.SourceTable);
        }

        // The open transaction sees the new columns; other connections will once it commits.
        var info = (await Catalog.LoadTablesAsync(conn, [table.Id], ct))[table.Id];
        _pending[table.Id] = table with { Info = info };
    }

    /// <summary>
    /// A type name from an event goes into DDL only if it has the shape format_type prints and names a
    /// type this database knows: never arbitrary text.
    /// </summary>
    private static async Task<string> CheckedTypeAsync(NpgsqlConnection conn, string typeSql, CancellationToken ct)
    {
        if (!TypeShape().IsMatch(typeSql) || !await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT to_regtype(@typeSql) IS NOT NULL", new { typeSql }, cancellationToken: ct)))
        {
            throw new FormatException($"'{typeSql}' is not a type this target knows");
        }

        return typeSql;
    }

    private async Task ParkAsync(NpgsqlConnection conn, TableId sourceTable, string reason, Lsn at, IReadOnlyList<TableId> targets, CancellationToken ct)
    {
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.source_table_state AS s (source, source_table, source_schema_name, source_table_name, snapshot_generation, snapshot_state,
                parked_reason, parked_generation, parked_lsn, parked_at, target_tables, updated_at)
            VALUES (@source, @display, @schema, @name, -1, 'loading', @reason, 0, @at::pg_lsn, now(), @targets, now())
            ON CONFLICT (source, source_table) DO UPDATE SET
                parked_reason = coalesce(s.parked_reason, excluded.parked_reason),
                parked_generation = CASE WHEN s.parked_reason IS NULL THEN greatest(s.snapshot_generation, 0) ELSE s.parked_generation END,
                parked_lsn = coalesce(s.parked_lsn, excluded.parked_lsn),
                parked_at = coalesce(s.parked_at, excluded.parked_at),
                target_tables = ARRAY(SELECT DISTINCT x FROM unnest(s.target_tables || excluded.target_tables) AS x ORDER BY x),
                updated_at = now()
            """, new
        {
            source,
            display = sourceTable.ToString(),
            schema = sourceTable.Schema,
            name = sourceTable.Name,
            reason,
            at = at.ToString(),
            targets = targets.Select(t => t.ToString()).ToArray(),
        }, cancellationToken: ct));
        await SnapshotProgress.RefreshTableStateAsync(conn, source, sourceTable, ct);
        if (_parked.TryAdd(sourceTable, reason))
        {
            _parkedGeneration[sourceTable] = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT coalesce(parked_generation, 0) FROM peeq_cdc.source_table_state WHERE source = @source AND source_schema_name = @schema AND source_table_name = @name",
                new { source, schema = sourceTable.Schema, name = sourceTable.Name }, cancellationToken: ct));
            _completedAt.Remove(sourceTable);
        }

        TablesParked.WithLabels(source, sourceTable.ToString()).Inc();
        logger?.LogWarning("Sink {Source}: source table {Table} is parked from {Lsn} on ({Reason}); its changes go to peeq_cdc.parked_rows until it is re-snapshotted "
            + "(peeq-cdc snapshot --source {Source} --table {Table}) after the mapping or the target is fixed", source, sourceTable, at, reason, source, sourceTable);
    }

    [GeneratedRegex("""^("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$ ]*)(\.("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*))?(\(\d+(\s*,\s*\d+)?\))?( with(out)? time zone)?(\[\])*$""")]
    private static partial Regex TypeShape();
}
