using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Tests.Unit;

public sealed class IdentityMappingTests
{
    private static readonly IdentityMapping Mapping = new("t", new HashSet<string> { "s" });

    private static RawChange Change(ChangeOp op, JsonObject? key, JsonObject? before, JsonObject? after, params string[] unchanged) =>
        new("s", "db", new TableId("public", "accounts"), op, new SourcePosition(Lsn.Parse("0/1"), 1), Lsn.Parse("0/1"), 1, 0, false,
            key, before, after, unchanged);

    [Fact]
    public void key_change_is_a_delete_of_the_old_key_and_an_upsert_of_the_new()
    {
        var output = new MappingOutput();
        Mapping.Map(Change(ChangeOp.Update, new JsonObject { ["id"] = 2 }, new JsonObject { ["id"] = 1 }, new JsonObject { ["id"] = 2, ["v"] = "x" }), output);
        Assert.Collection(output.Operations,
            d => { Assert.Equal(RowOpKind.Delete, d.Op); Assert.Equal(1, d.Key!["id"]!.GetValue<int>()); },
            u => { Assert.Equal(RowOpKind.Upsert, u.Op); Assert.Equal(2, u.Key!["id"]!.GetValue<int>()); Assert.Equal(1, u.Sub); });
    }

    [Fact]
    public void unchanged_columns_travel_with_the_upsert()
    {
        var output = new MappingOutput();
        Mapping.Map(Change(ChangeOp.Update, new JsonObject { ["id"] = 1 }, null, new JsonObject { ["id"] = 1, ["v"] = "x" }, "doc"), output);
        Assert.Equal(["doc"], output.Operations.Single().Unchanged);
    }

    [Fact]
    public void keyless_insert_appends_and_a_keyless_update_is_refused_with_its_reason()
    {
        var output = new MappingOutput();
        Mapping.Map(Change(ChangeOp.Create, null, null, new JsonObject { ["what"] = "x" }), output);
        Assert.Equal(RowOpKind.Insert, output.Operations.Single().Op);
        var e = Assert.Throws<MappingException>(() => Mapping.Map(Change(ChangeOp.Update, null, null, new JsonObject { ["what"] = "y" }), new MappingOutput()));
        Assert.Contains("append-only", e.Message);
    }
}
