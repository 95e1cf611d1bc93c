using System.Text;
using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Tests.Unit.Contracts;

/// <summary>
/// The unified event encoder's exact bytes (docs/contracts.md, "Unified events"), pinned for every event kind and every
/// value form the legacy schemas produce (numeric, timestamps, jsonb, arrays, bytea, NULL, sealed values, unchanged-TOAST
/// names). The expected texts are what the encoder wrote before it reused one buffer per thread and formatted LSNs on
/// the stack (this file passes on main 41af41f unchanged), so the contract stayed byte-compatible.
/// </summary>
public sealed class UnifiedEncoderBytesTests
{
    private static readonly Lsn Commit = Lsn.Parse("16/B374D848");

    /// <summary>A row image with one value of each form Capture writes (ValueCodec), plus a NULL.</summary>
    private static JsonObject Row() => new()
    {
        ["id"] = 9223372036854775807,
        ["amount"] = "12345678901234567890.123456789012345678",
        ["nan"] = "NaN",
        ["ratio"] = JsonNode.Parse("1.5e+300"),
        ["active"] = true,
        ["at"] = "2024-02-29 23:59:59.999999+00",
        ["day"] = "infinity",
        ["meta"] = "{\"a\": [1, 2.50], \"k\": \"ü ✓\"}",
        ["tags"] = new JsonArray("a3bb189e-8bf9-3888-9912-ace4e6543002", null, "with \"quote\"", "a,b"),
        ["grid"] = new JsonArray(new JsonArray(1, 2), new JsonArray(3, null)),
        ["blob"] = "AP9c",
        ["note"] = "tab\there\nnewline \\ backslash +00 <html>",
        ["private_key"] = "sealed:v1:AAAA+/==",
        ["gone"] = null,
    };

    public static TheoryData<string, string> Events()
    {
        var origin = new RowOrigin(new TableId("public", "wallet \"tx\""), new JsonObject { ["id"] = 5, ["part"] = "ü" });
        return new TheoryData<string, string>
        {
            {
                "upsert",
                Text(new RowOperation("wallet", Commit, 7, 1, RowOpKind.Upsert, new TableId("public", "rows"), new JsonObject { ["id"] = 9223372036854775807 },
                    Row(), ["notes", "meta"], origin, 1700000000000, false, null, new ConflictClaim(ConflictMode.Priority, 2)))
            },
            {
                "replace",
                Text(new RowOperation("wallet", Commit, 8, 0, RowOpKind.Replace, new TableId("public", "rows"), null, null, [], origin, 1, true, [Row(), new JsonObject { ["id"] = 2 }]))
            },
            {
                "delete",
                Text(new RowOperation("wallet", Lsn.Zero, 0, 0, RowOpKind.Delete, new TableId("s", "t"), new JsonObject { ["id"] = 1 }, null, [], origin, 0, false))
            },
            { "begin", Text(new UnifiedBegin("wallet", Lsn.Parse("FFFFFFFF/FFFFFFFF"), Lsn.Parse("0/0"), 571, 1700000000000, TransactionKind.Snapshot, "s1")) },
            { "commit", Text(new UnifiedCommit("wallet", Commit, Lsn.Parse("16/B374D8A0"), 571, 1700000000000, 3)) },
            { "progress", Text(new UnifiedProgress("wallet", Lsn.Parse("1/0"), 812)) },
            {
                "park",
                Text(new ParkedChange("wallet", Commit, 3, new TableId("public", "rows"), new JsonObject { ["id"] = 1 }, new TableId("t", "u"), "key column id ← x is NULL",
                    "{\"before\":null}", 5))
            },
        };
    }

    private static string Text(UnifiedEvent e) => Encoding.UTF8.GetString(UnifiedEventCodec.Write(e));

    [Theory]
    [MemberData(nameof(Events))]
    public void every_event_kind_is_written_byte_for_byte_as_before(string kind, string written)
    {
        Assert.Equal(Expected[kind], written);
    }

    [Fact]
    public async Task an_event_written_after_a_large_one_or_on_another_thread_is_the_same_bytes()
    {
        var small = new UnifiedProgress("wallet", Lsn.Parse("1/0"), 812);
        var first = UnifiedEventCodec.Write(small);
        var rows = Enumerable.Range(0, 2_000).Select(i => new JsonObject { ["id"] = i, ["note"] = new string('x', 100) }).ToList();
        var large = UnifiedEventCodec.Write(new RowOperation("wallet", Commit, 1, 0, RowOpKind.Replace, new TableId("public", "rows"), null, null, [],
            new RowOrigin(new TableId("public", "rows"), []), 1, false, rows));
        Assert.True(large.Length > 200_000);
        Assert.Equal(first, UnifiedEventCodec.Write(small));
        Assert.Equal(first, await Task.Run(() => UnifiedEventCodec.Write(small)));
        Assert.Throws<ArgumentException>(() => UnifiedEventCodec.Write(new UnknownEvent()));
        Assert.Equal(first, UnifiedEventCodec.Write(small));
    }

    private sealed record UnknownEvent() : UnifiedEvent("x", Lsn.Zero);

    private const string RowJson =
        """{"id":9223372036854775807,"amount":"12345678901234567890.123456789012345678","nan":"NaN","ratio":1.5e+300,"active":true,"at":"2024-02-29 23:59:59.999999+00","day":"infinity","meta":"{\"a\": [1, 2.50], \"k\": \"ü ✓\"}","tags":["a3bb189e-8bf9-3888-9912-ace4e6543002",null,"with \"quote\"","a,b"],"grid":[[1,2],[3,null]],"blob":"AP9c","note":"tab\there\nnewline \\ backslash +00 <html>","private_key":"sealed:v1:AAAA+/==","gone":null}""";

    private const string OriginJson = "\"origin\":{\"schema\":\"public\",\"table\":\"wallet \\\"tx\\\"\",\"key\":{\"id\":5,\"part\":\"ü\"}}";

    private static readonly Dictionary<string, string> Expected = new()
    {
        ["upsert"] = """{"type":"row","source":"wallet","commit_lsn":"16/B374D848","seq":7,"sub":1,"op":"upsert","schema":"public","table":"rows","key":{"id":9223372036854775807},"row":"""
            + RowJson + ""","unchanged":["notes","meta"],""" + OriginJson + ""","ts_ms":1700000000000,"snapshot":false,"claim":{"mode":"priority","rank":2}}""",
        ["replace"] = """{"type":"row","source":"wallet","commit_lsn":"16/B374D848","seq":8,"sub":0,"op":"replace","schema":"public","table":"rows","key":null,"row":null,"rows":["""
            + RowJson + """,{"id":2}],""" + OriginJson + ""","ts_ms":1,"snapshot":true}""",
        ["delete"] = """{"type":"row","source":"wallet","commit_lsn":"0/0","seq":0,"sub":0,"op":"delete","schema":"s","table":"t","key":{"id":1},"row":null,"""
            + OriginJson + ""","ts_ms":0,"snapshot":false}""",
        ["begin"] = """{"type":"begin","source":"wallet","commit_lsn":"FFFFFFFF/FFFFFFFF","prev_end_lsn":"0/0","txid":571,"ts_ms":1700000000000,"kind":"snapshot","session":"s1"}""",
        ["commit"] = """{"type":"commit","source":"wallet","commit_lsn":"16/B374D848","end_lsn":"16/B374D8A0","txid":571,"ts_ms":1700000000000,"operations":3}""",
        ["progress"] = """{"type":"progress","source":"wallet","commit_lsn":"1/0","seq":812}""",
        ["park"] = """{"type":"park","source":"wallet","commit_lsn":"16/B374D848","seq":3,"source_schema":"public","source_table":"rows","source_key":{"id":1},"target_schema":"t","target_table":"u","reason":"key column id ← x is NULL","payload":"{\"before\":null}","ts_ms":5}""",
    };
}
