using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Reconciler.Rows;
using Peeq.Cdc.Transform.Mapping;
using Peeq.Cdc.Transform.Mapping.Language;

namespace Peeq.Cdc.Tests.Unit.Reconciler;

/// <summary>
/// The reconciler builds a source row's nodes from the texts (RowNodes) instead of writing the event JSON
/// and parsing it back: every legacy type, NULL and awkward texts give the mapping the same nodes as the
/// Transform's parse of Capture's event.
/// </summary>
public sealed class RowNodesTests
{
    // (column, pg type, the mapping language's type, PostgreSQL's text output)
    private static readonly (string Name, PgType Type, string Sql, string? Text)[] Columns =
    [
        ("id", T(2950), "uuid", "0c2e5f3a-9b1d-4e7f-8a6b-1c2d3e4f5a6b"),
        ("uuid_null", T(2950), "uuid", null),
        ("name", T(1043), "varchar(255)", "Zoë \"the\" \\ <b>&amp;</b> 日本 😀 \t\n\u0001 '"),
        ("empty", T(1043), "varchar(50)", ""),
        ("code", T(1043), "varchar(3)", "EUR"),
        ("body", T(25), "text", "line 1\r\nline 2 \u2028 \u00e9"),
        ("text_null", T(25), "text", null),
        ("padded", T(1042), "char(4)", "ab  "),
        ("created_on", T(1184), "timestamptz", "2024-01-01 00:00:00.000001+00"),
        ("forever", T(1184), "timestamptz", "infinity"),
        ("at", T(1114), "timestamp", "2024-02-29 23:59:59.999999"),
        ("day", T(1082), "date", "2024-02-29"),
        ("time", T(1083), "text", "12:00:00"),
        ("span", T(1186), "text", "1 day 02:00:00.5"),
        ("price", T(1700), "numeric(12,2)", "-0.10"),
        ("balance", T(1700), "numeric(19,4)", "999999999999999.9999"),
        ("not_a_number", T(1700), "numeric", "NaN"),
        ("quantity", T(23), "integer", "-2147483648"),
        ("zero", T(23), "integer", "0"),
        ("int_null", T(23), "integer", null),
        ("big", T(20), "bigint", "9223372036854775807"),
        ("small", T(21), "smallint", "-32768"),
        ("active", T(16), "boolean", "t"),
        ("deleted", T(16), "boolean", "f"),
        ("ratio", T(701), "float8", "1e+30"),
        ("negative_zero", T(701), "float8", "-0"),
        ("nan", T(701), "float8", "NaN"),
        ("infinite", T(701), "float8", "-Infinity"),
        ("real", T(700), "real", "3.4028235e+38"),
        ("meta", T(3802), "jsonb", "{\"a\": [1, 2.50, \"x\\\"y\"], \"b\": null, \"ü\": {}}"),
        ("doc", T(114), "json", "{ \"k\" :1 }"),
        ("data", T(17), "text", "\\x00ff10"),
        ("tags", T(1009), "text[]", "{a,\"b c\",NULL,\"\\\"q\\\"\",\"\"}"),
        ("labels", T(1015), "varchar[]", "{x,y}"),
        ("members", T(2951), "uuid[]", "{0c2e5f3a-9b1d-4e7f-8a6b-1c2d3e4f5a6b,NULL}"),
        ("none", T(2951), "uuid[]", "{}"),
        ("grid", T(1007), "integer[]", "{{1,2},{3,NULL}}"),
        ("flags", T(1000), "boolean[]", "{t,f}"),
        ("array_null", T(1009), "text[]", null),
    ];

    private static PgType T(uint oid) => PgType.BuiltIn(oid);

    /// <summary>The path the reconciler took before, and the Transform takes: Capture's event JSON parsed.</summary>
    private static JsonObject ViaEventJson()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, RawEventCodec.WriterOptions))
        {
            w.WriteStartObject();
            foreach (var (name, type, _, text) in Columns)
            {
                w.WritePropertyName(name);
                if (text is null)
                {
                    w.WriteNullValue();
                }
                else
                {
                    ValueCodec.WriteJson(w, type, text);
                }
            }

            w.WriteEndObject();
        }

        return (JsonObject)JsonNode.Parse(buffer.WrittenSpan)!;
    }

    private static JsonObject Built(RowNodes nodes)
    {
        nodes.Start(Columns.Length);
        foreach (var (name, type, _, text) in Columns)
        {
            nodes.Add(name, type, text);
        }

        return nodes.Finish();
    }

    private static string Written(JsonNode? node)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, RawEventCodec.WriterOptions))
        {
            if (node is null)
            {
                w.WriteNullValue();
            }
            else
            {
                node.WriteTo(w);
            }
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Fact]
    public void every_legacy_type_gives_the_mapping_the_nodes_of_the_parsed_event()
    {
        var expected = ViaEventJson();
        var nodes = new RowNodes();
        Built(nodes); // a second row through the same builder must not carry anything over from the first
        var actual = Built(nodes);

        Assert.Equal(expected.Select(p => p.Key), actual.Select(p => p.Key));
        Assert.All(actual, p => Assert.True(p.Value is null || ReferenceEquals(p.Value.Parent, actual), $"{p.Key}'s node does not belong to the row"));
        Assert.Equal(expected.ToJsonString(), actual.ToJsonString());
        Assert.Equal(Written(expected), Written(actual));
        Assert.True(JsonNode.DeepEquals(expected, actual));
        foreach (var (name, type, sql, text) in Columns)
        {
            var e = expected[name];
            var a = actual[name];
            Assert.True(JsonNode.DeepEquals(e, a), name);
            if (e is null)
            {
                Assert.Null(a);
                continue;
            }

            Assert.NotNull(a);
            Assert.Same(actual, a.Parent);
            Assert.Equal(e.GetValueKind(), a.GetValueKind());
            Assert.Equal(e.ToJsonString(), a.ToJsonString());
            Assert.Equal(e.ToJsonString(Functions.JsonOptions), a.ToJsonString(Functions.JsonOptions));
            Assert.Equal(Written(e), Written(a));
            Assert.Equal(e.DeepClone().ToJsonString(), a.DeepClone().ToJsonString());
            Assert.True(JsonNode.DeepEquals(e.DeepClone(), a), name);
            if (RowNodes.IsString(type, text!))
            {
                // Built directly: the same string, read the ways the mapping reads one.
                Assert.Equal(JsonValueKind.String, e.GetValueKind());
                Assert.Equal(e.GetValue<string>(), a.GetValue<string>());
                Assert.True(a.AsValue().TryGetValue<string>(out var s) && s == e.GetValue<string>(), name);
            }
            else
            {
                // Parsed as before (booleans, numbers, bytea, arrays): the very same kind of node.
                Assert.Equal(e.GetType(), a.GetType());
            }

            // What the reconciler and the Sink make of it, and what the mapping language reads from it.
            Assert.Equal(ValueCodec.ToPgText(e, type), ValueCodec.ToPgText(a, type));
            Assert.Equal(ValueCodec.KeyText(e), ValueCodec.KeyText(a));
            var sqlType = SqlType.Parse(sql);
            Assert.Equal(Read(e, sqlType, name), Read(a, sqlType, name));
        }
    }

    private static string Read(JsonNode node, SqlType type, string column)
    {
        try
        {
            var v = ValueJson.Read(node, type, column);
            return $"{v.GetType().Name}: {ValueJson.Emit(v, type, column)?.ToJsonString()}";
        }
        catch (MappingException e)
        {
            return "MappingException: " + e.Message;
        }
    }

    [Fact]
    public void the_identity_mapping_produces_the_same_operations_from_both()
    {
        var mapping = new IdentityMapping("t", new Dictionary<string, string?> { ["s"] = null });
        string Operations(JsonObject after)
        {
            var key = new JsonObject { ["id"] = after["id"]?.DeepClone() };
            var change = new RawChange("s", "db", new TableId("public", "things"), ChangeOp.Read, new SourcePosition(Lsn.Parse("0/1"), 1),
                Lsn.Parse("0/1"), 0, 0, true, key, null, after, []);
            var output = new MappingOutput();
            mapping.Map(change, output);
            return string.Join("\n", output.Operations.Select(o => $"{o.Op} {o.Table} {o.Key?.ToJsonString()} {Written(o.Row)} "
                + string.Join(",", o.Row!.Select(p => ValueCodec.ToPgText(p.Value, Columns.First(c => c.Name == p.Key).Type) ?? "NULL"))));
        }

        Assert.Equal(Operations(ViaEventJson()), Operations(Built(new RowNodes())));
    }
}
