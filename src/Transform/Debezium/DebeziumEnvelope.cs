using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Transform.Mapping.Language;

namespace Peeq.Cdc.Transform.Debezium;

/// <summary>A decoded Debezium change, with the position Debezium gives it.</summary>
/// <param name="CommitOrder">Debezium's <c>source.sequence[0]</c> (the LSN of the last commit before this change's transaction) or, without it, <c>source.lsn</c>: non-decreasing in Debezium's emission order.</param>
/// <param name="Lsn">The change's own LSN (<c>source.lsn</c>): increasing within a transaction.</param>
/// <param name="TransactionId">Debezium's <c>transaction.id</c> when transaction metadata is enabled.</param>
public sealed record DebeziumChange(RawChange Change, ulong CommitOrder, ulong Lsn, long TxId, string? TransactionId, bool Last);

/// <summary>A Debezium transaction metadata record (topic <c>&lt;prefix&gt;.transaction</c>).</summary>
public sealed record DebeziumTransaction(string Status, string Id, long? EventCount, long TsMs, IReadOnlyList<KeyValuePair<string, long>> DataCollections);

/// <summary>
/// Reads the change events the Debezium PostgreSQL connector writes with Kafka Connect's JSON converter,
/// with schemas (<c>{"schema": ..., "payload": ...}</c>) or without, into raw changes in this pipeline's
/// value form (docs/contracts.md, "Values"). Formats follow Debezium's PostgreSQL connector documentation
/// ("Data change events", "Data type mappings", "Transaction metadata"):
/// <list type="bullet">
/// <item>numeric with <c>decimal.handling.mode=precise</c> (the default): <c>org.apache.kafka.connect.data.Decimal</c>,
/// base64 of the unscaled value's big-endian two's-complement bytes, the scale in the schema's
/// <c>parameters.scale</c>, or, without schemas, from the source catalog's numeric(p,s); numeric without a
/// declared scale is <c>io.debezium.data.VariableScaleDecimal</c> (<c>{"scale": s, "value": base64}</c>);</item>
/// <item><c>io.debezium.time.MicroTimestamp</c>/<c>Timestamp</c>/<c>NanoTimestamp</c> (timestamp, epoch units),
/// <c>io.debezium.time.ZonedTimestamp</c> (timestamptz, ISO-8601 in UTC), <c>io.debezium.time.Date</c> (days),
/// <c>io.debezium.data.Json</c>, <c>io.debezium.data.Uuid</c>;</item>
/// <item>an unchanged TOASTed value Debezium could not read is the placeholder <c>__debezium_unavailable_value</c>
/// (as text, as base64 bytes, or as the single element of an array): the column is marked unchanged, never
/// written.</item>
/// </list>
/// </summary>
public static class DebeziumEnvelope
{
    public const string Unavailable = "__debezium_unavailable_value";

    private static readonly string UnavailableBase64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(Unavailable));

    /// <summary>Types of the source table's columns (format_type text), for schemaless events; null when unknown.</summary>
    public delegate SqlType? ColumnTypes(TableId table, string column);

    /// <summary>Decodes a change event; null for a tombstone (Debezium's null value after a delete) or a heartbeat.</summary>
    public static DebeziumChange? Read(string source, byte[]? value, byte[]? key, ColumnTypes types)
    {
        if (value is null || value.Length == 0)
        {
            return null;
        }

        var root = Parse(value) as JsonObject ?? throw new FormatException("a Debezium event is a JSON object");
        var (payload, schema) = Unwrap(root);
        if (payload is null)
        {
            return null;
        }

        if (payload["op"] is not JsonValue opNode)
        {
            throw new FormatException("not a Debezium change event (no 'op')");
        }

        var src = payload["source"] as JsonObject ?? throw new FormatException("Debezium event has no 'source' block");
        var table = new TableId(Str(src, "schema") ?? "public", Str(src, "table") ?? throw new FormatException("source.table is missing"));
        var op = RawEventCodec.ParseOp(opNode.GetValue<string>());
        var fieldSchemas = FieldSchemas(schema);
        var unchanged = new List<string>();
        var after = Row(payload["after"], fieldSchemas.GetValueOrDefault("after"), table, types, unchanged);
        var before = Row(payload["before"], fieldSchemas.GetValueOrDefault("before"), table, types, []);
        JsonObject? keyObj = null;
        if (key is { Length: > 0 })
        {
            var keyRoot = Parse(key);
            if (keyRoot is JsonObject ko)
            {
                var (kp, ks) = Unwrap(ko);
                keyObj = Row(kp, ks, table, types, []);
            }
        }

        var lsn = Num(src, "lsn") ?? 0;
        var commitOrder = lsn;
        if (Str(src, "sequence") is { } seqText)
        {
            // "[\"<last commit lsn>\",\"<lsn>\"]" (a JSON array in a string).
            if (JsonNode.Parse(seqText) is JsonArray seq && seq.Count == 2 && seq[0] is JsonValue first
                && ulong.TryParse(first.GetValueKind() == JsonValueKind.String ? first.GetValue<string>() : first.ToJsonString(), NumberStyles.None, CultureInfo.InvariantCulture, out var c))
            {
                commitOrder = c;
            }
        }

        var snapshot = Str(src, "snapshot") ?? "false";
        var isSnapshot = snapshot is not ("false" or "");
        var txId = (long)(Num(src, "txId") ?? 0);
        var tsMs = (long)(Num(src, "ts_ms") ?? 0);
        var change = new RawChange(source, Str(src, "db") ?? source, table, op, new SourcePosition(new Lsn(commitOrder), (long)lsn), new Lsn(lsn), txId, tsMs,
            isSnapshot, keyObj, before, after, unchanged);
        var transaction = payload["transaction"] is JsonObject t ? Str(t, "id") : null;
        return new DebeziumChange(change, commitOrder, lsn, txId, transaction, snapshot == "last");
    }

    /// <summary>Decodes a transaction metadata record (BEGIN/END).</summary>
    public static DebeziumTransaction ReadTransaction(byte[] value)
    {
        var root = Parse(value) as JsonObject ?? throw new FormatException("a Debezium transaction record is a JSON object");
        var (payload, _) = Unwrap(root);
        payload ??= root;
        return new DebeziumTransaction(
            Str(payload, "status") ?? throw new FormatException("transaction record has no status"),
            Str(payload, "id") ?? throw new FormatException("transaction record has no id"),
            payload["event_count"] is JsonValue n && n.GetValueKind() == JsonValueKind.Number ? n.GetValue<long>() : null,
            (long)(Num(payload, "ts_ms") ?? 0),
            payload["data_collections"] is JsonArray dcs
                ? dcs.OfType<JsonObject>().Select(d => new KeyValuePair<string, long>(Str(d, "data_collection") ?? "", (long)(Num(d, "event_count") ?? 0))).ToList()
                : []);
    }

    private static JsonNode? Parse(byte[] bytes)
    {
        try
        {
            return JsonNode.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new FormatException($"not JSON: {e.Message}", e);
        }
    }

    /// <summary>JSON converter with schemas: {"schema", "payload"}; without: the payload itself.</summary>
    private static (JsonObject? Payload, JsonObject? Schema) Unwrap(JsonObject root) =>
        root.ContainsKey("schema") && root.ContainsKey("payload")
            ? (root["payload"] as JsonObject, root["schema"] as JsonObject)
            : (root, null);

    private static Dictionary<string, JsonObject> FieldSchemas(JsonObject? schema)
    {
        var d = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        if (schema?["fields"] is JsonArray fields)
        {
            foreach (var f in fields.OfType<JsonObject>())
            {
                if (Str(f, "field") is { } name)
                {
                    d[name] = f;
                }
            }
        }

        return d;
    }

    private static JsonObject? Row(JsonNode? node, JsonObject? structSchema, TableId table, ColumnTypes types, List<string> unchanged)
    {
        if (node is not JsonObject o)
        {
            return null;
        }

        var schemas = FieldSchemas(structSchema);
        var row = new JsonObject();
        foreach (var (name, v) in o)
        {
            var fieldSchema = schemas.GetValueOrDefault(name);
            if (IsUnavailable(v))
            {
                unchanged.Add(name);
                continue;
            }

            row[name] = Value(v, fieldSchema, types(table, name), $"{table}.{name}");
        }

        return row;
    }

    private static bool IsUnavailable(JsonNode? v) => v switch
    {
        JsonValue s when s.GetValueKind() == JsonValueKind.String => s.GetValue<string>() is var t && (t == Unavailable || t == UnavailableBase64),
        JsonArray { Count: 1 } a => IsUnavailable(a[0]),
        JsonObject obj when obj["value"] is { } inner && obj.ContainsKey("scale") => IsUnavailable(inner),
        _ => false,
    };

    /// <summary>One column value to this pipeline's value form (docs/contracts.md, "Values").</summary>
    private static JsonNode? Value(JsonNode? v, JsonObject? schema, SqlType? catalogType, string what)
    {
        if (v is null)
        {
            return null;
        }

        var logical = schema is null ? null : Str(schema, "name");
        var type = schema is null ? null : Str(schema, "type");
        if (type == "array" || v is JsonArray)
        {
            var items = schema?["items"] as JsonObject;
            var arr = new JsonArray();
            foreach (var item in (JsonArray)v)
            {
                arr.Add(Value(item, items, catalogType?.Element, what));
            }

            return arr;
        }

        switch (logical)
        {
            case "org.apache.kafka.connect.data.Decimal":
                var scaleText = (schema!["parameters"] as JsonObject)?["scale"]?.GetValue<string>();
                var scale = scaleText is null ? catalogType?.Scale ?? throw new FormatException($"{what}: Decimal without a scale") : int.Parse(scaleText, CultureInfo.InvariantCulture);
                return JsonValue.Create(Decimal(v.GetValue<string>(), scale));
            case "io.debezium.data.VariableScaleDecimal":
                return JsonValue.Create(Decimal(v["value"]!.GetValue<string>(), v["scale"]!.GetValue<int>()));
            case "io.debezium.time.MicroTimestamp":
                return JsonValue.Create(Timestamps.FromEpochMicros(v.GetValue<long>(), withZone: false));
            case "io.debezium.time.Timestamp":
                return JsonValue.Create(Timestamps.FromEpochMicros(checked(v.GetValue<long>() * 1000), withZone: false));
            case "io.debezium.time.NanoTimestamp":
                var nanos = v.GetValue<long>();
                if (nanos % 1000 != 0)
                {
                    throw new FormatException($"{what}: a nanosecond timestamp below PostgreSQL's microsecond resolution");
                }

                return JsonValue.Create(Timestamps.FromEpochMicros(nanos / 1000, withZone: false));
            case "io.debezium.time.ZonedTimestamp":
                return JsonValue.Create(Timestamps.FromZoned(v.GetValue<string>()));
            case "io.debezium.time.Date":
                return JsonValue.Create(Timestamps.FromEpochDays(v.GetValue<int>()));
            case "io.debezium.time.MicroTime":
                return JsonValue.Create(MicroTime(v.GetValue<long>()));
            case "io.debezium.data.Json" or "io.debezium.data.Uuid" or "io.debezium.data.Xml" or "io.debezium.data.Enum":
                return JsonValue.Create(v.GetValue<string>());
        }

        if (schema is not null && type is not null)
        {
            return type switch
            {
                "bytes" when catalogType?.Kind == SqlKind.Numeric => JsonValue.Create(Decimal(v.GetValue<string>(), catalogType.Scale ?? 0)),
                _ => v.DeepClone(),
            };
        }

        // Without schemas: the source catalog says what the JSON holds.
        return catalogType?.Kind switch
        {
            SqlKind.Numeric when v is JsonObject vs => JsonValue.Create(Decimal(vs["value"]!.GetValue<string>(), vs["scale"]!.GetValue<int>())),
            SqlKind.Numeric when v.GetValueKind() == JsonValueKind.String => JsonValue.Create(Decimal(v.GetValue<string>(),
                catalogType.Scale ?? throw new FormatException($"{what}: numeric without a declared scale arrives as a variable-scale struct, not bytes"))),
            SqlKind.Timestamp when v.GetValueKind() == JsonValueKind.Number => JsonValue.Create(Timestamps.FromEpochMicros(v.GetValue<long>(), withZone: false)),
            SqlKind.Timestamptz when v.GetValueKind() == JsonValueKind.String => JsonValue.Create(Timestamps.FromZoned(v.GetValue<string>())),
            SqlKind.Date when v.GetValueKind() == JsonValueKind.Number => JsonValue.Create(Timestamps.FromEpochDays(v.GetValue<int>())),
            _ => v.DeepClone(),
        };
    }

    /// <summary>Base64 of a big-endian two's-complement unscaled integer, at a scale → exact decimal text.</summary>
    public static string Decimal(string base64, int scale)
    {
        var bytes = Convert.FromBase64String(base64);
        var unscaled = bytes.Length == 0 ? BigInteger.Zero : new BigInteger(bytes, isUnsigned: false, isBigEndian: true);
        return new ExactDecimal(unscaled, scale).ToString();
    }

    private static string MicroTime(long micros)
    {
        var t = TimeSpan.FromTicks(micros * 10);
        var frac = micros % 1_000_000;
        return $"{(int)t.TotalHours:D2}:{t.Minutes:D2}:{t.Seconds:D2}" + (frac == 0 ? "" : "." + frac.ToString("D6", CultureInfo.InvariantCulture).TrimEnd('0'));
    }

    private static string? Str(JsonObject o, string name) => o[name] switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => v.ToJsonString(),
        _ => null,
    };

    private static ulong? Num(JsonObject o, string name) => o[name] switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => ulong.Parse(v.ToJsonString(), CultureInfo.InvariantCulture),
        JsonValue v when v.GetValueKind() == JsonValueKind.String && ulong.TryParse(v.GetValue<string>(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) => n,
        _ => null,
    };
}
