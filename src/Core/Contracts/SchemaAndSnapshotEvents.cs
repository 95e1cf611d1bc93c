using System.Text.Json;
using System.Text.Json.Nodes;

namespace Peeq.Cdc.Contracts;

/// <summary>
/// Progress of one table's snapshot, carried on the end marker of the snapshot transaction that holds
/// the chunk (docs/contracts.md, "Snapshots"). The Sink records it in the same target transaction as
/// the chunk's rows, so after a crash Capture resumes after <see cref="LastKey"/>, never before what
/// the target holds and never after what it lacks.
/// </summary>
/// <param name="Table">The source table.</param>
/// <param name="Generation">0 for a table's first snapshot, else the id of the snapshot request; a marker of an older generation never overwrites a newer one's progress.</param>
/// <param name="Chunk">1-based chunk number within the generation (restarts at 1 when a generation restarts from its beginning).</param>
/// <param name="LastKey">The primary key of the last row read (in the event key's JSON form); null for a keyless table or an empty chunk at the start.</param>
/// <param name="Done">True on the chunk that completes the table.</param>
/// <param name="Rows">Rows emitted by this generation so far, this chunk included.</param>
/// <param name="TotalRows">The table's estimated row count when the snapshot started (pg_class.reltuples), for progress.</param>
/// <param name="Since">
/// A source position at or before which every row this generation writes is positioned: a target row of
/// this table and source whose last change is older than <see cref="Since"/> when the generation is
/// done no longer exists at the source (the Sink removes it).
/// </param>
/// <param name="TargetTables">Unified events only: the target tables the Transform mapped this table's rows to (or, for a mirroring mapping, would).</param>
public sealed record SnapshotMark(
    TableId Table,
    long Generation,
    long Chunk,
    JsonObject? LastKey,
    bool Done,
    long Rows,
    long TotalRows,
    Lsn Since,
    IReadOnlyList<TableId>? TargetTables = null)
{
    internal void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("table", Table.ToString());
        w.WriteString("schema_name", Table.Schema);
        w.WriteString("table_name", Table.Name);
        w.WriteNumber("generation", Generation);
        w.WriteNumber("chunk", Chunk);
        w.WritePropertyName("last_key");
        if (LastKey is null)
        {
            w.WriteNullValue();
        }
        else
        {
            LastKey.WriteTo(w);
        }

        w.WriteBoolean("done", Done);
        w.WriteNumber("rows", Rows);
        w.WriteNumber("total_rows", TotalRows);
        w.WriteString("since", Since.ToString());
        if (TargetTables is not null)
        {
            w.WriteStartArray("target_tables");
            foreach (var t in TargetTables)
            {
                w.WriteStartObject();
                w.WriteString("schema", t.Schema);
                w.WriteString("table", t.Name);
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    internal static void WriteList(Utf8JsonWriter w, IReadOnlyList<SnapshotMark>? marks)
    {
        if (marks is null)
        {
            return;
        }

        w.WriteStartArray("snapshot");
        foreach (var m in marks)
        {
            m.WriteTo(w);
        }

        w.WriteEndArray();
    }

    internal static IReadOnlyList<SnapshotMark>? ReadList(JsonObject o)
    {
        if (o["snapshot"] is not JsonArray arr)
        {
            return null;
        }

        var list = new List<SnapshotMark>(arr.Count);
        foreach (var item in arr)
        {
            if (item is not JsonObject m)
            {
                throw new FormatException("snapshot marks must be objects");
            }

            List<TableId>? targets = null;
            if (m["target_tables"] is JsonArray ts)
            {
                targets = ts.OfType<JsonObject>().Select(t => new TableId(RawEventCodec.Str(t, "schema"), RawEventCodec.Str(t, "table"))).ToList();
            }

            list.Add(new SnapshotMark(
                new TableId(RawEventCodec.Str(m, "schema_name"), RawEventCodec.Str(m, "table_name")),
                RawEventCodec.Long(m, "generation"),
                RawEventCodec.Long(m, "chunk"),
                m["last_key"] is JsonObject k ? (JsonObject)k.DeepClone() : null,
                m["done"] is JsonValue d && d.GetValueKind() == JsonValueKind.True,
                RawEventCodec.Long(m, "rows"),
                RawEventCodec.Long(m, "total_rows"),
                Lsn.Parse(RawEventCodec.Str(m, "since")),
                targets));
        }

        return list;
    }
}

/// <summary>
/// A column of a source table as a schema event describes it: <see cref="TypeSql"/> is
/// <c>format_type(atttypid, atttypmod)</c> (<c>character varying(30)</c>, <c>numeric(12,2)</c>);
/// <see cref="IsKey"/> marks the replica identity (primary key) columns. <see cref="ExistingValue"/>,
/// when present, is the PostgreSQL text of the value that rows existing before the column was added
/// hold (<c>pg_attribute.attmissingval</c>, an ADD COLUMN ... DEFAULT); never set for a sensitive column.
/// </summary>
public sealed record SchemaColumn(string Name, string TypeSql, bool IsKey, string? ExistingValue = null)
{
    internal static void WriteList(Utf8JsonWriter w, IReadOnlyList<SchemaColumn> columns)
    {
        w.WriteStartArray("columns");
        foreach (var c in columns)
        {
            w.WriteStartObject();
            w.WriteString("name", c.Name);
            w.WriteString("type", c.TypeSql);
            w.WriteBoolean("key", c.IsKey);
            if (c.ExistingValue is not null)
            {
                w.WriteString("existing", c.ExistingValue);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    internal static List<SchemaColumn> ReadList(JsonObject o)
    {
        var arr = o["columns"] as JsonArray ?? throw new FormatException("schema event has no 'columns'");
        return arr.OfType<JsonObject>().Select(c => new SchemaColumn(
            RawEventCodec.Str(c, "name"),
            RawEventCodec.Str(c, "type"),
            c["key"] is JsonValue k && k.GetValueKind() == JsonValueKind.True,
            c["existing"] is JsonValue e && e.GetValueKind() == JsonValueKind.String ? e.GetValue<string>() : null)).ToList();
    }
}

/// <summary>
/// A raw-topic event (header <c>peeq-type: schema</c>): the columns of a source table as pgoutput
/// describes them from this point of the stream on. Emitted inside a transaction, before that
/// transaction's first change of the table, the first time a capture session sees the table and every
/// time its definition changes (ADD/DROP COLUMN, a type change). It takes a position (<see cref="Position"/>)
/// and counts in the transaction's event count like a change.
/// </summary>
public sealed record RawSchemaChange(
    string Source,
    string Database,
    TableId Table,
    SourcePosition Position,
    long TxId,
    long TsMs,
    IReadOnlyList<SchemaColumn> Columns) : RawEvent(Source);

/// <summary>
/// A unified event: make target table <see cref="Table"/> able to hold <see cref="Columns"/> (the Sink adds
/// the columns it lacks; columns it has are checked to hold the new types, else the source table is parked).
/// Produced only by mappings that mirror a source table into a target table of the same shape (identity).
/// </summary>
public sealed record TableSchemaChange(
    string Source,
    Lsn CommitLsn,
    long Seq,
    TableId Table,
    TableId SourceTable,
    IReadOnlyList<SchemaColumn> Columns,
    long TsMs) : UnifiedEvent(Source, CommitLsn);

/// <summary>
/// A unified event: a source table's state changes for this source (<see cref="State"/> is <c>parked</c>: its
/// columns changed in a way the target's mapping cannot take; <see cref="Reason"/> says why). From this
/// position on the Sink parks every change of <see cref="SourceTable"/> from this source in parked_rows
/// instead of applying it, until a re-snapshot of the table completes.
/// </summary>
public sealed record TableStateChange(
    string Source,
    Lsn CommitLsn,
    long Seq,
    TableId SourceTable,
    string State,
    string? Reason,
    long TsMs) : UnifiedEvent(Source, CommitLsn);
