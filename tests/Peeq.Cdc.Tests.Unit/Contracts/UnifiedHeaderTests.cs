using System.Text;
using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Tests.Unit.Contracts;

/// <summary>
/// <see cref="UnifiedEventCodec.ReadHeader"/>: what the Sink's consumer reads of an event it queues encoded (type, source,
/// position) equals what the full decode gives, for every event kind; a value the consumer must dead-letter fails the
/// header as it fails the full decode; one whose header reads but whose body does not is left to the apply loop.
/// </summary>
public sealed class UnifiedHeaderTests
{
    private static readonly Lsn Commit = Lsn.Parse("16/B374D848");
    private static readonly RowOrigin Origin = new(new TableId("public", "wallet \"tx\""), new JsonObject { ["id"] = 5, ["part"] = "ü" });

    public static TheoryData<string> Kinds() => new(Events().Keys);

    private static Dictionary<string, UnifiedEvent> Events() => new()
    {
        ["upsert"] = new RowOperation("wallet", Commit, 7, 1, RowOpKind.Upsert, new TableId("public", "rows"), new JsonObject { ["id"] = 1 },
            new JsonObject { ["id"] = 1, ["nested"] = new JsonObject { ["seq"] = 99, ["source"] = "not me" }, ["a"] = new JsonArray(1, null) }, ["notes"], Origin, 17, false,
            null, new ConflictClaim(ConflictMode.Priority, 2)),
        ["replace"] = new RowOperation("wallet", Commit, 8, 0, RowOpKind.Replace, new TableId("public", "rows"), null, null, [], Origin, 1, true,
            [new JsonObject { ["id"] = 2 }]),
        ["delete"] = new RowOperation("wallet", Lsn.Zero, 0, 0, RowOpKind.Delete, new TableId("s", "t"), new JsonObject { ["id"] = 1 }, null, [], Origin, 0, false),
        ["begin"] = new UnifiedBegin("wallet", Lsn.Parse("FFFFFFFF/FFFFFFFF"), Lsn.Parse("0/0"), 571, 1700000000000, TransactionKind.Snapshot, "s1"),
        ["commit"] = new UnifiedCommit("wallet", Commit, Lsn.Parse("16/B374D8A0"), 571, 1700000000000, 3),
        ["progress"] = new UnifiedProgress("wallet", Lsn.Parse("1/0"), 812),
        ["park"] = new ParkedChange("wallet", Commit, 3, new TableId("public", "rows"), new JsonObject { ["id"] = 1 }, null, "why", "{}", 5),
        ["schema"] = new TableSchemaChange("wallet", Commit, 4, new TableId("public", "rows"), new TableId("public", "rows"), [new SchemaColumn("id", "bigint", true)], 5),
        ["table_state"] = new TableStateChange("wallet", Commit, 5, new TableId("public", "rows"), "parked", "a reason", 5),
    };

    private static SourcePosition PositionOf(UnifiedEvent e) => e switch
    {
        UnifiedBegin b => new(b.CommitLsn, 0),
        RowOperation r => r.Position,
        ParkedChange p => new(p.CommitLsn, p.Seq),
        TableSchemaChange sc => new(sc.CommitLsn, sc.Seq),
        TableStateChange ts => new(ts.CommitLsn, ts.Seq),
        UnifiedProgress pr => pr.Position,
        UnifiedCommit c => new(c.CommitLsn, long.MaxValue),
        _ => throw new ArgumentException(e.GetType().Name),
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void the_header_of_every_event_kind_is_what_the_full_decode_gives(string kind)
    {
        var bytes = UnifiedEventCodec.Write(Events()[kind]);
        var header = UnifiedEventCodec.ReadHeader(bytes);
        var full = UnifiedEventCodec.Read(bytes);
        Assert.Equal(full.Source, header.Source);
        Assert.Equal(PositionOf(full), header.Position);
        Assert.Equal(JsonNode.Parse(bytes)!["type"]!.GetValue<string>(), header.Type);
    }

    [Fact]
    public void fields_in_another_order_and_nested_look_alikes_do_not_confuse_the_header()
    {
        var text = """{"row":{"source":"inner","seq":1,"commit_lsn":"0/1"},"seq":42,"origin":{"schema":"s","table":"t","key":{}},"commit_lsn":"2/10","source":"outer","type":"row"}""";
        var header = UnifiedEventCodec.ReadHeader(Encoding.UTF8.GetBytes(text));
        Assert.Equal(new UnifiedHeader("row", "outer", new SourcePosition(Lsn.Parse("2/10"), 42)), header);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("{\"type\":\"row\"}")]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\"}")]
    [InlineData("{\"type\":\"mystery\",\"source\":\"s\",\"commit_lsn\":\"0/1\"}")]
    [InlineData("{\"type\":\"begin\",\"source\":5,\"commit_lsn\":\"0/1\"}")]
    [InlineData("{\"type\":\"begin\",\"source\":\"s\",\"commit_lsn\":\"not-an-lsn\"}")]
    [InlineData("{\"status\":\"BEGIN\",\"source\":\"s\",\"commit_lsn\":\"0/1\"}")]
    public void a_value_the_consumer_dead_letters_fails_the_header_and_the_full_decode(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Assert.Throws<FormatException>(() => UnifiedEventCodec.ReadHeader(bytes));
        Assert.Throws<FormatException>(() => UnifiedEventCodec.Read(bytes));
    }

    [Theory]
    [InlineData("{\"type\":\"row\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"seq\":1,\"sub\":0,\"op\":\"upsert\",\"schema\":\"public\",\"table\":\"t\",\"key\":{\"id\":1},\"row\":{\"id\":1},\"ts_ms\":1,\"snapshot\":false}")]
    [InlineData("{\"type\":\"begin\",\"source\":\"s\",\"commit_lsn\":\"0/1\"} trailing")]
    [InlineData("{\"type\":\"commit\",\"source\":\"s\",\"commit_lsn\":\"0/1\",\"end_lsn\":\"x\"}")]
    public void a_value_whose_header_reads_but_whose_body_does_not_is_found_by_the_full_decode(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Assert.Equal("s", UnifiedEventCodec.ReadHeader(bytes).Source);
        Assert.Throws<FormatException>(() => UnifiedEventCodec.Read(bytes));
    }
}
