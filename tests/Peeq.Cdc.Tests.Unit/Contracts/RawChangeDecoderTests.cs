using System.Text;
using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Tests.Unit.Contracts;

/// <summary>
/// The raw change decoder that reads the envelope straight from the message bytes (<c>RawEventCodec.ReadChangeDirect</c>,
/// the Transform's per-row path) against the JsonObject-tree reader it replaced for changes (<c>ReadNodes</c>): the same
/// RawChange for every change Capture writes, every value form of the legacy schemas and every op; nothing (so the tree
/// reader decides, with its reasons) for markers, schema events and malformed envelopes.
/// </summary>
public sealed class RawChangeDecoderTests
{
    private static JsonObject Row(long id) => new()
    {
        ["id"] = id,
        ["amount"] = "-0.000000000000000000000000000001",
        ["nan"] = "NaN",
        ["ratio"] = JsonNode.Parse("1.5e+300"),
        ["active"] = false,
        ["at"] = "4713-01-01 00:00:00+00 BC",
        ["local"] = "294276-12-31 23:59:59.999999",
        ["day"] = "infinity",
        ["meta"] = "{\"k\": \"ü ✓ \\u0000-free\", \"n\": [1, 2.50]}",
        ["tags"] = new JsonArray("with \"quote\"", "", null, "a,b"),
        ["grid"] = new JsonArray(new JsonArray(1, 2), new JsonArray()),
        ["blob"] = "AP9c",
        ["empty_blob"] = "",
        ["note"] = "tab\there\nnewline \\ backslash",
        ["private_key"] = "sealed:v1:AAAA+/==",
        ["gone"] = null,
    };

    public static TheoryData<string> Changes()
    {
        var data = new TheoryData<string>();
        var at = new SourcePosition(Lsn.Parse("16/B374D848"), 7);
        var table = new TableId("public", "balance_transaction");
        foreach (var op in new[] { ChangeOp.Create, ChangeOp.Update, ChangeOp.Delete, ChangeOp.Read, ChangeOp.Truncate })
        {
            JsonObject? before = op is ChangeOp.Update or ChangeOp.Delete ? Row(4) : null;
            JsonObject? after = op is ChangeOp.Create or ChangeOp.Update or ChangeOp.Read ? Row(5) : null;
            data.Add(Encoding.UTF8.GetString(RawEventCodec.WriteChange(new RawChange("wallet", "wallet_db", table, op, at, Lsn.Parse("16/B374D800"), 99,
                1700000000000, op == ChangeOp.Read, null, before, after, op == ChangeOp.Update ? ["meta", "blob"] : []))));
        }

        // Unusual but valid: escaped and non-ASCII names, a snapshot's "last", extra fields, another field order, empty images.
        data.Add("""{"op":"c","after":{},"before":null,"extra":[1,{"a":2}],"source":{"seq":0,"commit_lsn":"0/0","lsn":0,"txId":0,"ts_ms":-1,"snapshot":"last","name":"s\u00fc","db":"d\"b","schema":"My Schema","table":"Order \"items\"","version":"x"},"unchanged":[]}""");
        data.Add("""{"before":{"id":1},"after":{"id":1,"v":null},"source":{"name":"a","db":"b","schema":"c","table":"d","commit_lsn":"FFFFFFFF/FFFFFFFF","seq":9223372036854775807,"lsn":9223372036854775807,"txId":4294967295,"ts_ms":0,"snapshot":"false"},"op":"u","unchanged":["big \"col\"","ü"]}""");
        return data;
    }

    [Theory]
    [MemberData(nameof(Changes))]
    public void reads_every_change_as_the_node_reader_does(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var key = new JsonObject { ["id"] = 5 };
        var direct = RawEventCodec.ReadChangeDirect(bytes, key);
        var nodes = Assert.IsType<RawChange>(RawEventCodec.ReadNodes(bytes, key));
        Assert.NotNull(direct);
        Assert.Equal(nodes.Source, direct.Source);
        Assert.Equal(nodes.Database, direct.Database);
        Assert.Equal(nodes.Table, direct.Table);
        Assert.Equal(nodes.Op, direct.Op);
        Assert.Equal(nodes.Position, direct.Position);
        Assert.Equal(nodes.ChangeLsn, direct.ChangeLsn);
        Assert.Equal(nodes.TxId, direct.TxId);
        Assert.Equal(nodes.TsMs, direct.TsMs);
        Assert.Equal(nodes.Snapshot, direct.Snapshot);
        Assert.Same(key, direct.Key);
        Assert.Equal(nodes.Unchanged, direct.Unchanged);
        Assert.Equal(nodes.Before?.ToJsonString(), direct.Before?.ToJsonString());
        Assert.Equal(nodes.After?.ToJsonString(), direct.After?.ToJsonString());
        Assert.True(JsonNode.DeepEquals(nodes.After, direct.After));
        Assert.Null(direct.Before?.Parent);
        Assert.Null(direct.After?.Parent);

        // What the Transform does with the images: read values by name and write them into a unified event.
        if (direct.After is { } after && after.ContainsKey("id"))
        {
            Assert.Equal(nodes.After!["meta"]?.GetValue<string>(), after["meta"]?.GetValue<string>());
            var writtenDirect = UnifiedEventCodec.Write(Op(direct));
            var writtenNodes = UnifiedEventCodec.Write(Op(nodes));
            Assert.Equal(writtenNodes, writtenDirect);
        }

        // The public entry point takes the direct path and gives the same.
        var read = Assert.IsType<RawChange>(RawEventCodec.Read(bytes, key));
        Assert.Equal(nodes.Position, read.Position);
        Assert.Equal(nodes.After?.ToJsonString(), read.After?.ToJsonString());
    }

    private static RowOperation Op(RawChange c) =>
        new(c.Source, c.Position.CommitLsn, c.Position.Seq, 0, RowOpKind.Upsert, c.Table, new JsonObject { ["id"] = c.After!["id"]!.DeepClone() }, c.After, c.Unchanged,
            new RowOrigin(c.Table, []), c.TsMs, c.Snapshot);

    [Fact]
    public void the_same_source_names_are_one_string_from_row_to_row()
    {
        var change = new RawChange("wallet", "wallet_db", new TableId("public", "t"), ChangeOp.Create, new SourcePosition(Lsn.Parse("0/10"), 1), Lsn.Parse("0/8"), 1, 1,
            false, null, null, new JsonObject { ["id"] = 1 }, []);
        var first = RawEventCodec.ReadChangeDirect(RawEventCodec.WriteChange(change), null)!;
        var second = RawEventCodec.ReadChangeDirect(RawEventCodec.WriteChange(change with { Position = new SourcePosition(Lsn.Parse("0/10"), 2) }), null)!;
        Assert.Same(first.Source, second.Source);
        Assert.Same(first.Table.Name, second.Table.Name);
        var other = RawEventCodec.ReadChangeDirect(RawEventCodec.WriteChange(change with { Table = new TableId("public", "u") }), null)!;
        Assert.Equal("u", other.Table.Name);
        Assert.Equal(2, second.Position.Seq);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("""{"op":"c","after":{}}""")]
    [InlineData("""{"op":"x","after":{},"source":{"name":"a","db":"b","schema":"c","table":"d","commit_lsn":"0/1","seq":1,"lsn":1,"txId":1,"ts_ms":1,"snapshot":"false"}}""")]
    [InlineData("""{"op":"c","after":{},"source":{"name":"a","db":"b","schema":"c","table":"d","commit_lsn":"nope","seq":1,"lsn":1,"txId":1,"ts_ms":1,"snapshot":"false"}}""")]
    [InlineData("""{"op":"c","after":{},"source":{"name":"a","db":"b","schema":"c","table":"d","commit_lsn":"0/1","seq":1.5,"lsn":1,"txId":1,"ts_ms":1,"snapshot":"false"}}""")]
    [InlineData("""{"op":"c","after":{},"source":{"name":null,"db":"b","schema":"c","table":"d","commit_lsn":"0/1","seq":1,"lsn":1,"txId":1,"ts_ms":1,"snapshot":"false"}}""")]
    [InlineData("""{"op":"c","after":{},"source":{"db":"b","schema":"c","table":"d","commit_lsn":"0/1","seq":1,"lsn":1,"txId":1,"ts_ms":1,"snapshot":"false"}}""")]
    [InlineData("""{"op":"c","after":{},"unchanged":[1],"source":{"name":"a","db":"b","schema":"c","table":"d","commit_lsn":"0/1","seq":1,"lsn":1,"txId":1,"ts_ms":1,"snapshot":"false"}}""")]
    [InlineData("""{"op":"c","after":{},"source":{"name":"a","db":"b","schema":"c","table":"d","commit_lsn":"0/1","seq":1,"lsn":1,"txId":1,"ts_ms":1,"snapshot":"false"}} trailing""")]
    [InlineData("""{"op":"c","after":{"id":1,"source":{"name":"a","db":"b","schema":"c","table":"d","commit_lsn":"0/1","seq":1,"lsn":1,"txId":1,"ts_ms":1,"snapshot":"false"}}""")]
    public void leaves_malformed_envelopes_to_the_node_reader_which_rejects_them(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Assert.Null(RawEventCodec.ReadChangeDirect(bytes, null));
        Assert.Throws<FormatException>(() => RawEventCodec.Read(bytes));
    }

    [Fact]
    public void leaves_markers_and_schema_events_to_the_node_reader()
    {
        var begin = new TxBegin("wallet", Lsn.Parse("0/16B3748"), Lsn.Parse("0/16B3700"), 571, 1700000000000, TransactionKind.Transaction, "s1");
        var end = new TxEnd("wallet", Lsn.Parse("0/16B3748"), Lsn.Parse("0/16B3780"), 571, 1700000000000, 3, [new("public.t", 3)]);
        var schema = new RawSchemaChange("wallet", "db", new TableId("public", "t"), new SourcePosition(Lsn.Parse("0/16B3748"), 2), 571, 1,
            [new SchemaColumn("id", "bigint", true)]);
        foreach (var bytes in new[] { RawEventCodec.WriteBegin(begin), RawEventCodec.WriteEnd(end), RawEventCodec.WriteSchema(schema) })
        {
            Assert.Null(RawEventCodec.ReadChangeDirect(bytes, null));
        }

        Assert.Equal(begin, RawEventCodec.Read(RawEventCodec.WriteBegin(begin)));
        Assert.IsType<RawSchemaChange>(RawEventCodec.Read(RawEventCodec.WriteSchema(schema)));
    }
}
