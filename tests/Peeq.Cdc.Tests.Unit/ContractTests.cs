using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Tests.Unit;

public sealed class LsnAndPositionTests
{
    [Theory]
    [InlineData("0/0", 0UL)]
    [InlineData("16/B374D848", 0x16B374D848UL)]
    [InlineData("FFFFFFFF/FFFFFFFF", ulong.MaxValue)]
    public void lsn_round_trips_through_its_text_form(string text, ulong value)
    {
        var lsn = Lsn.Parse(text);
        Assert.Equal(value, lsn.Value);
        Assert.Equal(text, lsn.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("16")]
    [InlineData("16/")]
    [InlineData("/B3")]
    [InlineData("G/1")]
    public void malformed_lsn_is_rejected(string text) => Assert.False(Lsn.TryParse(text, out _));

    [Fact]
    public void positions_order_by_commit_then_sequence()
    {
        var a = new SourcePosition(Lsn.Parse("0/100"), 5);
        var b = new SourcePosition(Lsn.Parse("0/100"), 6);
        var c = new SourcePosition(Lsn.Parse("0/101"), 0);
        Assert.True(a < b && b < c && a < c);
        Assert.Equal(0, a.CompareTo(new SourcePosition(Lsn.Parse("0/100"), 5)));
    }
}

public sealed class TableIdTests
{
    [Theory]
    [InlineData("orders", "public", "orders")]
    [InlineData("sales.orders", "sales", "orders")]
    [InlineData("\"My Schema\".\"Order \"\"items\"\"; --\"", "My Schema", "Order \"items\"; --")]
    [InlineData("\"a.b\".c", "a.b", "c")]
    [InlineData("Ünïcødé.Tàblé", "Ünïcødé", "Tàblé")]
    public void parses_plain_and_quoted_names(string text, string schema, string name)
    {
        var id = TableId.Parse(text);
        Assert.Equal(new TableId(schema, name), id);
    }

    [Theory]
    [InlineData("a.b.c")]
    [InlineData("\"unterminated")]
    [InlineData("a..b")]
    [InlineData("")]
    public void rejects_what_is_not_a_table_name(string text) => Assert.False(TableId.TryParse(text, "public", out _, out _));

    [Fact]
    public void quoted_form_is_safe_sql_for_any_name()
    {
        var id = new TableId("s\"; DROP", "t\"x");
        Assert.Equal("\"s\"\"; DROP\".\"t\"\"x\"", id.Quoted);
        Assert.Equal(id, TableId.Parse(id.Quoted));
    }
}

public sealed class ArrayLiteralTests
{
    [Fact]
    public void parses_quoting_nulls_and_nesting()
    {
        var items = PgArrayLiteral.Parse("{a,\"b c\",NULL,\"NULL\",\"q\\\"uote\",\"back\\\\slash\",{1,2}}");
        Assert.Equal("a", items[0]);
        Assert.Equal("b c", items[1]);
        Assert.Null(items[2]);
        Assert.Equal("NULL", items[3]);
        Assert.Equal("q\"uote", items[4]);
        Assert.Equal("back\\slash", items[5]);
        Assert.Equal(new List<object?> { "1", "2" }, (List<object?>)items[6]!);
    }

    [Fact]
    public void written_literal_parses_back_to_the_same_elements()
    {
        var elements = new List<object?> { "plain", "with,comma", "with \"quote\"", null, "", "{braces}", "back\\slash" };
        var sb = new System.Text.StringBuilder();
        PgArrayLiteral.Write(sb, elements);
        Assert.Equal(elements, PgArrayLiteral.Parse(sb.ToString()));
    }

    [Fact]
    public void empty_and_bounded_arrays_parse()
    {
        Assert.Empty(PgArrayLiteral.Parse("{}"));
        Assert.Equal(new List<object?> { "x", "y" }, PgArrayLiteral.Parse("[0:1]={x,y}"));
    }
}

public sealed class ValueCodecTests
{
    private static string Encode(uint oid, string text)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new System.Text.Json.Utf8JsonWriter(buffer, RawEventCodec.WriterOptions))
        {
            ValueCodec.WriteJson(w, PgType.BuiltIn(oid), text);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Theory]
    [InlineData(1700u, "12345678901234567890.123456789012345678", "\"12345678901234567890.123456789012345678\"")]
    [InlineData(1700u, "NaN", "\"NaN\"")]
    [InlineData(20u, "9223372036854775807", "9223372036854775807")]
    [InlineData(16u, "t", "true")]
    [InlineData(701u, "Infinity", "\"Infinity\"")]
    [InlineData(701u, "1.5e+300", "1.5e+300")]
    [InlineData(1184u, "2024-02-29 23:59:59.999999+00", "\"2024-02-29 23:59:59.999999+00\"")]
    [InlineData(3802u, "{\"a\": [1, 2.50]}", "\"{\\\"a\\\": [1, 2.50]}\"")]
    [InlineData(17u, "\\x00ff5c", "\"AP9c\"")]
    [InlineData(2951u, "{a3bb189e-8bf9-3888-9912-ace4e6543002,NULL}", "[\"a3bb189e-8bf9-3888-9912-ace4e6543002\",null]")]
    public void encodes_postgresql_text_exactly(uint oid, string text, string json) => Assert.Equal(json, Encode(oid, text));

    [Theory]
    [InlineData(1700u, "-0.000000000000000000000000000001")]
    [InlineData(1114u, "294276-12-31 23:59:59.999999")]
    [InlineData(1184u, "4713-01-01 00:00:00+00 BC")]
    [InlineData(1082u, "infinity")]
    [InlineData(17u, "\\x")]
    [InlineData(1009u, "{\"with \\\"quote\\\"\",\"\",NULL,\"a,b\"}")]
    [InlineData(1015u, "{}")]
    [InlineData(3802u, "{\"k\": \"ü ✓ \\u0000-free\"}")]
    [InlineData(25u, "tab\there\nnewline \\ backslash")]
    [InlineData(1231u, "{1.10,NaN,-99999999999999999999.99}")]
    public void value_round_trips_to_the_same_postgresql_text(uint oid, string text)
    {
        var type = PgType.BuiltIn(oid);
        var json = JsonNode.Parse(Encode(oid, text));
        var back = ValueCodec.ToPgText(json, type)!;
        if (type.Kind == ValueKind.Array)
        {
            // Arrays come back fully quoted: compare elements, which is what PostgreSQL will parse.
            Assert.Equal(PgArrayLiteral.Parse(text), PgArrayLiteral.Parse(back));
        }
        else
        {
            Assert.Equal(text, back);
        }
    }

    [Fact]
    public void null_stays_null() => Assert.Null(ValueCodec.ToPgText(null, PgType.BuiltIn(25)));
}

public sealed class EventCodecTests
{
    [Fact]
    public void raw_markers_round_trip()
    {
        var begin = new TxBegin("wallet", Lsn.Parse("0/16B3748"), Lsn.Parse("0/16B3700"), 571, 1700000000000, TransactionKind.Transaction, "s1");
        Assert.Equal(begin, RawEventCodec.Read(RawEventCodec.WriteBegin(begin)));
        var end = new TxEnd("wallet", Lsn.Parse("0/16B3748"), Lsn.Parse("0/16B3780"), 571, 1700000000000, 3, [new("public.t", 3)]);
        var read = (TxEnd)RawEventCodec.Read(RawEventCodec.WriteEnd(end));
        Assert.Equal(end.EventCount, read.EventCount);
        Assert.Equal(end.EndLsn, read.EndLsn);
        Assert.Equal(end.DataCollections, read.DataCollections);
    }

    [Fact]
    public void raw_change_keeps_debezium_shape_and_our_position()
    {
        var change = new RawChange("wallet", "wallet_db", new TableId("public", "balance_transaction"), ChangeOp.Update,
            new SourcePosition(Lsn.Parse("0/200"), 7), Lsn.Parse("0/1F0"), 99, 1700000000000, false,
            new JsonObject { ["id"] = 5 }, null, new JsonObject { ["id"] = 5, ["balance"] = "10.5000" }, ["meta_data"]);
        var bytes = RawEventCodec.WriteChange(change);
        var json = JsonNode.Parse(bytes)!;
        Assert.Equal("u", json["op"]!.GetValue<string>());
        Assert.Equal("balance_transaction", json["source"]!["table"]!.GetValue<string>());
        Assert.Equal(0x1F0L, json["source"]!["lsn"]!.GetValue<long>());
        var read = (RawChange)RawEventCodec.Read(bytes, new JsonObject { ["id"] = 5 });
        Assert.Equal(change.Position, read.Position);
        Assert.Equal(["meta_data"], read.Unchanged);
        Assert.Equal("10.5000", read.After!["balance"]!.GetValue<string>());
    }

    [Fact]
    public void unified_operations_round_trip()
    {
        var op = new RowOperation("fan", Lsn.Parse("1/0"), 3, 1, RowOpKind.Upsert, new TableId("public", "fan_follows"),
            new JsonObject { ["id"] = "x" }, new JsonObject { ["id"] = "x", ["n"] = 1 }, ["notifications"],
            new RowOrigin(new TableId("public", "fan_follows"), new JsonObject { ["id"] = "abc" }), 5, true);
        var read = (RowOperation)UnifiedEventCodec.Read(UnifiedEventCodec.Write(op));
        Assert.Equal(op.Position, read.Position);
        Assert.Equal(op.Sub, read.Sub);
        Assert.Equal(op.Table, read.Table);
        Assert.Equal(op.Unchanged, read.Unchanged);
        Assert.True(read.Snapshot);
        Assert.Equal("abc", read.Origin.Key["id"]!.GetValue<string>());
        var commit = new UnifiedCommit("fan", Lsn.Parse("1/0"), Lsn.Parse("1/40"), 9, 5, 12);
        Assert.Equal(commit, UnifiedEventCodec.Read(UnifiedEventCodec.Write(commit)));
    }

    [Fact]
    public void progress_marker_round_trips_with_its_position()
    {
        var progress = new UnifiedProgress("fan", Lsn.Parse("1/0"), 812);
        var bytes = UnifiedEventCodec.Write(progress);
        Assert.Equal("""{"type":"progress","source":"fan","commit_lsn":"1/0","seq":812}""", System.Text.Encoding.UTF8.GetString(bytes));
        var read = Assert.IsType<UnifiedProgress>(UnifiedEventCodec.Read(bytes));
        Assert.Equal(progress, read);
        Assert.Equal(new SourcePosition(Lsn.Parse("1/0"), 812), read.Position);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{\"type\":\"row\"}")]
    [InlineData("{\"type\":\"mystery\",\"source\":\"s\",\"commit_lsn\":\"0/1\"}")]
    public void malformed_events_are_format_errors(string text)
    {
        Assert.Throws<FormatException>(() => UnifiedEventCodec.Read(System.Text.Encoding.UTF8.GetBytes(text)));
    }

    [Fact]
    public void sealed_values_open_only_with_the_key_and_the_same_column()
    {
        var key = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        var sealedText = SealedValue.Seal(key, "private_key", "-----BEGIN KEY----- canary");
        Assert.DoesNotContain("canary", sealedText);
        Assert.Equal("-----BEGIN KEY----- canary", SealedValue.Unseal(key, "private_key", sealedText));
        Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => SealedValue.Unseal(key, "public_key", sealedText));
        Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() =>
            SealedValue.Unseal(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), "private_key", sealedText));
    }
}
