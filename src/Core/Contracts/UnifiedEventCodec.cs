using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Peeq.Cdc.Contracts.RawEventCodec;

namespace Peeq.Cdc.Contracts;

/// <summary>The unified-topic wire format (docs/contracts.md, "Unified events").</summary>
public static class UnifiedEventCodec
{
    // Relaxed escaping: events are never embedded in HTML, and escaping '+' or non-ASCII text would only
    // inflate them (timestamps carry "+00").
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // One buffer and writer per thread, reused for every event (the Transform writes one event per row); a buffer
    // grown past this by a large event (a replace's rows) is let go rather than kept.
    private const int KeptBufferBytes = 64 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>The event's bytes: written into this thread's reused buffer, copied out once.</summary>
    public static byte[] Write(UnifiedEvent e)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        var w = t_writer ??= new Utf8JsonWriter(buffer, WriterOptions);
        buffer.ResetWrittenCount();
        w.Reset(buffer);
        try
        {
            WriteEvent(w, e);
            w.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            if (buffer.Capacity > KeptBufferBytes)
            {
                t_buffer = null;
                t_writer = null;
            }
        }
    }

    private static void WriteEvent(Utf8JsonWriter w, UnifiedEvent e)
    {
        {
            w.WriteStartObject();
            switch (e)
            {
                case UnifiedBegin b:
                    w.WriteString("type", "begin");
                    w.WriteString("source", b.Source);
                    WriteLsn(w, "commit_lsn", b.CommitLsn);
                    w.WriteString("prev_end_lsn", b.PrevEndLsn.ToString());
                    w.WriteNumber("txid", b.TxId);
                    w.WriteNumber("ts_ms", b.TsMs);
                    w.WriteString("kind", KindName(b.Kind));
                    w.WriteString("session", b.Session);
                    break;
                case RowOperation r:
                    w.WriteString("type", "row");
                    w.WriteString("source", r.Source);
                    WriteLsn(w, "commit_lsn", r.CommitLsn);
                    w.WriteNumber("seq", r.Seq);
                    w.WriteNumber("sub", r.Sub);
                    w.WriteString("op", OpName(r.Op));
                    w.WriteString("schema", r.Table.Schema);
                    w.WriteString("table", r.Table.Name);
                    WriteObject(w, "key", r.Key);
                    WriteObject(w, "row", r.Row);
                    if (r.Unchanged.Count > 0)
                    {
                        w.WriteStartArray("unchanged");
                        foreach (var c in r.Unchanged)
                        {
                            w.WriteStringValue(c);
                        }

                        w.WriteEndArray();
                    }

                    if (r.Rows is not null)
                    {
                        w.WriteStartArray("rows");
                        foreach (var row in r.Rows)
                        {
                            row.WriteTo(w);
                        }

                        w.WriteEndArray();
                    }

                    w.WriteStartObject("origin");
                    w.WriteString("schema", r.Origin.Table.Schema);
                    w.WriteString("table", r.Origin.Table.Name);
                    w.WritePropertyName("key");
                    r.Origin.Key.WriteTo(w);
                    w.WriteEndObject();
                    w.WriteNumber("ts_ms", r.TsMs);
                    w.WriteBoolean("snapshot", r.Snapshot);
                    if (r.Claim is { } claim && claim != ConflictClaim.Default)
                    {
                        w.WriteStartObject("claim");
                        w.WriteString("mode", claim.Mode == ConflictMode.Priority ? "priority" : "park");
                        w.WriteNumber("rank", claim.Rank);
                        w.WriteEndObject();
                    }
                    break;
                case ParkedChange p:
                    w.WriteString("type", "park");
                    w.WriteString("source", p.Source);
                    w.WriteString("commit_lsn", p.CommitLsn.ToString());
                    w.WriteNumber("seq", p.Seq);
                    w.WriteString("source_schema", p.SourceTable.Schema);
                    w.WriteString("source_table", p.SourceTable.Name);
                    WriteObject(w, "source_key", p.SourceKey);
                    if (p.TargetTable is { } tt)
                    {
                        w.WriteString("target_schema", tt.Schema);
                        w.WriteString("target_table", tt.Name);
                    }

                    w.WriteString("reason", p.Reason);
                    w.WriteString("payload", p.Payload);
                    w.WriteNumber("ts_ms", p.TsMs);
                    break;
                case UnifiedCommit c:
                    w.WriteString("type", "commit");
                    w.WriteString("source", c.Source);
                    WriteLsn(w, "commit_lsn", c.CommitLsn);
                    w.WriteString("end_lsn", c.EndLsn.ToString());
                    w.WriteNumber("txid", c.TxId);
                    w.WriteNumber("ts_ms", c.TsMs);
                    w.WriteNumber("operations", c.Operations);
                    SnapshotMark.WriteList(w, c.Snapshot);
                    break;
                case TableSchemaChange sc:
                    w.WriteString("type", "schema");
                    w.WriteString("source", sc.Source);
                    w.WriteString("commit_lsn", sc.CommitLsn.ToString());
                    w.WriteNumber("seq", sc.Seq);
                    w.WriteString("schema", sc.Table.Schema);
                    w.WriteString("table", sc.Table.Name);
                    w.WriteString("source_schema", sc.SourceTable.Schema);
                    w.WriteString("source_table", sc.SourceTable.Name);
                    SchemaColumn.WriteList(w, sc.Columns);
                    w.WriteNumber("ts_ms", sc.TsMs);
                    break;
                case TableStateChange ts:
                    w.WriteString("type", "table_state");
                    w.WriteString("source", ts.Source);
                    w.WriteString("commit_lsn", ts.CommitLsn.ToString());
                    w.WriteNumber("seq", ts.Seq);
                    w.WriteString("source_schema", ts.SourceTable.Schema);
                    w.WriteString("source_table", ts.SourceTable.Name);
                    w.WriteString("state", ts.State);
                    if (ts.Reason is not null)
                    {
                        w.WriteString("reason", ts.Reason);
                    }

                    w.WriteNumber("ts_ms", ts.TsMs);
                    break;
                case UnifiedProgress pr:
                    w.WriteString("type", "progress");
                    w.WriteString("source", pr.Source);
                    WriteLsn(w, "commit_lsn", pr.CommitLsn);
                    w.WriteNumber("seq", pr.Seq);
                    break;
                default:
                    throw new ArgumentException($"unknown unified event {e.GetType().Name}", nameof(e));
            }

            w.WriteEndObject();
        }
    }

    /// <summary>An LSN in its text form (<see cref="Lsn.ToString"/>), formatted on the stack.</summary>
    private static void WriteLsn(Utf8JsonWriter w, string name, Lsn lsn)
    {
        Span<char> text = stackalloc char[17];
        ((uint)(lsn.Value >> 32)).TryFormat(text, out var hi, "X", System.Globalization.CultureInfo.InvariantCulture);
        text[hi] = '/';
        ((uint)lsn.Value).TryFormat(text[(hi + 1)..], out var lo, "X", System.Globalization.CultureInfo.InvariantCulture);
        w.WriteString(name, text[..(hi + 1 + lo)]);
    }

    private static void WriteObject(Utf8JsonWriter w, string name, JsonObject? o)
    {
        w.WritePropertyName(name);
        if (o is null)
        {
            w.WriteNullValue();
        }
        else
        {
            o.WriteTo(w);
        }
    }

    /// <summary>
    /// Reads a unified-topic value. Throws <see cref="FormatException"/> saying why for anything malformed
    /// (not JSON, another shape, fields of the wrong type, an unparseable position).
    /// </summary>
    public static UnifiedEvent Read(ReadOnlySpan<byte> value)
    {
        try
        {
            return ReadCore(value);
        }
        catch (Exception e) when (e is not FormatException and not OutOfMemoryException)
        {
            throw new FormatException($"not a valid event: {e.Message}", e);
        }
    }

    private static UnifiedEvent ReadCore(ReadOnlySpan<byte> value)
    {
        JsonElement root;
        try
        {
            var reader = new Utf8JsonReader(value);
            root = JsonElement.ParseValue(ref reader);
            // One value and nothing after it, as JsonNode.Parse demands (this throws for anything but the end).
            reader.Read();
        }
        catch (JsonException e)
        {
            throw new FormatException($"event value is not valid JSON: {e.Message}", e);
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("event value is not a JSON object");
        }

        // A row operation (nearly every event) is read from the parsed document directly: its key, row and origin key
        // become the same lazily-read JsonObjects the node path detaches, without a node for each top-level field.
        return root.TryGetProperty("type"u8, out var t) && t.ValueKind == JsonValueKind.String && t.ValueEquals("row"u8)
            ? ReadRow(root)
            : ReadNodes(JsonObject.Create(root)!);
    }

    /// <summary>The decode through JsonNode of every event kind (the reference the row path is tested against).</summary>
    internal static UnifiedEvent ReadNodes(ReadOnlySpan<byte> value)
    {
        try
        {
            JsonObject o;
            try
            {
                o = JsonNode.Parse(value) as JsonObject ?? throw new FormatException("event value is not a JSON object");
            }
            catch (JsonException e)
            {
                throw new FormatException($"event value is not valid JSON: {e.Message}", e);
            }

            return ReadNodes(o);
        }
        catch (Exception e) when (e is not FormatException and not OutOfMemoryException)
        {
            throw new FormatException($"not a valid event: {e.Message}", e);
        }
    }

    // The fields of a row operation (docs/contracts.md), for the duplicate check.
    private static readonly byte[][] RowFields =
        [.. new[] { "type", "source", "commit_lsn", "seq", "sub", "op", "schema", "table", "key", "row", "unchanged", "rows", "origin", "ts_ms", "snapshot", "claim" }
            .Select(Encoding.UTF8.GetBytes)];

    /// <summary>A field named twice is malformed (the node decoder refuses it too, and which value counted would be a guess).</summary>
    private static void RefuseDuplicates(JsonElement o)
    {
        var seen = 0;
        List<string>? others = null;
        foreach (var p in o.EnumerateObject())
        {
            var i = 0;
            while (i < RowFields.Length && !p.NameEquals(RowFields[i]))
            {
                i++;
            }

            if (i < RowFields.Length ? (seen & (1 << i)) != 0 : (others ??= []).Contains(p.Name))
            {
                throw new FormatException($"field '{p.Name}' appears more than once");
            }

            if (i < RowFields.Length)
            {
                seen |= 1 << i;
            }
            else
            {
                others!.Add(p.Name);
            }
        }
    }

    private static UnifiedEvent ReadRow(JsonElement o)
    {
        RefuseDuplicates(o);
        var source = StrOf(o, "source"u8, "source");
        var commit = Lsn.Parse(StrOf(o, "commit_lsn"u8, "commit_lsn"));
        if (!o.TryGetProperty("origin"u8, out var origin) || origin.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("row operation has no origin");
        }

        List<JsonObject>? rows = null;
        if (o.TryGetProperty("rows"u8, out var arr) && arr.ValueKind == JsonValueKind.Array)
        {
            rows = new List<JsonObject>(arr.GetArrayLength());
            foreach (var item in arr.EnumerateArray())
            {
                rows.Add(item.ValueKind == JsonValueKind.Object ? JsonObject.Create(item)! : throw new FormatException("rows must hold objects"));
            }
        }

        string[] unchanged = [];
        if (o.TryGetProperty("unchanged"u8, out var u) && u.ValueKind == JsonValueKind.Array)
        {
            unchanged = new string[u.GetArrayLength()];
            var i = 0;
            foreach (var item in u.EnumerateArray())
            {
                unchanged[i++] = item.ValueKind == JsonValueKind.String ? item.GetString()! : throw new FormatException("unchanged must hold column names");
            }
        }

        return new RowOperation(
            source,
            commit,
            LongOf(o, "seq"u8, "seq"),
            (int)LongOf(o, "sub"u8, "sub"),
            ParseOpName(StrOf(o, "op"u8, "op")),
            new TableId(StrOf(o, "schema"u8, "schema"), StrOf(o, "table"u8, "table")),
            ObjectOf(o, "key"u8),
            ObjectOf(o, "row"u8),
            unchanged,
            new RowOrigin(new TableId(StrOf(origin, "schema"u8, "schema"), StrOf(origin, "table"u8, "table")), ObjectOf(origin, "key"u8) ?? []),
            LongOf(o, "ts_ms"u8, "ts_ms"),
            o.TryGetProperty("snapshot"u8, out var s) && s.ValueKind == JsonValueKind.True,
            rows,
            o.TryGetProperty("claim"u8, out var c) && c.ValueKind == JsonValueKind.Object
                ? new ConflictClaim(StrOf(c, "mode"u8, "mode") switch
                {
                    "priority" => ConflictMode.Priority,
                    "park" => ConflictMode.Park,
                    var m => throw new FormatException($"unknown conflict mode '{m}'"),
                }, (int)LongOf(c, "rank"u8, "rank"))
                : null);
    }

    private static string StrOf(JsonElement o, ReadOnlySpan<byte> name, string text) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()!
            : throw new FormatException($"field '{text}' is missing or not a string");

    private static long LongOf(JsonElement o, ReadOnlySpan<byte> name, string text) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number
            ? v.GetInt64()
            : throw new FormatException($"field '{text}' is missing or not a number");

    private static JsonObject? ObjectOf(JsonElement o, ReadOnlySpan<byte> name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object ? JsonObject.Create(v) : null;

    private static UnifiedEvent ReadNodes(JsonObject o)
    {
        var type = Str(o, "type");
        var source = Str(o, "source");
        var commit = Lsn.Parse(Str(o, "commit_lsn"));
        switch (type)
        {
            case "begin":
                return new UnifiedBegin(source, commit, Lsn.Parse(Str(o, "prev_end_lsn")),
                    Long(o, "txid"), Long(o, "ts_ms"), ParseKind(Str(o, "kind")), Str(o, "session"));
            case "progress":
                return new UnifiedProgress(source, commit, Long(o, "seq"));
            case "commit":
                return new UnifiedCommit(source, commit, Lsn.Parse(Str(o, "end_lsn")), Long(o, "txid"), Long(o, "ts_ms"), Long(o, "operations"), SnapshotMark.ReadList(o));
            case "schema":
                return new TableSchemaChange(source, commit, Long(o, "seq"), new TableId(Str(o, "schema"), Str(o, "table")),
                    new TableId(Str(o, "source_schema"), Str(o, "source_table")), SchemaColumn.ReadList(o), Long(o, "ts_ms"));
            case "table_state":
                return new TableStateChange(source, commit, Long(o, "seq"), new TableId(Str(o, "source_schema"), Str(o, "source_table")),
                    Str(o, "state"), o["reason"] is JsonValue rv && rv.GetValueKind() == JsonValueKind.String ? rv.GetValue<string>() : null, Long(o, "ts_ms"));
            case "row":
                var origin = o["origin"] as JsonObject ?? throw new FormatException("row operation has no origin");
                IReadOnlyList<JsonObject>? rows = null;
                if (o["rows"] is JsonArray arr)
                {
                    var list = new List<JsonObject>(arr.Count);
                    while (arr.Count > 0)
                    {
                        var item = arr[0] as JsonObject ?? throw new FormatException("rows must hold objects");
                        arr.RemoveAt(0);
                        list.Add(item);
                    }

                    rows = list;
                }

                return new RowOperation(
                    source,
                    commit,
                    Long(o, "seq"),
                    (int)Long(o, "sub"),
                    ParseOpName(Str(o, "op")),
                    new TableId(Str(o, "schema"), Str(o, "table")),
                    Detach(o, "key"),
                    Detach(o, "row"),
                    o["unchanged"] is JsonArray u ? u.Select(x => x!.GetValue<string>()).ToArray() : [],
                    new RowOrigin(new TableId(Str(origin, "schema"), Str(origin, "table")), Detach(origin, "key") ?? []),
                    Long(o, "ts_ms"),
                    o["snapshot"] is JsonValue s && s.GetValueKind() == JsonValueKind.True,
                    rows,
                    o["claim"] is JsonObject c
                        ? new ConflictClaim(Str(c, "mode") switch
                        {
                            "priority" => ConflictMode.Priority,
                            "park" => ConflictMode.Park,
                            var m => throw new FormatException($"unknown conflict mode '{m}'"),
                        }, (int)Long(c, "rank"))
                        : null);
            case "park":
                TableId? target = o["target_table"] is not null ? new TableId(Str(o, "target_schema"), Str(o, "target_table")) : null;
                return new ParkedChange(source, commit, Long(o, "seq"), new TableId(Str(o, "source_schema"), Str(o, "source_table")),
                    Detach(o, "source_key"), target, Str(o, "reason"), Str(o, "payload"), Long(o, "ts_ms"));
            default:
                throw new FormatException($"unknown unified event type '{type}'");
        }
    }

    public static string OpName(RowOpKind op) => op switch
    {
        RowOpKind.Upsert => "upsert",
        RowOpKind.Delete => "delete",
        RowOpKind.Replace => "replace",
        RowOpKind.Truncate => "truncate",
        RowOpKind.Insert => "insert",
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    public static RowOpKind ParseOpName(string s) => s switch
    {
        "upsert" => RowOpKind.Upsert,
        "delete" => RowOpKind.Delete,
        "replace" => RowOpKind.Replace,
        "truncate" => RowOpKind.Truncate,
        "insert" => RowOpKind.Insert,
        _ => throw new FormatException($"unknown row operation '{s}'"),
    };
}
