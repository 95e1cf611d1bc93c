using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using NpgsqlTypes;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>An operation the Sink parked, with the reason.</summary>
public sealed record ParkedOp(UnifiedEvent Op, string Reason);

/// <summary>What one write did besides applying rows: the operations it had to park.</summary>
public sealed class WriteResult
{
    public List<ParkedOp> Parked { get; } = [];
}

/// <summary>
/// Writes one source's row operations into an open target transaction, set-based per table: the
/// net effect per key goes through binary COPY into a text staging table, then one statement
/// applies the version guard in the lineage table and writes the winners into the target. A change
/// only applies over an older version from the same source; deletes leave a tombstone so nothing
/// older can bring the row back. The statement also returns the rows that did not win and are not
/// simply older than what the target holds: keys another source owns. Those (rare) are settled
/// one by one: by the mapping's priority rule (the losing claim is kept in peeq_cdc.shadowed_claims,
/// promoted when the owner deletes) or parked as a conflict.
/// </summary>
public sealed class BatchWriter(TargetTables tables, string target, string source, byte[]? sealKey, IReadOnlySet<string>? sensitiveColumns = null,
    Microsoft.Extensions.Logging.ILogger? logger = null)
{
    private static readonly TableId IdentityMap = new(PipelineSchema.Schema, "identity_map");
    private static readonly string[] NoColumns = [];
    private readonly Dictionary<TableId, string> _staged = [];

    // Staging tables that received rows in the open target transaction. Every other one is empty (ON COMMIT
    // DELETE ROWS empties them at commit, a rollback takes their rows away), so it needs no TRUNCATE: a
    // round trip, and for a temp table a new relfilenode, saved on every batch.
    private readonly HashSet<TableId> _stageFilled = [];
    private readonly Dictionary<TableId, bool> _bulk = [];
    private NpgsqlConnection? _stagedOn;

    /// <summary>
    /// Forgets the staging tables: a rollback (to a savepoint, too) may have dropped ones created inside it.
    /// CREATE TEMP TABLE IF NOT EXISTS makes re-creating them cheap.
    /// </summary>
    public void RolledBack()
    {
        _staged.Clear();
        _stageFilled.Clear();
        Schema.RolledBack();
    }

    /// <summary>The target transaction committed: schema changes made in it are now the tables' definitions, and the staging tables are empty.</summary>
    public void Committed()
    {
        _stageFilled.Clear();
        Schema.Committed();
    }

    /// <summary>Schema changes and parked tables of this source (SchemaChanges.cs).</summary>
    public SchemaChanges Schema { get; } = new(tables, target, source, logger);

    /// <summary>Applies <paramref name="ops"/> (in source order) within the connection's open transaction.</summary>
    public async Task<WriteResult> WriteAsync(NpgsqlConnection conn, IReadOnlyList<UnifiedEvent> ops, CancellationToken ct)
    {
        var result = new WriteResult();
        var batches = new Dictionary<TableId, TableBatch>();
        var order = new List<TableBatch>();
        var parked = new List<ParkedChange>();
        var parkedTable = new List<RowOperation>();
        await Schema.EnsureLoadedAsync(conn, ct);
        foreach (var e in ops)
        {
            switch (e)
            {
                case ParkedChange p:
                    parked.Add(p);
                    break;
                case TableSchemaChange or TableStateChange:
                    // A barrier: rows before it land under the old definition, rows after under the new one.
                    await FlushAsync(conn, order, result, ct);
                    batches.Clear();
                    order.Clear();
                    await Schema.ApplyAsync(conn, e, ct);
                    break;
                case RowOperation r when Schema.Diverts(r):
                    parkedTable.Add(r);
                    break;
                case RowOperation { Op: RowOpKind.Truncate } t:
                    // A barrier: everything before it lands first.
                    await FlushAsync(conn, order, result, ct);
                    batches.Clear();
                    order.Clear();
                    await TruncateAsync(conn, t, result, ct);
                    break;
                case RowOperation { Op: RowOpKind.Replace or RowOpKind.Delete } r when r.Key is null:
                    await FlushAsync(conn, order, result, ct);
                    batches.Clear();
                    order.Clear();
                    await ReplaceOriginAsync(conn, r, result, ct);
                    break;
                case RowOperation r:
                    if (!batches.TryGetValue(r.Table, out var b))
                    {
                        b = new TableBatch(r.Table);
                        batches[r.Table] = b;
                        order.Add(b);
                    }

                    b.Add(r);
                    break;
            }
        }

        await FlushAsync(conn, order, result, ct);
        if (parked.Count > 0)
        {
            await Parking.ParkedRows.ParkAsync(conn, parked.Select(p => new ParkedOp(p, p.Reason)).ToList(), whole: false, heldBehind: null, ct);
            foreach (var p in parked)
            {
                SinkMetrics.Parked.WithLabels(source, ReasonKind(p.Reason)).Inc();
                result.Parked.Add(new ParkedOp(p, p.Reason));
            }
        }

        await Schema.ParkOperationsAsync(conn, parkedTable, ct);
        return result;
    }

    private async Task ParkAsync(NpgsqlConnection conn, List<ParkedOp> parks, WriteResult result, CancellationToken ct)
    {
        if (parks.Count == 0)
        {
            return;
        }

        await Parking.ParkedRows.ParkAsync(conn, parks, whole: false, heldBehind: null, ct);
        foreach (var p in parks)
        {
            SinkMetrics.Parked.WithLabels(source, ReasonKind(p.Reason)).Inc();
        }

        result.Parked.AddRange(parks);
    }

    private async Task FlushAsync(NpgsqlConnection conn, List<TableBatch> batches, WriteResult result, CancellationToken ct)
    {
        foreach (var b in batches)
        {
            TargetTable table;
            try
            {
                table = await Schema.GetTableAsync(b.Table, ct);
            }
            catch (TargetTableMissingException e)
            {
                await ParkAsync(conn, b.Rows.Select(r => new ParkedOp(r.Last, e.Message)).Concat(b.Inserts.Select(i => new ParkedOp(i, e.Message))).ToList(), result, ct);
                continue;
            }

            if (b.Conflicts.Count > 0)
            {
                await ParkAsync(conn, b.Conflicts.Select(c => new ParkedOp(c,
                    $"conflict: {table.Id} key {KeyText(c.Key!)} is claimed by another row of source {source} in the same batch; no rule decides between two rows of one source")).ToList(), result, ct);
            }

            var rows = b.Rows;
            if (rows.Count > 0 && table.Info.IsKeyless)
            {
                await ParkAsync(conn, rows.Select(r => new ParkedOp(r.Last, $"target table {table.Id} has no primary key; keyed changes cannot be applied to it")).ToList(), result, ct);
                rows = [];
            }

            var inserts = b.Inserts;
            var hasLookups = false;
            if (rows.Count > 0 || inserts.Count > 0)
            {
                (rows, inserts, hasLookups) = await ResolveLookupsAsync(conn, table, rows, inserts, result, ct);
            }

            if (rows.Count > 0)
            {
                if (await TryBulkLoadAsync(conn, table, rows, hasLookups, ct))
                {
                    continue;
                }

                await StageAsync(conn, table, rows, [], ct);
                await ApplyKeyedAsync(conn, table, rows, hasLookups, result, ct);
            }

            if (inserts.Count > 0)
            {
                await StageAsync(conn, table, [], inserts, ct);
                var stage = _staged[table.Id];
                var sql = $"INSERT INTO {table.Id.Quoted} ({ColumnList(table)}) SELECT {ValueList(table, "s", forInsert: true)} FROM {stage} s WHERE s._op = 'i'";
                var n = await conn.ExecuteAsync(new CommandDefinition(sql, cancellationToken: ct));
                SinkMetrics.RowsApplied.WithLabels(target, table.Id.ToString(), "insert").Inc(n);
            }
        }
    }

    /// <summary>
    /// Replaces <c>{"$lookup": {"kind", "key"}}</c> values with the id identity_map holds; unresolved ones
    /// become NULL and are remembered (recorded as pending once the row has won). A lookup may not fill a
    /// key column (a key must be known when the row is written): such a row is parked.
    /// </summary>
    private async Task<(IReadOnlyList<PendingRow>, IReadOnlyList<RowOperation>, bool)> ResolveLookupsAsync(
        NpgsqlConnection conn, TargetTable table, IReadOnlyList<PendingRow> rows, IReadOnlyList<RowOperation> inserts, WriteResult result, CancellationToken ct)
    {
        // A lookup is (target, kind, key); target is null for this target's own identity_map.
        var wanted = new HashSet<(string? Target, string Kind, string Key)>();
        var unknownTargets = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in rows)
        {
            if (r.Row is { } row)
            {
                foreach (var (_, v) in row)
                {
                    if (Lookup.Is(v, out var kind, out var key, out var lookupTarget))
                    {
                        wanted.Add((ForeignTarget(lookupTarget, unknownTargets), kind, key));
                    }
                }
            }
        }

        foreach (var i in inserts)
        {
            foreach (var (_, v) in i.Row ?? [])
            {
                if (Lookup.Is(v, out var kind, out var key, out var lookupTarget))
                {
                    wanted.Add((ForeignTarget(lookupTarget, unknownTargets), kind, key));
                }
            }
        }

        if (wanted.Count == 0)
        {
            return (rows, inserts, false);
        }

        var local = wanted.Where(w => w.Target is null).Select(w => (w.Kind, w.Key)).ToList();
        var found = new Dictionary<(string? Target, string Kind, string Key), string>();
        if (local.Count > 0)
        {
            foreach (var f in await conn.QueryAsync<(string Kind, string Key, string Id)>(new CommandDefinition("""
                SELECT m.kind, m.legacy_key, m.id::text FROM peeq_cdc.identity_map m
                JOIN unnest(@kinds::text[], @keys::text[]) AS w(kind, legacy_key) ON m.kind = w.kind AND m.legacy_key = w.legacy_key
                """, new { kinds = local.Select(w => w.Kind).ToArray(), keys = local.Select(w => w.Key).ToArray() }, cancellationToken: ct)))
            {
                found[(null, f.Kind, f.Key)] = f.Id;
            }
        }

        foreach (var group in wanted.Where(w => w.Target is not null && !unknownTargets.Contains(w.Target)).GroupBy(w => w.Target!))
        {
            foreach (var ((kind, key), id) in await tables.Foreign!.FindIdsAsync(tables.Foreign.Find(group.Key)!, group.Select(w => (w.Kind, w.Key)).ToList(), ct))
            {
                found[(group.Key, kind, key)] = id;
            }
        }

        var keptRows = new List<PendingRow>(rows.Count);
        var parks = new List<ParkedOp>();
        foreach (var r in rows)
        {
            if (r.Row is not { } row || !row.Any(p => Lookup.Is(p.Value, out _, out _)))
            {
                keptRows.Add(r);
                continue;
            }

            var keyLookup = table.Key.FirstOrDefault(k => Lookup.Is(row[k], out _, out _));
            if (keyLookup is not null)
            {
                parks.Add(new ParkedOp(r.Last, $"{table.Id}: a lookup cannot fill key column {keyLookup} (the key must be known when the row is written)"));
                continue;
            }

            if (UnknownTarget(row, unknownTargets) is { } unknown)
            {
                parks.Add(new ParkedOp(r.Last, $"{table.Id}: a lookup names target {unknown}, which is not a configured target"));
                continue;
            }

            r.UnresolvedRow ??= (JsonObject)row.DeepClone();
            foreach (var (name, value) in r.UnresolvedRow.ToList())
            {
                if (Lookup.Is(value, out var kind, out var key, out var lookupTarget))
                {
                    var foreign = ForeignTarget(lookupTarget, unknownTargets);
                    if (found.TryGetValue((foreign, kind, key), out var id))
                    {
                        r.Set(name, JsonValue.Create(id));
                    }
                    else
                    {
                        r.Set(name, null);
                        (r.PendingLookups ??= []).Add((name, kind, key, foreign));
                    }
                }
            }

            keptRows.Add(r);
        }

        var keptInserts = new List<RowOperation>(inserts.Count);
        foreach (var i in inserts)
        {
            if (i.Row is not { } row || !row.Any(p => Lookup.Is(p.Value, out _, out _)))
            {
                keptInserts.Add(i);
                continue;
            }

            if (UnknownTarget(row, unknownTargets) is { } unknown)
            {
                parks.Add(new ParkedOp(i, $"{table.Id}: a lookup names target {unknown}, which is not a configured target"));
                continue;
            }

            var resolved = new JsonObject();
            string? missing = null;
            foreach (var (name, value) in row)
            {
                if (Lookup.Is(value, out var kind, out var key, out var lookupTarget))
                {
                    if (found.TryGetValue((ForeignTarget(lookupTarget, unknownTargets), kind, key), out var id))
                    {
                        resolved[name] = id;
                    }
                    else
                    {
                        missing ??= $"{name} ({kind} {key})";
                    }
                }
                else
                {
                    resolved[name] = value?.DeepClone();
                }
            }

            if (missing is not null)
            {
                // No key: nothing could find this row again to fill the value in later.
                parks.Add(new ParkedOp(i, $"{table.Id} has no key, so the unresolved lookup {missing} could never be filled in later"));
            }
            else
            {
                keptInserts.Add(i with { Row = resolved });
            }
        }

        await ParkAsyncStatic(conn, parks, result, ct);
        return (keptRows, keptInserts, true);
    }

    /// <summary>
    /// The configured target a lookup names when it is another one (its name), or null for this target's own
    /// identity_map; a name no configured target answers to is added to <paramref name="unknown"/>.
    /// </summary>
    private string? ForeignTarget(string? lookupTarget, HashSet<string> unknown)
    {
        if (lookupTarget is null || lookupTarget == target)
        {
            return null;
        }

        if (tables.Foreign?.Find(lookupTarget) is not { } t)
        {
            unknown.Add(lookupTarget);
            return lookupTarget;
        }

        return t.Name == target ? null : t.Name;
    }

    private static string? UnknownTarget(JsonObject row, HashSet<string> unknown)
    {
        if (unknown.Count == 0)
        {
            return null;
        }

        foreach (var (_, v) in row)
        {
            if (Lookup.Is(v, out _, out _, out var t) && t is not null && unknown.Contains(t))
            {
                return t;
            }
        }

        return null;
    }

    private static async Task ParkAsyncStatic(NpgsqlConnection conn, List<ParkedOp> parks, WriteResult result, CancellationToken ct)
    {
        if (parks.Count == 0)
        {
            return;
        }

        await Parking.ParkedRows.ParkAsync(conn, parks, whole: false, heldBehind: null, ct);
        foreach (var p in parks)
        {
            SinkMetrics.Parked.WithLabels(p.Op.Source, ReasonKind(p.Reason)).Inc();
        }

        result.Parked.AddRange(parks);
    }

    /// <summary>
    /// Within one source, a change applies over the row only when it comes from the row's origin (source table
    /// and key) or the row is deleted: two origin rows of one source claiming one key (two content-db files
    /// with one content_id) are a conflict no rule decides, parked, never a silent overwrite.
    /// </summary>
    private const string SameOrigin = "l.deleted OR (l.origin_table = excluded.origin_table AND l.origin_key = excluded.origin_key)";

    /// <summary>
    /// A lineage row's <c>updated_at</c> after an upsert: the time it became live again (or changed owner, which only a
    /// tombstone allows here); a live row's own newer change leaves it as it was. Then such an update changes no column
    /// that an index of the lineage table holds (the key, <c>source</c>, <c>origin_*</c>, and <c>deleted</c>/<c>updated_at</c>
    /// of the tombstone index), so PostgreSQL can make it a HOT update (no new entry in any of the three indexes) when the
    /// page has room — the lineage tables are created with fillfactor 90 for that. Only tombstone clean-up reads
    /// <c>updated_at</c>, and only of deleted rows.
    /// </summary>
    private const string LiveUpdatedAt = "CASE WHEN l.deleted THEN excluded.updated_at ELSE l.updated_at END";

    private async Task ApplyKeyedAsync(NpgsqlConnection conn, TargetTable table, IReadOnlyList<PendingRow> rows, bool hasLookups, WriteResult result, CancellationToken ct)
    {
        var stage = _staged[table.Id];
        var upserts = rows.Count(r => !r.Deleted);
        var deletes = rows.Count - upserts;
        var args = new { source, target_table = table.Id.ToString() };
        var lineage = table.QuotedLineage;
        var keyJoin = string.Join(" AND ", table.Key.Select(k => $"w.{Q(k)} = s.{Q(k)}::{BaseType(table, k)}"));
        var keyCols = string.Join(", ", table.Key.Select(Q));
        var stageKeys = string.Join(", ", table.Key.Select(k => $"s.{Q(k)}::{BaseType(table, k)}"));
        var keyOrder = string.Join(", ", Enumerable.Range(1, table.Key.Count));
        var newer = $"""
            NOT EXISTS (SELECT 1 FROM {lineage} l2 WHERE {string.Join(" AND ", table.Key.Select(k => $"l2.{Q(k)} = s.{Q(k)}::{BaseType(table, k)}"))}
                AND l2.source = @source AND (l2.lsn, l2.seq) >= (s._lsn::pg_lsn, s._seq))
            """;
        var candidates = new List<(int Ord, char Kind)>();
        if (upserts > 0)
        {
            var won = $"""
                won AS (
                    INSERT INTO {lineage} AS l ({keyCols}, source, origin_table, origin_key, lsn, seq, deleted, updated_at, rank)
                    SELECT {stageKeys}, @source, s._origin_table, s._origin_key::jsonb, s._lsn::pg_lsn, s._seq, false, now(), s._rank
                    FROM {stage} s WHERE s._op = 'u' ORDER BY {keyOrder}
                    ON CONFLICT ({keyCols}) DO UPDATE SET source = excluded.source, origin_table = excluded.origin_table, origin_key = excluded.origin_key,
                        lsn = excluded.lsn, seq = excluded.seq, deleted = false, updated_at = {LiveUpdatedAt}, rank = excluded.rank
                    WHERE (l.source = excluded.source AND (l.lsn, l.seq) < (excluded.lsn, excluded.seq) AND ({SameOrigin}))
                        OR (l.deleted AND l.source <> excluded.source)
                    RETURNING {keyCols})
                """;
            // Rows that neither won nor are older than what this source already applied: another source owns the key.
            var lost = $"SELECT s._ord, 'c'::\"char\", 0 FROM {stage} s WHERE s._op = 'u' AND NOT EXISTS (SELECT 1 FROM won w WHERE {keyJoin}) AND {newer}";
            var nonKey = table.Info.Columns.Where(c => !table.Key.Contains(c.Name)).ToList();
            IEnumerable<(int Ord, char Kind, int N)> outcome;
            if (rows.All(r => r.Deleted || r.Unchanged.Count == 0 && Covers(table, r.Row!)))
            {
                var set = nonKey.Count == 0 ? "NOTHING" : "UPDATE SET " + string.Join(", ", nonKey.Select(c => $"{Q(c.Name)} = excluded.{Q(c.Name)}"));
                outcome = await conn.QueryAsync<(int, char, int)>(new CommandDefinition($"""
                    WITH {won},
                    ins AS (
                        INSERT INTO {table.Id.Quoted} AS t ({ColumnList(table)})
                        SELECT {ValueList(table, "s", forInsert: true)} FROM {stage} s JOIN won w ON {keyJoin} WHERE s._op = 'u'
                        ON CONFLICT ({keyCols}) DO {set}
                        RETURNING 1)
                    SELECT -1, 'n'::"char", (SELECT count(*) FROM ins)::int
                    UNION ALL {lost}
                    """, args, cancellationToken: ct));
            }
            else
            {
                // Some rows keep stored values (unchanged TOAST, omitted or unmapped columns): update in
                // place; insert only rows the target lacks, and park a row whose kept value the target
                // never had (it would otherwise be written as NULL).
                var keyMatch = string.Join(" AND ", table.Key.Select(k => $"t.{Q(k)} = s.{Q(k)}::{BaseType(table, k)}"));
                var updMatch = string.Join(" AND ", table.Key.Select(k => $"u.{Q(k)} = s.{Q(k)}::{BaseType(table, k)}"));
                var sets = nonKey.Count == 0
                    ? $"{Q(table.Key[0])} = t.{Q(table.Key[0])}"
                    : string.Join(", ", nonKey.Select(c => $"{Q(c.Name)} = CASE WHEN {Lit(c.Name)} = ANY(s._keep) THEN t.{Q(c.Name)} ELSE s.{Q(c.Name)}::{c.BaseTypeSql} END"));
                outcome = await conn.QueryAsync<(int, char, int)>(new CommandDefinition($"""
                    WITH {won},
                    upd AS (
                        UPDATE {table.Id.Quoted} t SET {sets}
                        FROM {stage} s JOIN won w ON {keyJoin}
                        WHERE s._op = 'u' AND {keyMatch}
                        RETURNING {string.Join(", ", table.Key.Select(k => "t." + Q(k)))}),
                    missing AS (
                        SELECT s.* FROM {stage} s JOIN won w ON {keyJoin}
                        WHERE s._op = 'u' AND NOT EXISTS (SELECT 1 FROM upd u WHERE {updMatch})),
                    ins AS (
                        INSERT INTO {table.Id.Quoted} ({ColumnList(table)})
                        SELECT {ValueList(table, "s", forInsert: true)} FROM missing s WHERE cardinality(s._toast) = 0
                        RETURNING 1)
                    SELECT -1, 'n'::"char", ((SELECT count(*) FROM upd) + (SELECT count(*) FROM ins))::int
                    UNION ALL SELECT s._ord, 't'::"char", 0 FROM missing s WHERE cardinality(s._toast) > 0
                    UNION ALL {lost}
                    """, args, cancellationToken: ct));
            }

            foreach (var (ord, kind, n) in outcome)
            {
                if (ord < 0)
                {
                    SinkMetrics.RowsApplied.WithLabels(target, table.Id.ToString(), "upsert").Inc(n);
                }
                else
                {
                    candidates.Add((ord, kind));
                }
            }
        }

        if (deletes > 0)
        {
            var outcome = await conn.QueryAsync<(int, char, int)>(new CommandDefinition($"""
                WITH won AS (
                    INSERT INTO {lineage} AS l ({keyCols}, source, origin_table, origin_key, lsn, seq, deleted, updated_at)
                    SELECT {stageKeys}, @source, s._origin_table, s._origin_key::jsonb, s._lsn::pg_lsn, s._seq, true, now()
                    FROM {stage} s WHERE s._op = 'd' ORDER BY {keyOrder}
                    ON CONFLICT ({keyCols}) DO UPDATE SET origin_table = excluded.origin_table, origin_key = excluded.origin_key,
                        lsn = excluded.lsn, seq = excluded.seq, deleted = true, updated_at = excluded.updated_at
                    WHERE l.source = excluded.source AND (l.lsn, l.seq) < (excluded.lsn, excluded.seq) AND ({SameOrigin})
                    RETURNING {keyCols}),
                del AS (
                    DELETE FROM {table.Id.Quoted} t USING won w WHERE {string.Join(" AND ", table.Key.Select(k => $"t.{Q(k)} = w.{Q(k)}"))}
                    RETURNING 1)
                SELECT -1, 'n'::"char", (SELECT count(*) FROM del)::int
                UNION ALL SELECT s._ord, 'd'::"char", 0 FROM {stage} s WHERE s._op = 'd' AND NOT EXISTS (SELECT 1 FROM won w WHERE {keyJoin}) AND {newer}
                UNION ALL SELECT s._ord, 'p'::"char", 0 FROM {stage} s JOIN won w ON {keyJoin} WHERE s._op = 'd'
                    AND EXISTS (SELECT 1 FROM peeq_cdc.shadowed_claims c WHERE c.target_table = @target_table AND c.target_key = {Canon(table, "s")})
                """, args, cancellationToken: ct));
            foreach (var (ord, kind, n) in outcome)
            {
                if (ord < 0)
                {
                    SinkMetrics.RowsApplied.WithLabels(target, table.Id.ToString(), "delete").Inc(n);
                }
                else
                {
                    candidates.Add((ord, kind));
                }
            }
        }

        if (hasLookups || table.MayHavePending)
        {
            await MaintainPendingLookupsAsync(conn, table, stage, source, rows.Any(r => r.PendingLookups is not null), ct);
        }

        if (table.Id == IdentityMap && upserts > 0)
        {
            await Lookups.ResolveFromStageAsync(conn, tables, stage, ct);
        }

        if (candidates.Count > 0)
        {
            await SettleAsync(conn, table, rows, candidates, result, ct);
        }
    }

    /// <summary>
    /// Pending lookups follow their row: a won row's lookups that are still unresolved are recorded, the
    /// ones it now sets another way are dropped; a deleted row leaves none behind.
    /// </summary>
    private static async Task MaintainPendingLookupsAsync(NpgsqlConnection conn, TargetTable table, string stage, string owner, bool anyPending, CancellationToken ct)
    {
        var lineage = table.QuotedLineage;
        var mine = $"JOIN {lineage} l ON {string.Join(" AND ", table.Key.Select(k => $"l.{Q(k)} = s.{Q(k)}::{BaseType(table, k)}"))} AND l.source = @source AND l.lsn = s._lsn::pg_lsn AND l.seq = s._seq";
        var sql = new StringBuilder($"""
            DELETE FROM peeq_cdc.pending_lookups p USING {stage} s {mine}
            WHERE p.target_table = @target_table AND p.target_key = {Canon(table, "s")} AND (s._op = 'd' OR NOT (p.column_name = ANY(s._keep)));
            """);
        if (anyPending)
        {
            sql.Append($"""

                INSERT INTO peeq_cdc.pending_lookups (target_table, target_key, column_name, kind, legacy_key, source, lsn, seq, lookup_target)
                SELECT @target_table, {Canon(table, "s")}, x.c, x.kind, x.key, @source, s._lsn::pg_lsn, s._seq, x.target
                FROM {stage} s {mine} CROSS JOIN LATERAL jsonb_to_recordset(s._lookups::jsonb) AS x(c text, kind text, key text, target text)
                WHERE s._op = 'u' AND s._lookups IS NOT NULL
                ON CONFLICT (target_table, target_key, column_name) DO UPDATE SET kind = excluded.kind, legacy_key = excluded.legacy_key,
                    lookup_target = excluded.lookup_target, source = excluded.source, lsn = excluded.lsn, seq = excluded.seq, created_at = now();
                """);
            table.MayHavePending = true;
        }

        await conn.ExecuteAsync(new CommandDefinition(sql.ToString(), new { source = owner, target_table = table.Id.ToString() }, cancellationToken: ct));
    }

    /// <summary>The reason (part of it) of an upsert parked because it keeps values of a row the target does not hold.</summary>
    internal const string UnknownUnchanged = "were unchanged at the source but the target does not hold this row";

    /// <summary>
    /// Rows the set-based statement did not apply for a reason other than age: keys another source owns
    /// (settled by the claims' priority, else parked), kept values the target never had (parked), a delete
    /// of a key this source only has a shadowed claim on, and owner deletes that promote a shadowed claim.
    /// </summary>
    private async Task SettleAsync(NpgsqlConnection conn, TargetTable table, IReadOnlyList<PendingRow> rows, List<(int Ord, char Kind)> candidates, WriteResult result, CancellationToken ct)
    {
        var stage = _staged[table.Id];
        var parks = new List<ParkedOp>();
        var args = new { source, target_table = table.Id.ToString(), ords = candidates.Select(c => c.Ord).ToArray() };
        var keyMatch = string.Join(" AND ", table.Key.Select(k => $"l.{Q(k)} = s.{Q(k)}::{BaseType(table, k)}"));
        var owners = (await conn.QueryAsync<OwnerRow>(new CommandDefinition($"""
            SELECT s._ord AS ord, l.source, l.deleted, l.rank, l.origin_table, l.origin_key::text AS origin_key, l.lsn::text AS lsn, l.seq, {Canon(table, "s")}::text AS canon
            FROM {stage} s JOIN {table.QuotedLineage} l ON {keyMatch} WHERE s._ord = ANY(@ords)
            """, args, cancellationToken: ct))).ToDictionary(o => o.ord);
        var promote = new List<string>();
        foreach (var (ord, kind) in candidates)
        {
            var row = rows[ord];
            owners.TryGetValue(ord, out var owner);
            switch (kind)
            {
                case 't':
                    parks.Add(new ParkedOp(row.Last, $"{table.Id} key {KeyText(row.Key)}: columns {string.Join(", ", row.Unchanged)} {UnknownUnchanged}, so their values are unknown"));
                    break;
                case 'p':
                    promote.Add(owner!.canon);
                    break;
                case 'd':
                    // A delete from a source that does not own the row: its shadowed claim (if any) goes.
                    await conn.ExecuteAsync(new CommandDefinition($"""
                        DELETE FROM peeq_cdc.shadowed_claims c USING {stage} s
                        WHERE s._ord = @ord AND c.target_table = @target_table AND c.target_key = {Canon(table, "s")} AND c.source = @source
                          AND (c.lsn, c.seq) < (s._lsn::pg_lsn, s._seq)
                        """, new { ord, source, target_table = table.Id.ToString() }, cancellationToken: ct));
                    break;
                case 'c' when owner is null:
                    break;
                case 'c' when owner.source == source && !owner.deleted && !IsOrigin(owner, row.Origin):
                    parks.Add(new ParkedOp(row.Last,
                        $"conflict: {table.Id} key {KeyText(row.Key)} is owned by another row of source {source} ({owner.origin_table} {owner.origin_key}); no rule decides between two rows of one source"));
                    break;
                case 'c' when owner.source == source:
                    break; // Raced with nothing we need to act on: this source's own newer change is already there.
                case 'c' when owner.deleted:
                    // Another source's tombstone committed while this statement ran: take the key over.
                    await ForceClaimAsync(conn, table, ClaimOf(row, owner.canon), result, ct);
                    break;
                case 'c':
                    var mine = row.Claim;
                    if (mine is not { Mode: ConflictMode.Priority } || owner.rank is null || owner.rank == mine.Rank)
                    {
                        var why = mine is { Mode: ConflictMode.Priority } && owner.rank == mine.Rank ? $"both claim rank {mine.Rank}" : "no rule decides";
                        parks.Add(new ParkedOp(row.Last,
                            $"conflict: {table.Id} key {KeyText(row.Key)} is owned by source {owner.source} ({owner.origin_table} {owner.origin_key}); {why}"));
                        break;
                    }

                    var claim = await ShadowAsync(conn, table, row, owner.canon, ct);
                    if (claim is not null && mine.Rank < owner.rank)
                    {
                        await DemoteOwnerAsync(conn, table, owner, ct);
                        await ForceClaimAsync(conn, table, claim, result, ct);
                    }

                    break;
            }
        }

        await ParkAsync(conn, parks, result, ct);
        foreach (var canon in promote)
        {
            await PromoteBestAsync(conn, table, canon, result, ct);
        }
    }

    private static bool IsOrigin(OwnerRow owner, RowOrigin origin) =>
        owner.origin_table == origin.Table.ToString() && JsonNode.DeepEquals(JsonNode.Parse(owner.origin_key), origin.Key);

    private sealed record OwnerRow(int ord, string source, bool deleted, int? rank, string origin_table, string origin_key, string lsn, long seq, string canon);

    private sealed class ShadowRow
    {
        public string source { get; set; } = "";

        public string origin_table { get; set; } = "";

        public string origin_key { get; set; } = "{}";

        public int rank { get; set; }

        public string row { get; set; } = "{}";

        public string[] unchanged { get; set; } = [];

        public string lsn { get; set; } = "0/0";

        public long seq { get; set; }
    }

    /// <summary>A claim as kept in peeq_cdc.shadowed_claims.</summary>
    private sealed record Claim(string Canon, string Source, RowOrigin Origin, int? Rank, JsonObject Row, IReadOnlyList<string> Unchanged, Lsn Lsn, long Seq);

    private static Claim ClaimOf(PendingRow row, string canon) =>
        new(canon, row.Last.Source, row.Origin, row.Claim is { Mode: ConflictMode.Priority } c ? c.Rank : null, row.UnresolvedRow ?? row.Row!, row.Unchanged.ToList(), row.Lsn, row.Seq);

    /// <summary>Records (merging with what it held) this source's losing claim; null when the shadow already holds a newer one.</summary>
    private async Task<Claim?> ShadowAsync(NpgsqlConnection conn, TargetTable table, PendingRow row, string canon, CancellationToken ct)
    {
        var existing = await conn.QuerySingleOrDefaultAsync<ShadowRow>(new CommandDefinition("""
            SELECT source, origin_table, origin_key::text AS origin_key, rank, row::text AS row, unchanged, lsn::text AS lsn, seq
            FROM peeq_cdc.shadowed_claims WHERE target_table = @t AND target_key = @k::jsonb AND source = @source
            """, new { t = table.Id.ToString(), k = canon, source }, cancellationToken: ct));
        var incoming = row.UnresolvedRow ?? row.Row!;
        JsonObject merged;
        var unknown = new HashSet<string>(StringComparer.Ordinal);
        if (existing is not null)
        {
            if (new SourcePosition(Lsn.Parse(existing.lsn), existing.seq) >= new SourcePosition(row.Lsn, row.Seq))
            {
                return null;
            }

            merged = (JsonObject)JsonNode.Parse(existing.row)!;
            unknown.UnionWith(existing.unchanged.Where(c => !incoming.ContainsKey(c)));
            foreach (var (name, value) in incoming)
            {
                merged[name] = value?.DeepClone();
            }
        }
        else
        {
            merged = (JsonObject)incoming.DeepClone();
        }

        unknown.UnionWith(row.Unchanged.Where(c => !merged.ContainsKey(c)));
        var claim = new Claim(canon, source, row.Origin, row.Claim!.Rank, merged, unknown.ToList(), row.Lsn, row.Seq);
        await WriteShadowAsync(conn, table, claim, ct);
        return claim;
    }

    private static Task WriteShadowAsync(NpgsqlConnection conn, TargetTable table, Claim c, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.shadowed_claims (target_table, target_key, source, origin_table, origin_key, rank, row, unchanged, lsn, seq, updated_at)
            VALUES (@t, @k::jsonb, @source, @origin_table, @origin_key::jsonb, @rank, @row::jsonb, @unchanged, @lsn::pg_lsn, @seq, now())
            ON CONFLICT (target_table, target_key, source) DO UPDATE SET origin_table = excluded.origin_table, origin_key = excluded.origin_key,
                rank = excluded.rank, row = excluded.row, unchanged = excluded.unchanged, lsn = excluded.lsn, seq = excluded.seq, updated_at = now()
            """, new
        {
            t = table.Id.ToString(),
            k = c.Canon,
            source = c.Source,
            origin_table = c.Origin.Table.ToString(),
            origin_key = c.Origin.Key.ToJsonString(),
            rank = c.Rank,
            row = c.Row.ToJsonString(),
            unchanged = c.Unchanged.ToArray(),
            lsn = c.Lsn.ToString(),
            seq = c.Seq,
        }, cancellationToken: ct));

    /// <summary>The owner loses the key to a better claim: its current row becomes its shadowed claim (sensitive columns sealed again).</summary>
    private async Task DemoteOwnerAsync(NpgsqlConnection conn, TargetTable table, OwnerRow owner, CancellationToken ct)
    {
        var cols = table.Info.Columns;
        var keyArgs = new DynamicParameters();
        keyArgs.Add("k", owner.canon);
        var select = string.Join(", ", cols.Select(c => $"t.{Q(c.Name)}::text"));
        var keyMatch = string.Join(" AND ", table.Key.Select(k => $"t.{Q(k)} = (@k::jsonb ->> {Lit(k)})::{BaseType(table, k)}"));
        await using var cmd = new NpgsqlCommand($"SELECT {select} FROM {table.Id.Quoted} t WHERE {keyMatch}", conn);
        cmd.Parameters.AddWithValue("k", owner.canon);
        var row = new JsonObject();
        var unknown = new List<string>();
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct))
            {
                return;
            }

            for (var i = 0; i < cols.Count; i++)
            {
                var c = cols[i];
                if (reader.IsDBNull(i))
                {
                    row[c.Name] = null;
                    continue;
                }

                var text = reader.GetString(i);
                if (sensitiveColumns?.Contains(c.Name) == true)
                {
                    if (sealKey is null)
                    {
                        unknown.Add(c.Name);
                    }
                    else
                    {
                        row[c.Name] = new JsonObject { [SealedValue.Marker] = SealedValue.Seal(sealKey, c.Name, text) };
                    }

                    continue;
                }

                var buffer = new System.Buffers.ArrayBufferWriter<byte>();
                using (var w = new Utf8JsonWriter(buffer))
                {
                    ValueCodec.WriteJson(w, c.Type, text);
                }

                row[c.Name] = JsonNode.Parse(buffer.WrittenSpan);
            }
        }

        var origin = new RowOrigin(TableId.Parse(owner.origin_table), (JsonObject)JsonNode.Parse(owner.origin_key)!);
        await WriteShadowAsync(conn, table, new Claim(owner.canon, owner.source, origin, owner.rank ?? int.MaxValue, row, unknown, Lsn.Parse(owner.lsn), owner.seq), ct);
    }

    /// <summary>After the owner deleted the row: the best remaining shadowed claim (lowest rank) becomes the row.</summary>
    private async Task PromoteBestAsync(NpgsqlConnection conn, TargetTable table, string canon, WriteResult result, CancellationToken ct)
    {
        var best = await conn.QueryFirstOrDefaultAsync<ShadowRow>(new CommandDefinition("""
            SELECT source, origin_table, origin_key::text AS origin_key, rank, row::text AS row, unchanged, lsn::text AS lsn, seq
            FROM peeq_cdc.shadowed_claims WHERE target_table = @t AND target_key = @k::jsonb ORDER BY rank, source LIMIT 1
            """, new { t = table.Id.ToString(), k = canon }, cancellationToken: ct));
        if (best is null)
        {
            return;
        }

        var claim = new Claim(canon, best.source, new RowOrigin(TableId.Parse(best.origin_table), (JsonObject)JsonNode.Parse(best.origin_key)!),
            best.rank, (JsonObject)JsonNode.Parse(best.row)!, best.unchanged, Lsn.Parse(best.lsn), best.seq);
        await ForceClaimAsync(conn, table, claim, result, ct);
    }

    /// <summary>
    /// Makes <paramref name="claim"/> the row: ownership moves to its source whatever the lineage held,
    /// the row is written as a new one (unnamed columns get their default), and the claim leaves the shadows.
    /// A claim missing values it never received cannot become a row: it is parked and stays shadowed.
    /// </summary>
    private async Task ForceClaimAsync(NpgsqlConnection conn, TargetTable table, Claim claim, WriteResult result, CancellationToken ct)
    {
        var key = new JsonObject();
        foreach (var k in table.Key)
        {
            key[k] = claim.Row[k]?.DeepClone();
        }

        var op = new RowOperation(claim.Source, claim.Lsn, claim.Seq, 0, RowOpKind.Upsert, table.Id, key, claim.Row, claim.Unchanged, claim.Origin, 0, false,
            Claim: claim.Rank is int rank ? new ConflictClaim(ConflictMode.Priority, rank) : null);
        if (claim.Unchanged.Count > 0)
        {
            await ParkAsync(conn, [new ParkedOp(op, $"claim of source {claim.Source} on {table.Id} key {KeyText(key)} cannot become the row: columns {string.Join(", ", claim.Unchanged)} were never received")], result, ct);
            return;
        }

        var batch = new TableBatch(table.Id);
        batch.Add(op);
        var (rows, _, hasLookups) = await ResolveLookupsAsync(conn, table, batch.Rows, [], result, ct);
        if (rows.Count == 0)
        {
            return;
        }

        await StageAsync(conn, table, rows, [], ct);
        var stage = _staged[table.Id];
        var keyCols = string.Join(", ", table.Key.Select(Q));
        var stageKeys = string.Join(", ", table.Key.Select(k => $"s.{Q(k)}::{BaseType(table, k)}"));
        var keyJoin = string.Join(" AND ", table.Key.Select(k => $"w.{Q(k)} = s.{Q(k)}::{BaseType(table, k)}"));
        var nonKey = table.Info.Columns.Where(c => !table.Key.Contains(c.Name)).ToList();
        var set = nonKey.Count == 0 ? "NOTHING" : "UPDATE SET " + string.Join(", ", nonKey.Select(c => $"{Q(c.Name)} = excluded.{Q(c.Name)}"));
        await conn.ExecuteAsync(new CommandDefinition($"""
            WITH won AS (
                INSERT INTO {table.QuotedLineage} AS l ({keyCols}, source, origin_table, origin_key, lsn, seq, deleted, updated_at, rank)
                SELECT {stageKeys}, @source, s._origin_table, s._origin_key::jsonb, s._lsn::pg_lsn, s._seq, false, now(), s._rank FROM {stage} s
                ON CONFLICT ({keyCols}) DO UPDATE SET source = excluded.source, origin_table = excluded.origin_table, origin_key = excluded.origin_key,
                    lsn = excluded.lsn, seq = excluded.seq, deleted = false, updated_at = excluded.updated_at, rank = excluded.rank
                RETURNING {keyCols})
            INSERT INTO {table.Id.Quoted} AS t ({ColumnList(table)})
            SELECT {ValueList(table, "s", forInsert: true)} FROM {stage} s JOIN won w ON {keyJoin}
            ON CONFLICT ({keyCols}) DO {set};
            DELETE FROM peeq_cdc.shadowed_claims WHERE target_table = @target_table AND target_key = @k::jsonb AND source = @source;
            """, new { source = claim.Source, target_table = table.Id.ToString(), k = claim.Canon }, cancellationToken: ct));
        SinkMetrics.RowsApplied.WithLabels(target, table.Id.ToString(), "promote").Inc();
        if (hasLookups || table.MayHavePending)
        {
            await MaintainPendingLookupsAsync(conn, table, stage, claim.Source, rows.Any(r => r.PendingLookups is not null), ct);
        }
    }

    /// <summary>
    /// The plain COPY path for the initial load of an empty table: while a table is 'loading' for this
    /// source (or has no state yet: the first chunk's progress mark is recorded after its rows, in the same
    /// target transaction) and held nothing when its load began, snapshot rows are COPY'd straight into the target and
    /// the lineage, with no staging and no upsert. A key that is already there (a streamed change got it
    /// first, or another source) makes the COPY fail: it is rolled back to its savepoint and the batch
    /// takes the staged path, which from then on serves the table.
    /// </summary>
    private async Task<bool> TryBulkLoadAsync(NpgsqlConnection conn, TargetTable table, IReadOnlyList<PendingRow> rows, bool hasLookups, CancellationToken ct)
    {
        if (hasLookups || rows.Any(r => r.Deleted || !r.Last.Snapshot || r.Unchanged.Count > 0) || _bulk.TryGetValue(table.Id, out var on) && !on)
        {
            return false;
        }

        var columns = table.Info.Columns.Where(c => rows[0].Row!.ContainsKey(c.Name)).ToList();
        if (columns.Count == 0 || table.Key.Any(k => !rows[0].Row!.ContainsKey(k)) || rows.Any(r => r.Row!.Count != columns.Count || columns.Any(c => !r.Row!.ContainsKey(c.Name))))
        {
            return false;
        }

        if (!_bulk.ContainsKey(table.Id))
        {
            var empty = await conn.ExecuteScalarAsync<bool>(new CommandDefinition($"""
                SELECT coalesce((SELECT state FROM peeq_cdc.table_state WHERE target_table = @t AND source = @source), 'loading') = 'loading'
                   AND NOT EXISTS (SELECT 1 FROM {table.QuotedLineage}) AND NOT EXISTS (SELECT 1 FROM {table.Id.Quoted})
                """, new { t = table.Id.ToString(), source }, cancellationToken: ct));
            _bulk[table.Id] = empty;
            if (!empty)
            {
                return false;
            }
        }

        await conn.ExecuteAsync(new CommandDefinition("SAVEPOINT bulk_load", cancellationToken: ct));
        try
        {
            var keyColumns = table.Key.Select(k => table.Info.Column(k)!).ToList();
            await using (var w = await conn.BeginTextImportAsync(
                $"COPY {table.QuotedLineage} ({string.Join(", ", table.Key.Select(Q))}, source, origin_table, origin_key, lsn, seq, deleted, rank) FROM STDIN", ct))
            {
                var line = new StringBuilder();
                foreach (var r in rows)
                {
                    foreach (var k in keyColumns)
                    {
                        AppendCopy(line, TextOf(r.Row![k.Name], k)).Append('\t');
                    }

                    AppendCopy(line, source).Append('\t');
                    AppendCopy(line, r.Origin.Table.ToString()).Append('\t');
                    AppendCopy(line, r.Origin.Key.ToJsonString()).Append('\t');
                    line.Append(r.Lsn.ToString()).Append('\t').Append(r.Seq).Append("\tf\t");
                    line.Append(r.Claim is { Mode: ConflictMode.Priority } c ? c.Rank.ToString(System.Globalization.CultureInfo.InvariantCulture) : "\\N").Append('\n');
                    await FlushCopyAsync(w, line, ct);
                }

                await FlushCopyAsync(w, line, ct, force: true);
            }

            await using (var w = await conn.BeginTextImportAsync($"COPY {table.Id.Quoted} ({string.Join(", ", columns.Select(c => Q(c.Name)))}) FROM STDIN", ct))
            {
                var line = new StringBuilder();
                foreach (var r in rows)
                {
                    for (var i = 0; i < columns.Count; i++)
                    {
                        if (i > 0)
                        {
                            line.Append('\t');
                        }

                        AppendCopy(line, TextOf(r.Row![columns[i].Name], columns[i]));
                    }

                    line.Append('\n');
                    await FlushCopyAsync(w, line, ct);
                }

                await FlushCopyAsync(w, line, ct, force: true);
            }

            await conn.ExecuteAsync(new CommandDefinition("RELEASE SAVEPOINT bulk_load", cancellationToken: ct));
            SinkMetrics.RowsApplied.WithLabels(target, table.Id.ToString(), "copy").Inc(rows.Count);
            return true;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            await conn.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT bulk_load", cancellationToken: ct));
            _staged.Clear();
            _stageFilled.Clear();
            _bulk[table.Id] = false;
            return false;
        }
    }

    /// <summary>Hands the COPY lines gathered so far to the writer once they fill a 64 KiB piece (or when <paramref name="force"/>d), not one call per row.</summary>
    private static async Task FlushCopyAsync(TextWriter w, StringBuilder lines, CancellationToken ct, bool force = false)
    {
        if (lines.Length == 0 || (!force && lines.Length < 64 * 1024))
        {
            return;
        }

        await w.WriteAsync(lines, ct);
        lines.Clear();
    }

    private static readonly System.Buffers.SearchValues<char> CopyEscaped = System.Buffers.SearchValues.Create("\\\t\n\r");

    private static StringBuilder AppendCopy(StringBuilder sb, string? text)
    {
        if (text is null)
        {
            return sb.Append("\\N");
        }

        if (text.AsSpan().IndexOfAny(CopyEscaped) < 0)
        {
            return sb.Append(text); // the common case: nothing to escape, one append
        }

        foreach (var ch in text)
        {
            _ = ch switch
            {
                '\\' => sb.Append("\\\\"),
                '\t' => sb.Append("\\t"),
                '\n' => sb.Append("\\n"),
                '\r' => sb.Append("\\r"),
                _ => sb.Append(ch),
            };
        }

        return sb;
    }

    /// <summary>A source TRUNCATE: every row of the table that this source's origin table owns goes (tombstoned).</summary>
    private async Task TruncateAsync(NpgsqlConnection conn, RowOperation t, WriteResult result, CancellationToken ct)
    {
        TargetTable table;
        try
        {
            table = await Schema.GetTableAsync(t.Table, ct);
        }
        catch (TargetTableMissingException e)
        {
            await ParkAsync(conn, [new ParkedOp(t, e.Message)], result, ct);
            return;
        }

        if (table.Info.IsKeyless)
        {
            await ParkAsync(conn, [new ParkedOp(t, $"TRUNCATE of {t.Origin.Table}: target table {table.Id} has no key and no lineage, so the rows this source contributed cannot be told apart; not applied")], result, ct);
            return;
        }

        var keyCols = string.Join(", ", table.Key.Select(Q));
        var n = await conn.ExecuteAsync(new CommandDefinition($"""
            WITH gone AS (
                UPDATE {table.QuotedLineage} SET deleted = true, lsn = @lsn::pg_lsn, seq = @seq, updated_at = now()
                WHERE source = @source AND origin_table = @origin AND NOT deleted AND (lsn, seq) < (@lsn::pg_lsn, @seq)
                RETURNING {keyCols})
            DELETE FROM {table.Id.Quoted} t USING gone g WHERE {string.Join(" AND ", table.Key.Select(k => $"t.{Q(k)} = g.{Q(k)}"))}
            """, new { source, origin = t.Origin.Table.ToString(), lsn = t.CommitLsn.ToString(), seq = t.Seq }, cancellationToken: ct));
        SinkMetrics.RowsApplied.WithLabels(target, table.Id.ToString(), "truncate").Inc(n);
    }

    /// <summary>
    /// The rows of a table derived from one source row become exactly <see cref="RowOperation.Rows"/>
    /// (a Replace; a Delete without a key is a Replace with none): the origin's other rows go, the
    /// given ones are upserted.
    /// </summary>
    private async Task ReplaceOriginAsync(NpgsqlConnection conn, RowOperation r, WriteResult result, CancellationToken ct)
    {
        TargetTable table;
        try
        {
            table = await Schema.GetTableAsync(r.Table, ct);
        }
        catch (TargetTableMissingException e)
        {
            await ParkAsync(conn, [new ParkedOp(r, e.Message)], result, ct);
            return;
        }

        var keyCols = string.Join(", ", table.Key.Select(Q));
        var keep = new List<JsonObject>();
        var batch = new TableBatch(table.Id);
        foreach (var row in r.Rows ?? [])
        {
            var key = new JsonObject();
            foreach (var k in table.Key)
            {
                key[k] = row[k]?.DeepClone();
            }

            keep.Add(key);
            batch.Add(r with { Op = RowOpKind.Upsert, Key = key, Row = row, Rows = null });
        }

        var keepJson = new JsonArray(keep.Select(k => (JsonNode)k).ToArray()).ToJsonString();
        var keyTypes = string.Join(", ", table.Key.Select(k => $"{Q(k)} {table.Info.Column(k)!.BaseTypeSql}"));
        var n = await conn.ExecuteAsync(new CommandDefinition($"""
            WITH keep AS (SELECT * FROM jsonb_to_recordset(@keep::jsonb) AS k({keyTypes})),
            gone AS (
                UPDATE {table.QuotedLineage} l SET deleted = true, lsn = @lsn::pg_lsn, seq = @seq, updated_at = now()
                WHERE l.source = @source AND l.origin_table = @origin AND l.origin_key = @origin_key::jsonb AND NOT l.deleted
                  AND (l.lsn, l.seq) < (@lsn::pg_lsn, @seq)
                  AND NOT EXISTS (SELECT 1 FROM keep k WHERE {string.Join(" AND ", table.Key.Select(k => $"k.{Q(k)} = l.{Q(k)}"))})
                RETURNING {keyCols})
            DELETE FROM {table.Id.Quoted} t USING gone g WHERE {string.Join(" AND ", table.Key.Select(k => $"t.{Q(k)} = g.{Q(k)}"))}
            """, new { source, origin = r.Origin.Table.ToString(), origin_key = r.Origin.Key.ToJsonString(), lsn = r.CommitLsn.ToString(), seq = r.Seq, keep = keepJson },
            cancellationToken: ct));
        SinkMetrics.RowsApplied.WithLabels(target, table.Id.ToString(), "delete").Inc(n);
        if (batch.Count > 0)
        {
            await FlushAsync(conn, [batch], result, ct);
        }
    }

    public static string ReasonKind(string reason) => reason.Split(':', 2)[0] switch
    {
        var k when k.StartsWith("conflict", StringComparison.Ordinal) => "conflict",
        var k when k.StartsWith("held behind", StringComparison.Ordinal) => "held",
        var k when k.Contains("lossy", StringComparison.Ordinal) => "lossy_cast",
        var k when k.StartsWith("cannot apply", StringComparison.Ordinal) => "row_error",
        _ => "unmappable",
    };

    private static string KeyText(JsonObject key) => key.ToJsonString();

    /// <summary>
    /// Creates (once per connection) and fills the staging table: every target column as text plus the
    /// operation's metadata, written with binary COPY.
    /// </summary>
    private async Task StageAsync(NpgsqlConnection conn, TargetTable table, IReadOnlyList<PendingRow> rows, IReadOnlyList<RowOperation> inserts, CancellationToken ct)
    {
        if (!ReferenceEquals(_stagedOn, conn))
        {
            // Temp tables live and die with their connection.
            _staged.Clear();
            _stageFilled.Clear();
            _stagedOn = conn;
        }

        var columns = table.Info.Columns;
        string stage;
        // Named after the column list too: a table that gained a column gets a new staging table.
        var name = Q("peeq_stage_" + TargetTables.LineageName(table.Id)[8..] + "_" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            Encoding.UTF8.GetBytes(string.Join("\n", columns.Select(c => c.Name)))))[..6]);
        if (!_staged.TryGetValue(table.Id, out var known) || known != name)
        {
            stage = name;
            var cols = string.Join(", ", columns.Select(c => $"{Q(c.Name)} text"));
            // Created and emptied in one round trip.
            await conn.ExecuteAsync(new CommandDefinition($"""
                CREATE TEMP TABLE IF NOT EXISTS {stage} ({cols}{(cols.Length > 0 ? ", " : "")}
                    _op "char", _ord int, _lsn text, _seq bigint, _sub int, _origin_table text, _origin_key text,
                    _keep text[], _toast text[], _rank int, _lookups text) ON COMMIT DELETE ROWS;
                TRUNCATE {stage};
                """, cancellationToken: ct));
            _staged[table.Id] = stage;
        }
        else
        {
            stage = known;
            if (_stageFilled.Contains(table.Id))
            {
                await conn.ExecuteAsync(new CommandDefinition($"TRUNCATE {stage}", cancellationToken: ct));
            }
        }

        _stageFilled.Add(table.Id);

        var copy = $"COPY {stage} ({string.Join(", ", columns.Select(c => Q(c.Name)))}{(columns.Count > 0 ? ", " : "")}_op, _ord, _lsn, _seq, _sub, _origin_table, _origin_key, _keep, _toast, _rank, _lookups) FROM STDIN (FORMAT BINARY)";
        await using (var writer = await conn.BeginBinaryImportAsync(copy, ct))
        {
            await WriteStageRowsAsync(writer, table, rows, inserts, ct);
        }

        if (rows.Count + inserts.Count >= AnalyzeStageRows)
        {
            // A temp table has no statistics until analyzed: the planner would take the staged batch for a
            // couple of rows and join it to the version guard's CTE with nested loops, quadratic in the
            // batch (most of the Sink's time at a few thousand rows per batch; bench/results/*-sink-profile*).
            await conn.ExecuteAsync(new CommandDefinition($"ANALYZE {stage}", cancellationToken: ct));
        }
    }

    /// <summary>Batches of at least this many staged rows get their staging table analyzed before the set-based statements run.</summary>
    private const int AnalyzeStageRows = 100;

    private async Task WriteStageRowsAsync(NpgsqlBinaryImporter writer, TargetTable table, IReadOnlyList<PendingRow> rows, IReadOnlyList<RowOperation> inserts, CancellationToken ct)
    {
        var columns = table.Info.Columns;
        var keyFlags = columns.Select(c => table.Key.Contains(c.Name)).ToArray();
        for (var ord = 0; ord < rows.Count; ord++)
        {
            var r = rows[ord];
            await writer.StartRowAsync(ct);
            var row = r.Row;
            List<string>? keep = null;
            for (var i = 0; i < columns.Count; i++)
            {
                var c = columns[i];
                JsonNode? v = null;
                var present = row is not null && row.TryGetPropertyValue(c.Name, out v);
                if (!r.Deleted && !keyFlags[i] && (!present || r.Unchanged.Contains(c.Name)))
                {
                    (keep ??= []).Add(c.Name);
                }

                var text = r.Deleted ? TextOf(r.Key[c.Name], c) : present ? TextOf(v, c) : TextOf(r.Key[c.Name], c);
                await WriteText(writer, text, ct);
            }

            await writer.WriteAsync(r.Deleted ? 'd' : 'u', NpgsqlDbType.InternalChar, ct);
            await writer.WriteAsync(ord, NpgsqlDbType.Integer, ct);
            await WriteMeta(writer, r.Lsn, r.Seq, r.Sub, r.Origin, keep, r.Unchanged.Count == 0 ? NoColumns : r.Unchanged.ToArray(), ct);
            if (r.Claim is { Mode: ConflictMode.Priority } claim)
            {
                await writer.WriteAsync(claim.Rank, NpgsqlDbType.Integer, ct);
            }
            else
            {
                await writer.WriteNullAsync(ct);
            }

            await WriteText(writer, r.PendingLookups is { } pl ? LookupsJson(pl) : null, ct);
        }

        foreach (var op in inserts)
        {
            await writer.StartRowAsync(ct);
            List<string>? keep = null;
            foreach (var c in columns)
            {
                if (op.Row is not null && op.Row.TryGetPropertyValue(c.Name, out var v))
                {
                    await WriteText(writer, TextOf(v, c), ct);
                }
                else
                {
                    (keep ??= []).Add(c.Name);
                    await writer.WriteNullAsync(ct);
                }
            }

            await writer.WriteAsync('i', NpgsqlDbType.InternalChar, ct);
            await writer.WriteAsync(-1, NpgsqlDbType.Integer, ct);
            await WriteMeta(writer, op.CommitLsn, op.Seq, op.Sub, op.Origin, keep, NoColumns, ct);
            await writer.WriteNullAsync(ct);
            await writer.WriteNullAsync(ct);
        }

        await writer.CompleteAsync(ct);
    }

    private static string LookupsJson(List<(string Column, string Kind, string Key, string? Target)> lookups)
    {
        var a = new JsonArray();
        foreach (var (c, kind, key, lookupTarget) in lookups)
        {
            a.Add(new JsonObject { ["c"] = c, ["kind"] = kind, ["key"] = key, ["target"] = lookupTarget });
        }

        return a.ToJsonString();
    }

    private static async Task WriteMeta(NpgsqlBinaryImporter writer, Lsn lsn, long seq, int sub, RowOrigin origin, List<string>? keep, string[] toast, CancellationToken ct)
    {
        await writer.WriteAsync(lsn.ToString(), NpgsqlDbType.Text, ct);
        await writer.WriteAsync(seq, NpgsqlDbType.Bigint, ct);
        await writer.WriteAsync(sub, NpgsqlDbType.Integer, ct);
        await writer.WriteAsync(origin.Table.ToString(), NpgsqlDbType.Text, ct);
        await writer.WriteAsync(origin.Key.ToJsonString(), NpgsqlDbType.Text, ct);
        await writer.WriteAsync(keep is null ? NoColumns : keep.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text, ct);
        await writer.WriteAsync(toast, NpgsqlDbType.Array | NpgsqlDbType.Text, ct);
    }

    private static async Task WriteText(NpgsqlBinaryImporter writer, string? text, CancellationToken ct)
    {
        if (text is null)
        {
            await writer.WriteNullAsync(ct);
        }
        else
        {
            await writer.WriteAsync(text, NpgsqlDbType.Text, ct);
        }
    }

    private string? TextOf(JsonNode? value, ColumnInfo c)
    {
        if (SealedValue.IsSealed(value, out var sealedText))
        {
            if (sealKey is null)
            {
                throw new SealedValueException($"column {c.Name} arrived sealed but this Sink has no sealing key ({"PEEQ_CDC_SEAL_KEY"})");
            }

            return SealedValue.Unseal(sealKey, c.Name, sealedText);
        }

        return ValueCodec.ToPgText(value, c.Type);
    }

    /// <summary>True when the row names every target column (no column keeps a stored value).</summary>
    private static bool Covers(TargetTable table, JsonObject row) => table.Info.Columns.All(c => row.ContainsKey(c.Name));

    private static string ColumnList(TargetTable table) => string.Join(", ", table.Info.Columns.Select(c => Q(c.Name)));

    /// <summary>The canonical jsonb form of a staged row's target key (how shadowed claims and pending lookups name a key).</summary>
    internal static string Canon(TargetTable table, string alias) =>
        $"jsonb_build_object({string.Join(", ", table.Key.Select(k => $"{Lit(k)}, {alias}.{Q(k)}::{BaseType(table, k)}"))})";

    /// <summary>Staged text cast to each column's type (without its modifier: assignment checks length, never truncates).</summary>
    private static string ValueList(TargetTable table, string alias, bool forInsert) =>
        string.Join(", ", table.Info.Columns.Select(c =>
            forInsert && c.DefaultSql is not null && !table.Key.Contains(c.Name)
                ? $"CASE WHEN {Lit(c.Name)} = ANY({alias}._keep) THEN {c.DefaultSql} ELSE {alias}.{Q(c.Name)}::{c.BaseTypeSql} END"
                : $"{alias}.{Q(c.Name)}::{c.BaseTypeSql}"));

    private static string BaseType(TargetTable t, string column) => t.Info.Column(column)!.BaseTypeSql;

    private static string Q(string identifier) => Sql.QuoteIdent(identifier);

    private static string Lit(string s) => Sql.QuoteLiteral(s);
}

/// <summary>A sealed value cannot be opened (no key, or not ours).</summary>
public sealed class SealedValueException(string message) : Exception(message);
