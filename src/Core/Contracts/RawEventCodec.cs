using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Peeq.Cdc.Contracts;

/// <summary>Writes one row image (the object under before/after/key) in the event value encoding.</summary>
public interface IRowImage
{
    void WriteTo(Utf8JsonWriter writer);
}

/// <summary>A row image already in JSON form.</summary>
public sealed class JsonRowImage(JsonObject row) : IRowImage
{
    public void WriteTo(Utf8JsonWriter writer) => row.WriteTo(writer);
}

/// <summary>
/// The raw-topic wire format: Debezium's change envelope (schemas disabled) and Debezium's
/// transaction BEGIN/END records, carried in the same partition so order and boundaries survive.
/// See docs/contracts.md.
/// </summary>
public static class RawEventCodec
{
    public const string TypeHeader = "peeq-type";
    public const string Version = "peeq-cdc/0.1";

    // Relaxed escaping: events are never embedded in HTML, and escaping '+' or non-ASCII text would only
    // inflate them (timestamps carry "+00").
    public static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] WriteBegin(TxBegin b)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("status", "BEGIN");
            w.WriteString("id", b.Id);
            w.WriteNumber("ts_ms", b.TsMs);
            w.WriteNull("event_count");
            w.WriteNull("data_collections");
            w.WriteString("source", b.Source);
            w.WriteString("commit_lsn", b.CommitLsn.ToString());
            w.WriteString("prev_end_lsn", b.PrevEndLsn.ToString());
            w.WriteNumber("txid", b.TxId);
            w.WriteString("kind", KindName(b.Kind));
            w.WriteString("session", b.Session);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] WriteEnd(TxEnd e)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("status", "END");
            w.WriteString("id", e.Id);
            w.WriteNumber("ts_ms", e.TsMs);
            w.WriteNumber("event_count", e.EventCount);
            w.WriteStartArray("data_collections");
            foreach (var (collection, count) in e.DataCollections)
            {
                w.WriteStartObject();
                w.WriteString("data_collection", collection);
                w.WriteNumber("event_count", count);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteString("source", e.Source);
            w.WriteString("commit_lsn", e.CommitLsn.ToString());
            w.WriteString("end_lsn", e.EndLsn.ToString());
            w.WriteNumber("txid", e.TxId);
            SnapshotMark.WriteList(w, e.Snapshot);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A schema event (header <c>peeq-type: schema</c>; docs/contracts.md, "Schema changes").</summary>
    public static byte[] WriteSchema(RawSchemaChange s)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("type", "schema");
            w.WriteString("source", s.Source);
            w.WriteString("db", s.Database);
            w.WriteString("schema", s.Table.Schema);
            w.WriteString("table", s.Table.Name);
            w.WriteString("commit_lsn", s.Position.CommitLsn.ToString());
            w.WriteNumber("seq", s.Position.Seq);
            w.WriteNumber("txId", s.TxId);
            w.WriteNumber("ts_ms", s.TsMs);
            SchemaColumn.WriteList(w, s.Columns);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The Kafka key of a change: its primary key columns, as Debezium writes it.</summary>
    public static byte[] WriteKey(IRowImage? key, string fallback)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            if (key is null)
            {
                w.WriteStringValue(fallback);
            }
            else
            {
                key.WriteTo(w);
            }
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes a change envelope into <paramref name="buffer"/>.</summary>
    public static void WriteChange(
        IBufferWriter<byte> buffer,
        string source,
        string database,
        TableId table,
        ChangeOp op,
        SourcePosition position,
        Lsn changeLsn,
        long txId,
        long tsMs,
        bool snapshot,
        IRowImage? before,
        IRowImage? after,
        IReadOnlyList<string>? unchanged,
        long dataCollectionOrder = 0)
    {
        using var w = new Utf8JsonWriter(buffer, WriterOptions);
        w.WriteStartObject();
        w.WritePropertyName("before");
        if (before is null)
        {
            w.WriteNullValue();
        }
        else
        {
            before.WriteTo(w);
        }

        w.WritePropertyName("after");
        if (after is null)
        {
            w.WriteNullValue();
        }
        else
        {
            after.WriteTo(w);
        }

        w.WriteStartObject("source");
        w.WriteString("version", Version);
        w.WriteString("connector", "postgresql");
        w.WriteString("name", source);
        w.WriteNumber("ts_ms", tsMs);
        w.WriteString("snapshot", snapshot ? "true" : "false");
        w.WriteString("db", database);
        w.WriteNull("sequence");
        w.WriteString("schema", table.Schema);
        w.WriteString("table", table.Name);
        w.WriteNumber("txId", txId);
        w.WriteNumber("lsn", changeLsn.Value);
        w.WriteNull("xmin");
        w.WriteString("commit_lsn", position.CommitLsn.ToString());
        w.WriteNumber("seq", position.Seq);
        w.WriteEndObject();
        w.WriteString("op", OpCode(op));
        w.WriteNumber("ts_ms", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        w.WriteStartObject("transaction");
        w.WriteString("id", $"{txId}:{position.CommitLsn.Value}");
        w.WriteNumber("total_order", position.Seq);
        w.WriteNumber("data_collection_order", dataCollectionOrder);
        w.WriteEndObject();
        if (unchanged is { Count: > 0 })
        {
            w.WriteStartArray("unchanged");
            foreach (var c in unchanged)
            {
                w.WriteStringValue(c);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    public static byte[] WriteChange(RawChange c)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        WriteChange(buffer, c.Source, c.Database, c.Table, c.Op, c.Position, c.ChangeLsn, c.TxId, c.TsMs, c.Snapshot,
            c.Before is null ? null : new JsonRowImage(c.Before), c.After is null ? null : new JsonRowImage(c.After), c.Unchanged);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Reads a raw-topic value. Throws <see cref="FormatException"/> saying why for anything that is not one of ours
    /// (not JSON, another shape, fields of the wrong type, an unparseable position).
    /// </summary>
    public static RawEvent Read(ReadOnlySpan<byte> value, JsonObject? key = null)
    {
        try
        {
            return ReadCore(value, key);
        }
        catch (Exception e) when (e is not FormatException and not OutOfMemoryException)
        {
            throw new FormatException($"not a valid event: {e.Message}", e);
        }
    }

    private static RawEvent ReadCore(ReadOnlySpan<byte> value, JsonObject? key = null)
    {
        JsonObject obj;
        try
        {
            obj = JsonNode.Parse(value) as JsonObject ?? throw new FormatException("event value is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new FormatException($"event value is not valid JSON: {e.Message}", e);
        }

        if (obj["status"] is JsonValue status)
        {
            var s = status.GetValue<string>();
            var source = Str(obj, "source");
            var commit = Lsn.Parse(Str(obj, "commit_lsn"));
            var txid = Long(obj, "txid");
            var ts = Long(obj, "ts_ms");
            if (s == "BEGIN")
            {
                return new TxBegin(source, commit, Lsn.Parse(Str(obj, "prev_end_lsn")), txid, ts, ParseKind(Str(obj, "kind")), Str(obj, "session"));
            }

            if (s == "END")
            {
                var collections = new List<KeyValuePair<string, long>>();
                if (obj["data_collections"] is JsonArray dcs)
                {
                    foreach (var dc in dcs.OfType<JsonObject>())
                    {
                        collections.Add(new(Str(dc, "data_collection"), Long(dc, "event_count")));
                    }
                }

                return new TxEnd(source, commit, Lsn.Parse(Str(obj, "end_lsn")), txid, ts, Long(obj, "event_count"), collections, SnapshotMark.ReadList(obj));
            }

            throw new FormatException($"unknown transaction marker status '{s}'");
        }

        if (obj["type"] is JsonValue type && type.GetValueKind() == JsonValueKind.String && type.GetValue<string>() == "schema")
        {
            return new RawSchemaChange(
                Str(obj, "source"),
                Str(obj, "db"),
                new TableId(Str(obj, "schema"), Str(obj, "table")),
                new SourcePosition(Lsn.Parse(Str(obj, "commit_lsn")), Long(obj, "seq")),
                Long(obj, "txId"),
                Long(obj, "ts_ms"),
                SchemaColumn.ReadList(obj));
        }

        var src = obj["source"] as JsonObject ?? throw new FormatException("change event has no 'source' block");
        var op = ParseOp(Str(obj, "op"));
        var unchanged = obj["unchanged"] is JsonArray u ? u.Select(x => x!.GetValue<string>()).ToArray() : [];
        return new RawChange(
            Str(src, "name"),
            Str(src, "db"),
            new TableId(Str(src, "schema"), Str(src, "table")),
            op,
            new SourcePosition(Lsn.Parse(Str(src, "commit_lsn")), Long(src, "seq")),
            new Lsn((ulong)Long(src, "lsn")),
            Long(src, "txId"),
            Long(src, "ts_ms"),
            Str(src, "snapshot") is "true" or "last" or "first",
            key,
            Detach(obj, "before"),
            Detach(obj, "after"),
            unchanged);
    }

    internal static JsonObject? Detach(JsonObject obj, string name)
    {
        if (obj[name] is not JsonObject o)
        {
            return null;
        }

        obj.Remove(name);
        return o;
    }

    internal static string Str(JsonObject o, string name) =>
        o[name] is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? v.GetValue<string>()
            : throw new FormatException($"field '{name}' is missing or not a string");

    internal static long Long(JsonObject o, string name) =>
        o[name] is JsonValue v && v.GetValueKind() == JsonValueKind.Number
            ? v.GetValue<long>()
            : throw new FormatException($"field '{name}' is missing or not a number");

    public static string OpCode(ChangeOp op) => op switch
    {
        ChangeOp.Create => "c",
        ChangeOp.Update => "u",
        ChangeOp.Delete => "d",
        ChangeOp.Read => "r",
        ChangeOp.Truncate => "t",
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    public static ChangeOp ParseOp(string code) => code switch
    {
        "c" => ChangeOp.Create,
        "u" => ChangeOp.Update,
        "d" => ChangeOp.Delete,
        "r" => ChangeOp.Read,
        "t" => ChangeOp.Truncate,
        _ => throw new FormatException($"unknown op '{code}'"),
    };

    public static string KindName(TransactionKind k) => k switch
    {
        TransactionKind.Transaction => "transaction",
        TransactionKind.Snapshot => "snapshot",
        TransactionKind.Heartbeat => "heartbeat",
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    public static TransactionKind ParseKind(string s) => s switch
    {
        "transaction" => TransactionKind.Transaction,
        "snapshot" => TransactionKind.Snapshot,
        "heartbeat" => TransactionKind.Heartbeat,
        _ => throw new FormatException($"unknown transaction kind '{s}'"),
    };
}
