using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using NpgsqlTypes;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>
/// Writes one source's row operations into an open target transaction, set-based per table: the
/// net effect per key goes through binary COPY into a text staging table, then one statement
/// applies the version guard in the lineage table and writes the winners into the target. A change
/// only applies over an older version from the same source; a key another source owns is parked as
/// a conflict; deletes leave a tombstone so nothing older can bring the row back.
/// </summary>
public sealed class BatchWriter(TargetTables tables, string target, string source, byte[]? sealKey, Microsoft.Extensions.Logging.ILogger? logger = null)
{
    private readonly Dictionary<TableId, string> _staged = [];
    private NpgsqlConnection? _stagedOn;

    /// <summary>Schema changes and parked tables of this source (SchemaChanges.cs).</summary>
    public SchemaChanges Schema { get; } = new(tables, target, source, logger);

    /// <summary>Applies <paramref name="ops"/> (in source order) within <paramref name="tx"/>.</summary>
    public async Task WriteAsync(NpgsqlConnection conn, IReadOnlyList<UnifiedEvent> ops, CancellationToken ct)
    {
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
                    await FlushAsync(conn, order, ct);
                    batches.Clear();
                    order.Clear();
                    await Schema.ApplyAsync(conn, e, ct);
                    break;
                case RowOperation r when Schema.Diverts(r):
                    parkedTable.Add(r);
                    break;
                case RowOperation { Op: RowOpKind.Truncate } t:
                    // A barrier: everything before it lands first.
                    await FlushAsync(conn, order, ct);
                    batches.Clear();
                    order.Clear();
                    await TruncateAsync(conn, t, ct);
                    break;
                case RowOperation { Op: RowOpKind.Replace or RowOpKind.Delete } r when r.Key is null:
                    await FlushAsync(conn, order, ct);
                    batches.Clear();
                    order.Clear();
                    await ReplaceOriginAsync(conn, r, ct);
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

        await FlushAsync(conn, order, ct);
        if (parked.Count > 0)
        {
            await ParkAsync(conn, parked, ct);
        }

        await Schema.ParkOperationsAsync(conn, parkedTable, ct);
    }

    private async Task FlushAsync(NpgsqlConnection conn, List<TableBatch> batches, CancellationToken ct)
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
                await ParkAsync(conn, b.Rows.Select(r => AsParked(r.Last, e.Message)).Concat(b.Inserts.Select(i => AsParked(i, e.Message))).ToList(), ct);
                continue;
            }

            await StageAsync(conn, table, b, ct);
            var stage = _staged[table.Id];
            if (b.Rows.Count > 0)
            {
                if (table.Info.IsKeyless)
                {
                    await ParkAsync(conn, b.Rows.Select(r => AsParked(r.Last, $"target table {table.Id} has no primary key; keyed changes cannot be applied to it")).ToList(), ct);
                }
                else
                {
                    await ApplyKeyedAsync(conn, table, stage, b, ct);
                }
            }

            if (b.Inserts.Count > 0)
            {
                var sql = $"INSERT INTO {table.Id.Quoted} ({ColumnList(table)}) SELECT {ValueList(table, "s", forInsert: true)} FROM {stage} s WHERE s._op = 'i'";
                var n = await conn.ExecuteAsync(new CommandDefinition(sql, cancellationToken: ct));
                SinkMetrics.RowsApplied.WithLabels(target, table.Id.ToString(), "insert").Inc(n);
            }
        }
    }

    private async Task ApplyKeyedAsync(NpgsqlConnection conn, TargetTable table, string stage, TableBatch b, CancellationToken ct)
    {
        var upserts = b.Rows.Count(r => !r.Deleted);
        var deletes = b.Rows.Count - upserts;
        var args = new { source, target_table = table.Id.ToString() };
        var lineage = table.QuotedLineage;
        var keyJoin = string.Join(" AND ", table.Key.Select(k => $"w.{Q(k)} = s.{Q(k)}::{BaseType(table, k)}"));
        var keyCols = string.Join(", ", table.Key.Select(Q));
        var stageKeys = string.Join(", ", table.Key.Select(k => $"s.{Q(k)}::{BaseType(table, k)}"));
        if (upserts > 0)
        {
            // A key that another source owns (and has not deleted) is a conflict no rule decides: parked.
            await conn.ExecuteAsync(new CommandDefinition($"""
                INSERT INTO peeq_cdc.parked_rows (source, commit_lsn, seq, sub, source_table, source_key, target_table, reason, payload)
                SELECT @source, s._lsn::pg_lsn, s._seq, s._sub, s._origin_table, s._origin_key::jsonb, @target_table,
                       format('conflict: %s key %s is owned by source %s (%s %s); no rule decides', @target_table, s._key, l.source, l.origin_table, l.origin_key),
                       s._payload
                FROM {stage} s JOIN {lineage} l ON {string.Join(" AND ", table.Key.Select(k => $"l.{Q(k)} = s.{Q(k)}::{BaseType(table, k)}"))}
                WHERE s._op = 'u' AND l.source <> @source AND NOT l.deleted
                ON CONFLICT DO NOTHING
                """, args, cancellationToken: ct));

            var won = $"""
                won AS (
                    INSERT INTO {lineage} AS l ({keyCols}, source, origin_table, origin_key, lsn, seq, deleted, updated_at)
                    SELECT {stageKeys}, @source, s._origin_table, s._origin_key::jsonb, s._lsn::pg_lsn, s._seq, false, now()
                    FROM {stage} s WHERE s._op = 'u'
                    ON CONFLICT ({keyCols}) DO UPDATE SET source = excluded.source, origin_table = excluded.origin_table, origin_key = excluded.origin_key,
                        lsn = excluded.lsn, seq = excluded.seq, deleted = false, updated_at = excluded.updated_at
                    WHERE (l.source = excluded.source AND (l.lsn, l.seq) < (excluded.lsn, excluded.seq)) OR (l.deleted AND l.source <> excluded.source)
                    RETURNING {keyCols})
                """;
            var nonKey = table.Info.Columns.Where(c => !table.Key.Contains(c.Name)).ToList();
            int applied;
            if (b.Rows.All(r => r.Deleted || r.Unchanged.Count == 0 && Covers(table, r.Row!)))
            {
                var set = nonKey.Count == 0 ? "NOTHING" : "UPDATE SET " + string.Join(", ", nonKey.Select(c => $"{Q(c.Name)} = excluded.{Q(c.Name)}"));
                applied = await conn.ExecuteAsync(new CommandDefinition($"""
                    WITH {won}
                    INSERT INTO {table.Id.Quoted} AS t ({ColumnList(table)})
                    SELECT {ValueList(table, "s", forInsert: true)} FROM {stage} s JOIN won w ON {keyJoin} WHERE s._op = 'u'
                    ON CONFLICT ({keyCols}) DO {set}
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
                applied = await conn.ExecuteAsync(new CommandDefinition($"""
                    WITH {won},
                    upd AS (
                        UPDATE {table.Id.Quoted} t SET {sets}
                        FROM {stage} s JOIN won w ON {keyJoin}
                        WHERE s._op = 'u' AND {keyMatch}
                        RETURNING {string.Join(", ", table.Key.Select(k => "t." + Q(k)))}),
                    missing AS (
                        SELECT s.* FROM {stage} s JOIN won w ON {keyJoin}
                        WHERE s._op = 'u' AND NOT EXISTS (SELECT 1 FROM upd u WHERE {updMatch})),
                    park AS (
                        INSERT INTO peeq_cdc.parked_rows (source, commit_lsn, seq, sub, source_table, source_key, target_table, reason, payload)
                        SELECT @source, s._lsn::pg_lsn, s._seq, s._sub, s._origin_table, s._origin_key::jsonb, @target_table,
                               format('%s key %s: columns %s were unchanged at the source but the target does not hold this row, so their values are unknown', @target_table, s._key, array_to_string(s._toast, ', ')),
                               s._payload
                        FROM missing s WHERE cardinality(s._toast) > 0
                        ON CONFLICT DO NOTHING)
                    INSERT INTO {table.Id.Quoted} ({ColumnList(table)})
                    SELECT {ValueList(table, "s", forInsert: true)} FROM missing s WHERE cardinality(s._toast) = 0
                    """, args, cancellationToken: ct));
            }

            SinkMetrics.RowsApplied.WithLabels(target, table.Id.ToString(), "upsert").Inc(applied);
        }

        if (deletes > 0)
        {
            var deleted = await conn.ExecuteAsync(new CommandDefinition($"""
                WITH won AS (
                    INSERT INTO {lineage} AS l ({keyCols}, source, origin_table, origin_key, lsn, seq, deleted, updated_at)
                    SELECT {stageKeys}, @source, s._origin_table, s._origin_key::jsonb, s._lsn::pg_lsn, s._seq, true, now()
                    FROM {stage} s WHERE s._op = 'd'
                    ON CONFLICT ({keyCols}) DO UPDATE SET origin_table = excluded.origin_table, origin_key = excluded.origin_key,
                        lsn = excluded.lsn, seq = excluded.seq, deleted = true, updated_at = excluded.updated_at
                    WHERE l.source = excluded.source AND (l.lsn, l.seq) < (excluded.lsn, excluded.seq)
                    RETURNING {keyCols})
                DELETE FROM {table.Id.Quoted} t USING won w WHERE {string.Join(" AND ", table.Key.Select(k => $"t.{Q(k)} = w.{Q(k)}"))}
                """, args, cancellationToken: ct));
            SinkMetrics.RowsApplied.WithLabels(target, table.Id.ToString(), "delete").Inc(deleted);
        }
    }

    /// <summary>A source TRUNCATE: every row of the table that this source's origin table owns goes (tombstoned).</summary>
    private async Task TruncateAsync(NpgsqlConnection conn, RowOperation t, CancellationToken ct)
    {
        TargetTable table;
        try
        {
            table = await Schema.GetTableAsync(t.Table, ct);
        }
        catch (TargetTableMissingException e)
        {
            await ParkAsync(conn, [AsParked(t, e.Message)], ct);
            return;
        }

        if (table.Info.IsKeyless)
        {
            await ParkAsync(conn, [AsParked(t, $"TRUNCATE of {t.Origin.Table}: target table {table.Id} has no key and no lineage, so the rows this source contributed cannot be told apart; not applied")], ct);
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
    private async Task ReplaceOriginAsync(NpgsqlConnection conn, RowOperation r, CancellationToken ct)
    {
        TargetTable table;
        try
        {
            table = await Schema.GetTableAsync(r.Table, ct);
        }
        catch (TargetTableMissingException e)
        {
            await ParkAsync(conn, [AsParked(r, e.Message)], ct);
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
            await FlushAsync(conn, [batch], ct);
        }
    }

    /// <summary>Records rows that could not be mapped or applied, idempotently (a replay parks nothing twice).</summary>
    public async Task ParkAsync(NpgsqlConnection conn, IReadOnlyList<ParkedChange> parked, CancellationToken ct)
    {
        foreach (var p in parked)
        {
            await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO peeq_cdc.parked_rows (source, commit_lsn, seq, sub, source_table, source_key, target_table, reason, payload)
                VALUES (@source, @lsn::pg_lsn, @seq, @sub, @source_table, @source_key::jsonb, @target_table, @reason, @payload)
                ON CONFLICT DO NOTHING
                """, new
            {
                source = p.Source,
                lsn = p.CommitLsn.ToString(),
                seq = p.Seq,
                sub = 0,
                source_table = p.SourceTable.ToString(),
                source_key = p.SourceKey?.ToJsonString(),
                target_table = p.TargetTable?.ToString(),
                reason = p.Reason,
                payload = p.Payload,
            }, cancellationToken: ct));
            SinkMetrics.Parked.WithLabels(source, ReasonKind(p.Reason)).Inc();
        }
    }

    public static string ReasonKind(string reason) => reason.Split(':', 2)[0] switch
    {
        var k when k.StartsWith("conflict", StringComparison.Ordinal) => "conflict",
        var k when k.Contains("lossy", StringComparison.Ordinal) => "lossy_cast",
        _ => "unmappable",
    };

    private static ParkedChange AsParked(RowOperation op, string reason) =>
        new(op.Source, op.CommitLsn, op.Seq, op.Origin.Table, op.Origin.Key, op.Table, reason, Encoding.UTF8.GetString(UnifiedEventCodec.Write(op)), op.TsMs);

    /// <summary>
    /// Creates (once per connection) and fills the staging table: every target column as text plus the
    /// operation's metadata, written with binary COPY.
    /// </summary>
    private async Task StageAsync(NpgsqlConnection conn, TargetTable table, TableBatch b, CancellationToken ct)
    {
        if (!ReferenceEquals(_stagedOn, conn))
        {
            // Temp tables live and die with their connection.
            _staged.Clear();
            _stagedOn = conn;
        }

        // Named after the column list too: a table that gained a column gets a new staging table.
        var stage = Q("peeq_stage_" + TargetTables.LineageName(table.Id)[8..] + "_" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            Encoding.UTF8.GetBytes(string.Join("\n", table.Info.Columns.Select(c => c.Name)))))[..6]);
        if (!_staged.TryGetValue(table.Id, out var known) || known != stage)
        {
            var cols = string.Join(", ", table.Info.Columns.Select(c => $"{Q(c.Name)} text"));
            await conn.ExecuteAsync(new CommandDefinition($"""
                CREATE TEMP TABLE IF NOT EXISTS {stage} ({cols}{(cols.Length > 0 ? ", " : "")}
                    _op "char", _lsn text, _seq bigint, _sub int, _origin_table text, _origin_key text,
                    _keep text[], _toast text[], _key text, _payload text) ON COMMIT DELETE ROWS
                """, cancellationToken: ct));
            _staged[table.Id] = stage;
        }

        await conn.ExecuteAsync(new CommandDefinition($"TRUNCATE {stage}", cancellationToken: ct));
        var columns = table.Info.Columns;
        var copy = $"COPY {stage} ({string.Join(", ", columns.Select(c => Q(c.Name)))}{(columns.Count > 0 ? ", " : "")}_op, _lsn, _seq, _sub, _origin_table, _origin_key, _keep, _toast, _key, _payload) FROM STDIN (FORMAT BINARY)";
        await using var writer = await conn.BeginBinaryImportAsync(copy, ct);
        foreach (var r in b.Rows)
        {
            await writer.StartRowAsync(ct);
            var row = r.Row;
            var keep = new List<string>();
            foreach (var c in columns)
            {
                JsonNode? v = null;
                var present = row is not null && row.TryGetPropertyValue(c.Name, out v);
                if (!r.Deleted && (!present || r.Unchanged.Contains(c.Name)) && !table.Key.Contains(c.Name))
                {
                    keep.Add(c.Name);
                }

                var text = r.Deleted ? TextOf(r.Key[c.Name], c) : present ? TextOf(v, c) : TextOf(r.Key[c.Name], c);
                await WriteText(writer, text, ct);
            }

            await writer.WriteAsync(r.Deleted ? 'd' : 'u', NpgsqlDbType.InternalChar, ct);
            await WriteMeta(writer, r.Lsn, r.Seq, r.Sub, r.Origin, keep, r.Unchanged.ToList(), r.Key.ToJsonString(), Encoding.UTF8.GetString(UnifiedEventCodec.Write(r.Last)), ct);
        }

        foreach (var op in b.Inserts)
        {
            await writer.StartRowAsync(ct);
            var keep = new List<string>();
            foreach (var c in columns)
            {
                if (op.Row is not null && op.Row.TryGetPropertyValue(c.Name, out var v))
                {
                    await WriteText(writer, TextOf(v, c), ct);
                }
                else
                {
                    keep.Add(c.Name);
                    await writer.WriteNullAsync(ct);
                }
            }

            await writer.WriteAsync('i', NpgsqlDbType.InternalChar, ct);
            await WriteMeta(writer, op.CommitLsn, op.Seq, op.Sub, op.Origin, keep, [], "", "", ct);
        }

        await writer.CompleteAsync(ct);
    }

    private static async Task WriteMeta(NpgsqlBinaryImporter writer, Lsn lsn, long seq, int sub, RowOrigin origin, List<string> keep, List<string> toast, string key, string payload, CancellationToken ct)
    {
        await writer.WriteAsync(lsn.ToString(), NpgsqlDbType.Text, ct);
        await writer.WriteAsync(seq, NpgsqlDbType.Bigint, ct);
        await writer.WriteAsync(sub, NpgsqlDbType.Integer, ct);
        await writer.WriteAsync(origin.Table.ToString(), NpgsqlDbType.Text, ct);
        await writer.WriteAsync(origin.Key.ToJsonString(), NpgsqlDbType.Text, ct);
        await writer.WriteAsync(keep.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text, ct);
        await writer.WriteAsync(toast.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text, ct);
        await writer.WriteAsync(key, NpgsqlDbType.Text, ct);
        await writer.WriteAsync(payload, NpgsqlDbType.Text, ct);
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
