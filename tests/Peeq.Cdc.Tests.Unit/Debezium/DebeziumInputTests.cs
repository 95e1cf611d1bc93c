using System.Text.Json.Nodes;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Tests.Unit.Mapping;
using Peeq.Cdc.Transform.Debezium;
using Peeq.Cdc.Transform.Mapping;
using Peeq.Cdc.Transform.Mapping.Declarative;
using Peeq.Cdc.Transform.Mapping.Language;

namespace Peeq.Cdc.Tests.Unit.Debezium;

/// <summary>Debezium's PostgreSQL envelopes (fixtures/README.md) decoded and mapped like Capture's events.</summary>
public sealed class DebeziumInputTests
{
    private static byte[] Fixture(string name) => File.ReadAllBytes(Path.Combine(SchemaFiles.Root, "tests", "Peeq.Cdc.Tests.Unit", "Debezium", "fixtures", name));

    private static DeclarativeMapping Bound(string file)
    {
        var f = MappingFile.Load(Path.Combine(SchemaFiles.Root, "mappings", file), "mappings/" + file);
        return DeclarativeMapping.Bind(f.Target, f, SchemaFiles.CatalogFor(f), out _);
    }

    private static readonly DeclarativeMapping Commerce = Bound("peeq_commerce.yaml");

    private static DebeziumEnvelope.ColumnTypes TypesOf(DeclarativeMapping m, string source) => (t, c) => m.SourceColumnType(source, t, c);

    [Fact]
    public void insert_with_schemas_decodes_precise_decimal_uuid_json_and_zoned_timestamp()
    {
        var d = DebeziumEnvelope.Read("wallet", Fixture("wallet.create_transaction.insert.schema.json"), Fixture("wallet.create_transaction.key.schema.json"), (_, _) => null)!;
        var c = d.Change;
        Assert.Equal((ChangeOp.Create, "public.create_transaction"), (c.Op, c.Table.ToString()));
        Assert.Equal("10.5000", c.After!["amount"]!.GetValue<string>());
        Assert.Equal("2024-03-01 10:00:00.123456+00", c.After["created_on"]!.GetValue<string>());
        Assert.Equal("{\"channel\": \"app\"}", c.After["meta_data"]!.GetValue<string>());
        Assert.Equal(42, c.Key!["id"]!.GetValue<long>());
        Assert.Equal((24023119UL, 24023128UL, 555L, "555:24023128"), (d.CommitOrder, d.Lsn, d.TxId, d.TransactionId));

        var output = new MappingOutput();
        Commerce.Map(c, output);
        var tx = output.Operations.Single(o => o.Table.Name == "transactions");
        Assert.Equal(1050, tx.Row!["amount"]!.GetValue<long>());
        Assert.Equal("2024-03-01 10:00:00.123456", tx.Row["created_on"]!.GetValue<string>());
        Assert.Equal("Zoë's birthday shoutout 🎂", tx.Row["description"]!.GetValue<string>());
    }

    [Fact]
    public void without_schemas_the_numeric_scale_comes_from_the_source_catalog()
    {
        var d = DebeziumEnvelope.Read("wallet", Fixture("wallet.balance_transaction.update.noschema.json"), null, TypesOf(Commerce, "wallet"))!;
        Assert.Equal("-0.0001", d.Change.After!["balance"]!.GetValue<string>());
        Assert.Equal("2024-03-01 10:00:00.5+00", d.Change.After["updated_at"]!.GetValue<string>());
        // -0.0001 is not a whole number of cents: parked, never rounded.
        var e = Assert.Throws<MappingException>(() => Commerce.Map(d.Change with { Key = new JsonObject { ["id"] = 7 } }, new MappingOutput()));
        Assert.Contains("lossy cast", e.Message);
    }

    [Fact]
    public void unavailable_toast_values_become_unchanged_and_are_never_written()
    {
        var media = Bound("peeq_media.yaml");
        var d = DebeziumEnvelope.Read("media", Fixture("media.files.update.toast.noschema.json"), null, TypesOf(media, "media"))!;
        Assert.Equal(["media_info", "mux_info"], d.Change.Unchanged);
        Assert.False(d.Change.After!.ContainsKey("mux_info"));
        Assert.Equal("1005.00", d.Change.After["price"]!.GetValue<string>());
        var output = new MappingOutput();
        media.Map(d.Change with { Key = new JsonObject { ["content_id"] = "5d0c3a8e-9b1f-4c2d-8e7a-6f5b4c3d2e1f" } }, output);
        var op = Assert.Single(output.Operations);
        Assert.Equal(["mux_info", "media_info"], op.Unchanged);
        Assert.False(op.Row!.ContainsKey("mux_info"));
        Assert.DoesNotContain("__debezium", op.Row.ToJsonString(), StringComparison.Ordinal);

        var tags = Bound("peeq_platform.yaml");
        var t = DebeziumEnvelope.Read("tags", Fixture("tags.tags.update.toast-array.noschema.json"), null, TypesOf(tags, "tags"))!;
        Assert.Equal(["keywords"], t.Change.Unchanged);
        Assert.Equal("2024-03-01 09:00:00+00", t.Change.After!["created_on"]!.GetValue<string>());
    }

    [Fact]
    public void delete_snapshot_read_and_variable_scale_decimal_decode()
    {
        var users = Bound("peeq_users.yaml");
        var del = DebeziumEnvelope.Read("fan", Fixture("fan.fan_follows.delete.noschema.json"), null, TypesOf(users, "fan"))!;
        var output = new MappingOutput();
        users.Map(del.Change with { Key = new JsonObject { ["id"] = "0cc175b9c0f1b6a831c399e269772661" } }, output);
        Assert.Equal((RowOpKind.Delete, "0cc175b9-c0f1-b6a8-31c3-99e269772661"), (output.Operations.Single().Op, output.Operations.Single().Key!["id"]!.GetValue<string>()));

        var read = DebeziumEnvelope.Read("group-profile", Fixture("group-profile.group_profiles.read.schema.json"), null, (_, _) => null)!;
        Assert.True(read.Change.Snapshot);
        Assert.True(read.Last);
        Assert.Equal((ChangeOp.Read, "2024-03-01 10:00:00.123456"), (read.Change.Op, read.Change.After!["created_on"]!.GetValue<string>()));
        Assert.Equal(60000000UL, read.CommitOrder);

        var variable = DebeziumEnvelope.Read("class-catalog", Fixture("class-catalog.sessions.variable-scale.noschema.json"), null,
            (_, c) => c == "price" ? SqlType.Parse("numeric") : null)!;
        Assert.Equal("123456.789", variable.Change.After!["price"]!.GetValue<string>());
    }

    [Fact]
    public void with_transaction_metadata_a_transaction_is_passed_on_whole_once_its_end_and_events_arrived()
    {
        var assembler = new DebeziumAssembler("wallet", Commerce, transactions: true, TimeSpan.FromMinutes(10),
            new HashSet<string> { "public.create_transaction", "public.balance_transaction" }, Lsn.Parse("0/100"));
        var now = DateTime.UtcNow;
        var insert = DebeziumEnvelope.Read("wallet", Fixture("wallet.create_transaction.insert.schema.json"), Fixture("wallet.create_transaction.key.schema.json"), TypesOf(Commerce, "wallet"))!;
        var balanceBytes = System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(Fixture("wallet.balance_transaction.update.noschema.json")).Replace("/w==", "AJiqCA==", StringComparison.Ordinal));
        var balance = DebeziumEnvelope.Read("wallet", balanceBytes, null, TypesOf(Commerce, "wallet"))!;
        balance = balance with { Change = balance.Change with { Key = new JsonObject { ["id"] = 7 } } };

        assembler.AddChange(balance, "wallet.public.balance_transaction/0", 10, now, balanceBytes);
        Assert.Empty(assembler.Release(now));
        assembler.AddTransaction(DebeziumEnvelope.ReadTransaction(Fixture("wallet.transaction.begin.json")), "wallet.transaction/0", 3);
        assembler.AddTransaction(DebeziumEnvelope.ReadTransaction(Fixture("wallet.transaction.end.json")), "wallet.transaction/0", 4);
        Assert.Empty(assembler.Release(now)); // create_transaction's event is still missing
        assembler.AddChange(insert, "wallet.public.create_transaction/0", 20, now, Fixture("wallet.create_transaction.insert.schema.json"));
        var tx = Assert.Single(assembler.Release(now));
        var begin = Assert.IsType<UnifiedBegin>(tx.Events[0]);
        var commit = Assert.IsType<UnifiedCommit>(tx.Events[^1]);
        Assert.Equal(Lsn.Parse("0/16E904F"), begin.CommitLsn); // Debezium's last commit LSN 24023119, past the applied 0/100
        Assert.Equal(tx.Events.Count - 2, commit.Operations);
        var rows = tx.Events.OfType<RowOperation>().ToList();
        Assert.Equal(["transactions", "identity_map", "user_wallets"], rows.Select(r => r.Table.Name));
        Assert.Equal([1L, 1L, 2L], rows.Select(r => r.Seq));
        Assert.Equal(1000.50m * 100, rows[2].Row!["balance"]!.GetValue<long>());
        Assert.Equal(21, tx.Consumed["wallet.public.create_transaction/0"]);
        Assert.Equal(11, tx.Consumed["wallet.public.balance_transaction/0"]);
        Assert.Equal(5, tx.Consumed["wallet.transaction/0"]);
        Assert.Equal(0, assembler.Buffered);
    }

    [Fact]
    public void without_transaction_metadata_changes_go_in_position_order_after_the_lateness_window_and_failures_park()
    {
        var assembler = new DebeziumAssembler("wallet", Commerce, transactions: false, TimeSpan.FromSeconds(1),
            new HashSet<string>(), Lsn.Parse("0/30000000"));
        var t0 = DateTime.UtcNow;
        var balanceBytes = Fixture("wallet.balance_transaction.update.noschema.json");
        var later = DebeziumEnvelope.Read("wallet", balanceBytes, null, TypesOf(Commerce, "wallet"))!;
        later = later with { Change = later.Change with { Key = new JsonObject { ["id"] = 7 } } };
        var earlier = DebeziumEnvelope.Read("wallet", Fixture("wallet.create_transaction.insert.schema.json"), Fixture("wallet.create_transaction.key.schema.json"), TypesOf(Commerce, "wallet"))!;
        earlier = earlier with { CommitOrder = 24000000, TxId = 554 };
        assembler.AddChange(later, "b/0", 1, t0, balanceBytes);
        assembler.AddChange(earlier, "a/0", 1, t0.AddMilliseconds(500), Fixture("wallet.create_transaction.insert.schema.json"));
        Assert.Empty(assembler.Release(t0.AddMilliseconds(900)));
        // The later position is old enough, but the earlier one (from another table's topic) is not: order holds it back.
        Assert.Empty(assembler.Release(t0.AddMilliseconds(1200)));
        var all = assembler.Release(t0.AddMilliseconds(1600)).ToList();
        Assert.Equal(2, all.Count);
        Assert.Equal("create_transaction", all[0].Events.OfType<RowOperation>().First().Origin.Table.Name);
        var commits = all.Select(a => ((UnifiedBegin)a.Events[0]).CommitLsn).ToList();
        Assert.True(commits[0] < commits[1]);
        Assert.True(commits[0] > Lsn.Parse("0/30000000"));
        Assert.Contains(all.SelectMany(a => a.Events), e => e is ParkedChange p && p.Reason.Contains("lossy cast", StringComparison.Ordinal));
    }

    [Fact]
    public void a_source_with_sensitive_columns_cannot_use_debezium_input()
    {
        var o = new PipelineOptions
        {
            Kafka = new KafkaOptions { BootstrapServers = "embedded" },
            Targets = [new TargetOptions { Name = "enc", ConnectionString = "Host=h;Database=d" }],
            Sources =
            [
                new SourceOptions
                {
                    Name = "dwolla", ConnectionString = "Host=h;Database=d", Target = "enc", Tables = ["vault_namespaces"],
                    SensitiveColumns = ["vault_namespaces.private_key"], Input = "debezium",
                },
                new SourceOptions { Name = "tags", ConnectionString = "Host=h;Database=d", Target = "enc", Tables = ["tags"], Input = "kafka-connect" },
            ],
        };
        var errors = new PipelineOptionsValidator().Check(o);
        Assert.Contains(errors, e => e.Contains("sources[0].input") && e.Contains("cannot use Debezium input"));
        Assert.Contains(errors, e => e.Contains("sources[1].input") && e.Contains("not an input"));
    }
}
