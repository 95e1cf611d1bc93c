using System.Buffers;
using System.Globalization;
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
        WriteChange(w, source, database, table, op, position, changeLsn, txId, tsMs, snapshot, before, after, unchanged, dataCollectionOrder);
    }

    /// <summary>
    /// Writes a change envelope with <paramref name="w"/> (flushed when done), so a caller encoding many events reuses one
    /// writer (<see cref="RawEventWriter"/>). The bytes are the same as the buffer overload's.
    /// </summary>
    public static void WriteChange(
        Utf8JsonWriter w,
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
        w.WriteStartObject();
        w.WritePropertyName(Names.Before);
        if (before is null)
        {
            w.WriteNullValue();
        }
        else
        {
            before.WriteTo(w);
        }

        w.WritePropertyName(Names.After);
        if (after is null)
        {
            w.WriteNullValue();
        }
        else
        {
            after.WriteTo(w);
        }

        Span<byte> text = stackalloc byte[48];
        w.WriteStartObject(Names.Source);
        w.WriteString(Names.Version, Names.VersionValue);
        w.WriteString(Names.Connector, Names.Postgresql);
        w.WriteString(Names.Name, source);
        w.WriteNumber(Names.TsMs, tsMs);
        w.WriteString(Names.Snapshot, snapshot ? Names.True : Names.False);
        w.WriteString(Names.Db, database);
        w.WriteNull(Names.Sequence);
        w.WriteString(Names.Schema, table.Schema);
        w.WriteString(Names.Table, table.Name);
        w.WriteNumber(Names.TxId, txId);
        w.WriteNumber(Names.Lsn, changeLsn.Value);
        w.WriteNull(Names.Xmin);
        w.WriteString(Names.CommitLsn, text[..position.CommitLsn.FormatUtf8(text)]);
        w.WriteNumber(Names.Seq, position.Seq);
        w.WriteEndObject();
        w.WriteString(Names.Op, OpCodeText(op));
        w.WriteNumber(Names.TsMs, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        w.WriteStartObject(Names.Transaction);

        // "<txId>:<commit LSN as a number>", formatted in place instead of through a string.
        txId.TryFormat(text, out var n, default, CultureInfo.InvariantCulture);
        text[n++] = (byte)':';
        position.CommitLsn.Value.TryFormat(text[n..], out var m, default, CultureInfo.InvariantCulture);
        w.WriteString(Names.Id, text[..(n + m)]);
        w.WriteNumber(Names.TotalOrder, position.Seq);
        w.WriteNumber(Names.DataCollectionOrder, dataCollectionOrder);
        w.WriteEndObject();
        if (unchanged is { Count: > 0 })
        {
            w.WriteStartArray(Names.Unchanged);
            foreach (var c in unchanged)
            {
                w.WriteStringValue(c);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
        w.Flush();
    }

    private static JsonEncodedText OpCodeText(ChangeOp op) => op switch
    {
        ChangeOp.Create => Names.C,
        ChangeOp.Update => Names.U,
        ChangeOp.Delete => Names.D,
        ChangeOp.Read => Names.R,
        ChangeOp.Truncate => Names.T,
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    /// <summary>The envelope's property names and fixed values, encoded once (all ASCII: the same bytes as writing the strings).</summary>
    private static class Names
    {
        public static readonly JsonEncodedText Before = JsonEncodedText.Encode("before");
        public static readonly JsonEncodedText After = JsonEncodedText.Encode("after");
        public static readonly JsonEncodedText Source = JsonEncodedText.Encode("source");
        public static readonly JsonEncodedText Version = JsonEncodedText.Encode("version");
        public static readonly JsonEncodedText VersionValue = JsonEncodedText.Encode(RawEventCodec.Version);
        public static readonly JsonEncodedText Connector = JsonEncodedText.Encode("connector");
        public static readonly JsonEncodedText Postgresql = JsonEncodedText.Encode("postgresql");
        public static readonly JsonEncodedText Name = JsonEncodedText.Encode("name");
        public static readonly JsonEncodedText TsMs = JsonEncodedText.Encode("ts_ms");
        public static readonly JsonEncodedText Snapshot = JsonEncodedText.Encode("snapshot");
        public static readonly JsonEncodedText True = JsonEncodedText.Encode("true");
        public static readonly JsonEncodedText False = JsonEncodedText.Encode("false");
        public static readonly JsonEncodedText Db = JsonEncodedText.Encode("db");
        public static readonly JsonEncodedText Sequence = JsonEncodedText.Encode("sequence");
        public static readonly JsonEncodedText Schema = JsonEncodedText.Encode("schema");
        public static readonly JsonEncodedText Table = JsonEncodedText.Encode("table");
        public static readonly JsonEncodedText TxId = JsonEncodedText.Encode("txId");
        public static readonly JsonEncodedText Lsn = JsonEncodedText.Encode("lsn");
        public static readonly JsonEncodedText Xmin = JsonEncodedText.Encode("xmin");
        public static readonly JsonEncodedText CommitLsn = JsonEncodedText.Encode("commit_lsn");
        public static readonly JsonEncodedText Seq = JsonEncodedText.Encode("seq");
        public static readonly JsonEncodedText Op = JsonEncodedText.Encode("op");
        public static readonly JsonEncodedText Transaction = JsonEncodedText.Encode("transaction");
        public static readonly JsonEncodedText Id = JsonEncodedText.Encode("id");
        public static readonly JsonEncodedText TotalOrder = JsonEncodedText.Encode("total_order");
        public static readonly JsonEncodedText DataCollectionOrder = JsonEncodedText.Encode("data_collection_order");
        public static readonly JsonEncodedText Unchanged = JsonEncodedText.Encode("unchanged");
        public static readonly JsonEncodedText C = JsonEncodedText.Encode("c");
        public static readonly JsonEncodedText U = JsonEncodedText.Encode("u");
        public static readonly JsonEncodedText D = JsonEncodedText.Encode("d");
        public static readonly JsonEncodedText R = JsonEncodedText.Encode("r");
        public static readonly JsonEncodedText T = JsonEncodedText.Encode("t");
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

    private static RawEvent ReadCore(ReadOnlySpan<byte> value, JsonObject? key = null) =>
        ReadChangeDirect(value, key) ?? ReadNodes(value, key);

    /// <summary>
    /// The one-pass decoder of a change envelope, straight from the message bytes (one per row, so the Transform's hot
    /// path): the envelope's fields are read with a <see cref="Utf8JsonReader"/>, only the row images become
    /// <see cref="JsonObject"/>s. Null for anything else — a transaction marker, a schema event, or an envelope that
    /// is malformed in any way — which <see cref="ReadNodes"/> then reads (or rejects with its reason), so both give
    /// the same result for every input (EventCodecTests compares them).
    /// </summary>
    internal static RawChange? ReadChangeDirect(ReadOnlySpan<byte> value, JsonObject? key)
    {
        try
        {
            var r = new Utf8JsonReader(value, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            JsonObject? before = null, after = null;
            string? op = null;
            IReadOnlyList<string> unchanged = [];
            var seen = 0;
            ChangeSource src = default;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                int field;
                if (r.ValueTextEquals("before"u8))
                {
                    field = 1;
                }
                else if (r.ValueTextEquals("after"u8))
                {
                    field = 2;
                }
                else if (r.ValueTextEquals("source"u8))
                {
                    field = 4;
                }
                else if (r.ValueTextEquals("op"u8))
                {
                    field = 8;
                }
                else if (r.ValueTextEquals("unchanged"u8))
                {
                    field = 16;
                }
                else if (r.ValueTextEquals("status"u8) || r.ValueTextEquals("type"u8))
                {
                    return null; // a marker or a schema event
                }
                else
                {
                    field = 0;
                }

                if ((seen & field) != 0)
                {
                    return null; // a duplicate: the node reader rejects it
                }

                seen |= field;
                if (!r.Read())
                {
                    return null;
                }

                switch (field)
                {
                    case 1 or 2:
                        JsonObject? image = null;
                        if (r.TokenType == JsonTokenType.StartObject)
                        {
                            image = JsonObject.Create(JsonElement.ParseValue(ref r));
                        }
                        else
                        {
                            r.Skip();
                        }

                        if (field == 1)
                        {
                            before = image;
                        }
                        else
                        {
                            after = image;
                        }

                        break;
                    case 4:
                        if (r.TokenType != JsonTokenType.StartObject || !ChangeSource.TryRead(ref r, out src))
                        {
                            return null;
                        }

                        break;
                    case 8:
                        if (r.TokenType != JsonTokenType.String)
                        {
                            return null;
                        }

                        op = r.ValueTextEquals("c"u8) ? "c" : r.ValueTextEquals("u"u8) ? "u" : r.ValueTextEquals("d"u8) ? "d" : r.ValueTextEquals("r"u8) ? "r"
                            : r.ValueTextEquals("t"u8) ? "t" : null;
                        if (op is null)
                        {
                            return null; // an unknown op: the node reader names it
                        }

                        break;
                    case 16:
                        if (r.TokenType == JsonTokenType.StartArray)
                        {
                            var names = new List<string>();
                            while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                            {
                                if (r.TokenType != JsonTokenType.String)
                                {
                                    return null;
                                }

                                names.Add(r.GetString()!);
                            }

                            unchanged = names.ToArray();
                        }
                        else
                        {
                            r.Skip();
                        }

                        break;
                    default:
                        r.Skip();
                        break;
                }
            }

            if (r.TokenType != JsonTokenType.EndObject || r.Read() || (seen & 4) == 0 || op is null)
            {
                return null;
            }

            return new RawChange(src.Name!, src.Db!, new TableId(src.Schema!, src.Table!), ParseOp(op), new SourcePosition(src.CommitLsn, src.Seq),
                new Lsn((ulong)src.ChangeLsn), src.TxId, src.TsMs, src.Snapshot, key, before, after, unchanged);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The fields of a change envelope's <c>source</c> block the pipeline reads; the text ones reuse the last row's strings.</summary>
    private struct ChangeSource
    {
        [ThreadStatic]
        private static string?[]? t_last;

        public string? Name;
        public string? Db;
        public string? Schema;
        public string? Table;
        public Lsn CommitLsn;
        public long Seq;
        public long ChangeLsn;
        public long TxId;
        public long TsMs;
        public bool Snapshot;

        public static bool TryRead(ref Utf8JsonReader r, out ChangeSource s)
        {
            s = default;
            var last = t_last ??= new string?[4];
            Span<char> chars = stackalloc char[40];
            var seen = 0;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                int field = r.ValueTextEquals("name"u8) ? 1
                    : r.ValueTextEquals("db"u8) ? 2
                    : r.ValueTextEquals("schema"u8) ? 4
                    : r.ValueTextEquals("table"u8) ? 8
                    : r.ValueTextEquals("commit_lsn"u8) ? 16
                    : r.ValueTextEquals("seq"u8) ? 32
                    : r.ValueTextEquals("lsn"u8) ? 64
                    : r.ValueTextEquals("txId"u8) ? 128
                    : r.ValueTextEquals("ts_ms"u8) ? 256
                    : r.ValueTextEquals("snapshot"u8) ? 512
                    : 0;
                if ((seen & field) != 0 || !r.Read())
                {
                    return false;
                }

                seen |= field;
                switch (field)
                {
                    case 1 or 2 or 4 or 8:
                        if (r.TokenType != JsonTokenType.String)
                        {
                            return false;
                        }

                        var slot = System.Numerics.BitOperations.Log2((uint)field);
                        var text = last[slot] is { } known && r.ValueTextEquals(known) ? known : (last[slot] = r.GetString()!);
                        switch (field)
                        {
                            case 1: s.Name = text; break;
                            case 2: s.Db = text; break;
                            case 4: s.Schema = text; break;
                            default: s.Table = text; break;
                        }

                        break;
                    case 16:
                        if (r.TokenType != JsonTokenType.String || r.HasValueSequence || r.ValueSpan.Length > 40
                            || !Lsn.TryParse(chars[..r.CopyString(chars)], out s.CommitLsn))
                        {
                            return false;
                        }

                        break;
                    case 32 or 64 or 128 or 256:
                        if (r.TokenType != JsonTokenType.Number || !r.TryGetInt64(out var n))
                        {
                            return false;
                        }

                        switch (field)
                        {
                            case 32: s.Seq = n; break;
                            case 64: s.ChangeLsn = n; break;
                            case 128: s.TxId = n; break;
                            default: s.TsMs = n; break;
                        }

                        break;
                    case 512:
                        if (r.TokenType != JsonTokenType.String)
                        {
                            return false;
                        }

                        s.Snapshot = r.ValueTextEquals("true"u8) || r.ValueTextEquals("last"u8) || r.ValueTextEquals("first"u8);
                        break;
                    default:
                        r.Skip();
                        break;
                }
            }

            return r.TokenType == JsonTokenType.EndObject && seen == 1023;
        }
    }

    /// <summary>Reads any raw-topic value through a <see cref="JsonObject"/> tree (markers, schema events, and the reference for changes).</summary>
    internal static RawEvent ReadNodes(ReadOnlySpan<byte> value, JsonObject? key = null)
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

/// <summary>
/// One reusable buffer and JSON writer for encoding many events in a row (a capture session's stream, a snapshot's
/// chunks): no writer, buffer or intermediate string per event. Not thread-safe; <see cref="Value"/> and
/// <see cref="Key"/> stay valid until the next event is started.
/// </summary>
public sealed class RawEventWriter
{
    private readonly ArrayBufferWriter<byte> _value = new(4096);
    private readonly ArrayBufferWriter<byte> _key = new(256);
    private readonly Utf8JsonWriter _valueWriter;
    private readonly Utf8JsonWriter _keyWriter;

    public RawEventWriter()
    {
        _valueWriter = new Utf8JsonWriter(_value, RawEventCodec.WriterOptions);
        _keyWriter = new Utf8JsonWriter(_key, RawEventCodec.WriterOptions);
    }

    /// <summary>Empties the value buffer and returns the writer to encode the next event's value with.</summary>
    public Utf8JsonWriter StartValue()
    {
        _value.ResetWrittenCount();
        _valueWriter.Reset(_value);
        return _valueWriter;
    }

    /// <summary>The value written since <see cref="StartValue"/> (flushed).</summary>
    public ReadOnlySpan<byte> Value
    {
        get
        {
            _valueWriter.Flush();
            return _value.WrittenSpan;
        }
    }

    /// <summary>The Kafka key of a change, as <see cref="RawEventCodec.WriteKey"/> writes it; <paramref name="fallback"/> only read when there is no key.</summary>
    public byte[] Key(IRowImage? key, TableId fallback)
    {
        _key.ResetWrittenCount();
        _keyWriter.Reset(_key);
        if (key is null)
        {
            _keyWriter.WriteStringValue(fallback.ToString());
        }
        else
        {
            key.WriteTo(_keyWriter);
        }

        _keyWriter.Flush();
        return _key.WrittenSpan.ToArray();
    }
}
