using System.Text;
using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Tests.Unit.Contracts;

/// <summary>
/// The unified decoder reads a row operation straight from the parsed document (no JsonNode for each top-level field);
/// every other kind, and the reference, go through JsonNode (<c>ReadNodes</c>, the decoder as it was). Both must give the
/// same event for every event kind and every value form (numbers of every size and spelling, NULL vs absent, unchanged
/// TOAST names, sealed values, arrays, nested json, bytea), and reject the same malformed values.
/// </summary>
public sealed class UnifiedDecoderTests
{
    private static readonly Lsn Commit = Lsn.Parse("16/B374D848");

    private static JsonObject Row() => new()
    {
        ["id"] = 9223372036854775807,
        ["amount"] = "12345678901234567890.123456789012345678",
        ["nan"] = "NaN",
        ["ratio"] = JsonNode.Parse("1.5e+300"),
        ["small"] = JsonNode.Parse("-0.000001250"),
        ["active"] = true,
        ["off"] = false,
        ["at"] = "2024-02-29 23:59:59.999999+00",
        ["meta"] = "{\"a\": [1, 2.50], \"k\": \"ü ✓\"}",
        ["doc"] = new JsonObject { ["nested"] = new JsonArray(1, "two", null, new JsonObject()) },
        ["tags"] = new JsonArray("a3bb189e-8bf9-3888-9912-ace4e6543002", null, "with \"quote\"", "a,b"),
        ["grid"] = new JsonArray(new JsonArray(1, 2), new JsonArray(3, null)),
        ["blob"] = "AP9c",
        ["note"] = "tab\there\nnewline \\ backslash +00 <html> \u0001",
        ["private_key"] = new JsonObject { ["$sealed"] = "v1:AAAA+/==" },
        ["gone"] = null,
    };

    public static TheoryData<string> Kinds() => new(Events().Keys);

    private static Dictionary<string, UnifiedEvent> Events()
    {
        var origin = new RowOrigin(new TableId("public", "wallet \"tx\""), new JsonObject { ["id"] = 5, ["part"] = "ü" });
        return new()
        {
            ["upsert"] = new RowOperation("wallet", Commit, 7, 1, RowOpKind.Upsert, new TableId("public", "rows"), new JsonObject { ["id"] = 9223372036854775807 },
                Row(), ["notes", "meta"], origin, 1700000000000, false, null, new ConflictClaim(ConflictMode.Priority, 2)),
            ["upsert-park-claim"] = new RowOperation("wallet", Commit, 7, 1, RowOpKind.Upsert, new TableId("public", "rows"), new JsonObject { ["id"] = 1, ["k2"] = "x" },
                new JsonObject { ["id"] = 1, ["k2"] = "x" }, [], origin, 1, true, null, new ConflictClaim(ConflictMode.Park, 3)),
            ["insert-keyless"] = new RowOperation("wallet", Commit, 9, 0, RowOpKind.Insert, new TableId("public", "log"), null, Row(), [],
                new RowOrigin(new TableId("public", "log"), []), 2, false),
            ["replace"] = new RowOperation("wallet", Commit, 8, 0, RowOpKind.Replace, new TableId("public", "rows"), null, null, [], origin, 1, true, [Row(), new JsonObject { ["id"] = 2 }]),
            ["replace-empty"] = new RowOperation("wallet", Commit, 8, 2, RowOpKind.Replace, new TableId("public", "rows"), null, null, [], origin, 1, false, []),
            ["delete"] = new RowOperation("wallet", Lsn.Zero, 0, 0, RowOpKind.Delete, new TableId("s", "t"), new JsonObject { ["id"] = 1 }, null, [], origin, 0, false),
            ["delete-origin"] = new RowOperation("wallet", Commit, 3, 0, RowOpKind.Delete, new TableId("s", "t"), null, null, [], origin, 0, false),
            ["truncate"] = new RowOperation("wallet", Commit, 4, 0, RowOpKind.Truncate, new TableId("s", "t"), null, null, [], origin, 0, false),
            ["begin"] = new UnifiedBegin("wallet", Lsn.Parse("FFFFFFFF/FFFFFFFF"), Lsn.Parse("0/0"), 571, 1700000000000, TransactionKind.Snapshot, "s1"),
            ["commit"] = new UnifiedCommit("wallet", Commit, Lsn.Parse("16/B374D8A0"), 571, 1700000000000, 3),
            ["progress"] = new UnifiedProgress("wallet", Lsn.Parse("1/0"), 812),
            ["park"] = new ParkedChange("wallet", Commit, 3, new TableId("public", "rows"), new JsonObject { ["id"] = 1 }, new TableId("t", "u"), "why", "{\"before\":null}", 5),
        };
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void every_event_kind_decodes_as_the_node_decoder_did(string kind)
    {
        var bytes = UnifiedEventCodec.Write(Events()[kind]);
        var fast = UnifiedEventCodec.Read(bytes);
        var reference = UnifiedEventCodec.ReadNodes(bytes);
        Assert.Equal(reference.GetType(), fast.GetType());
        Assert.Equal(UnifiedEventCodec.Write(reference), UnifiedEventCodec.Write(fast));
        Assert.Equal(bytes, UnifiedEventCodec.Write(fast));
        if (fast is RowOperation f && reference is RowOperation r)
        {
            Assert.Equal((r.Source, r.CommitLsn, r.Seq, r.Sub, r.Op, r.Table, r.TsMs, r.Snapshot, r.Claim, r.Origin.Table),
                (f.Source, f.CommitLsn, f.Seq, f.Sub, f.Op, f.Table, f.TsMs, f.Snapshot, f.Claim, f.Origin.Table));
            Assert.Equal(r.Unchanged, f.Unchanged);
            Assert.True(JsonNode.DeepEquals(r.Key, f.Key));
            Assert.True(JsonNode.DeepEquals(r.Row, f.Row));
            Assert.True(JsonNode.DeepEquals(r.Origin.Key, f.Origin.Key));
            Assert.Equal(r.Rows?.Count, f.Rows?.Count);
            for (var i = 0; i < (r.Rows?.Count ?? 0); i++)
            {
                Assert.True(JsonNode.DeepEquals(r.Rows![i], f.Rows![i]));
                Assert.Null(f.Rows[i].Parent);
            }

            // NULL vs absent, and every value's kind and text, column by column.
            foreach (var (name, value) in r.Row ?? [])
            {
                Assert.True(f.Row!.TryGetPropertyValue(name, out var other), name);
                Assert.Equal(value?.GetValueKind(), other?.GetValueKind());
                Assert.Equal(value?.ToJsonString(), other?.ToJsonString());
            }

            Assert.Equal(r.Row?.Count, f.Row?.Count);
            // Detached: the objects can be put into another object, as the Sink's writer does.
            Assert.Null(f.Key?.Parent);
            Assert.Null(f.Row?.Parent);
            Assert.Null(f.Origin.Key.Parent);
        }
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("{\"type\":\"row\"}")]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1,\"sub\":0,\"op\":\"upsert\",\"schema\":\"p\",\"table\":\"t\",\"key\":{\"id\":1},\"row\":{\"id\":1},\"ts_ms\":1}")]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1,\"sub\":0,\"op\":\"upsert\",\"schema\":\"p\",\"table\":\"t\",\"key\":{\"id\":1},\"row\":{\"id\":1},\"origin\":{\"schema\":\"p\",\"table\":\"t\",\"key\":{}},\"ts_ms\":1} x")]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1.5,\"sub\":0,\"op\":\"upsert\",\"schema\":\"p\",\"table\":\"t\",\"key\":{\"id\":1},\"row\":{\"id\":1},\"origin\":{\"schema\":\"p\",\"table\":\"t\",\"key\":{}},\"ts_ms\":1}")]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1,\"sub\":0,\"op\":\"merge\",\"schema\":\"p\",\"table\":\"t\",\"key\":{\"id\":1},\"row\":{\"id\":1},\"origin\":{\"schema\":\"p\",\"table\":\"t\",\"key\":{}},\"ts_ms\":1}")]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1,\"sub\":0,\"op\":\"upsert\",\"schema\":\"p\",\"table\":\"t\",\"key\":{\"id\":1},\"row\":{\"id\":1},\"unchanged\":[null],\"origin\":{\"schema\":\"p\",\"table\":\"t\",\"key\":{}},\"ts_ms\":1}")]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1,\"sub\":0,\"op\":\"upsert\",\"schema\":\"p\",\"table\":\"t\",\"key\":{\"id\":1},\"row\":{\"id\":1},\"unchanged\":[5],\"origin\":{\"schema\":\"p\",\"table\":\"t\",\"key\":{}},\"ts_ms\":1}")]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1,\"sub\":0,\"op\":\"replace\",\"schema\":\"p\",\"table\":\"t\",\"key\":null,\"row\":null,\"rows\":[{\"id\":1},3],\"origin\":{\"schema\":\"p\",\"table\":\"t\",\"key\":{}},\"ts_ms\":1}")]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1,\"sub\":0,\"op\":\"upsert\",\"schema\":\"p\",\"table\":\"t\",\"key\":{\"id\":1},\"row\":{\"id\":1},\"origin\":{\"schema\":\"p\",\"table\":\"t\",\"key\":{}},\"ts_ms\":1,\"claim\":{\"mode\":\"vote\",\"rank\":1}}")]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1,\"sub\":0,\"op\":\"upsert\",\"schema\":\"p\",\"table\":\"t\",\"key\":5,\"row\":[1],\"origin\":{\"schema\":\"p\",\"table\":\"t\",\"key\":3},\"ts_ms\":1,\"snapshot\":\"yes\",\"unchanged\":\"x\",\"rows\":7,\"claim\":2}")]
    [InlineData("{\"type\":\"row\",\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1,\"sub\":0,\"op\":\"upsert\",\"schema\":\"p\",\"table\":\"t\",\"key\":{\"id\":1},\"row\":{\"id\":1},\"origin\":{\"schema\":\"p\",\"table\":\"t\",\"key\":{}},\"ts_ms\":1}")]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1,\"seq\":2,\"sub\":0,\"op\":\"upsert\",\"schema\":\"p\",\"table\":\"t\",\"key\":{\"id\":1},\"row\":{\"id\":1},\"origin\":{\"schema\":\"p\",\"table\":\"t\",\"key\":{}},\"ts_ms\":1}")]
    [InlineData("{\"type\":\"mystery\",\"source\":\"s\",\"commit_lsn\":\"0/1\"}")]
    [InlineData("{\"type\":\"begin\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"prev_end_lsn\":\"0/0\",\"txid\":1,\"ts_ms\":1,\"kind\":\"stream\",\"session\":\"s\"}")]
    public void a_malformed_or_odd_value_gets_the_same_answer_from_both_decoders(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        UnifiedEvent? fast = null, reference = null;
        Exception? fastError = null, referenceError = null;
        try
        {
            fast = UnifiedEventCodec.Read(bytes);
        }
        catch (Exception e)
        {
            fastError = e;
        }

        try
        {
            reference = UnifiedEventCodec.ReadNodes(bytes);
        }
        catch (Exception e)
        {
            referenceError = e;
        }

        Assert.Equal(referenceError?.GetType(), fastError?.GetType());
        if (fastError is not null)
        {
            Assert.IsType<FormatException>(fastError);
        }
        else
        {
            Assert.Equal(UnifiedEventCodec.Write(reference!), UnifiedEventCodec.Write(fast!));
        }
    }
}
