using System.Text.Json.Nodes;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Transform.Mapping;
using Peeq.Cdc.Workload;
using Peeq.Cdc.Workload.Seeding;

namespace Peeq.Cdc.Tests.Unit;

public sealed class LegacyWorldTests
{
    [Fact]
    public void prng_streams_are_fixed_functions_of_seed_kind_and_index()
    {
        // Pinned values: a change here changes every seeded database (and every checksum users compare).
        var r = Prng.For(1, "fan", 0);
        Assert.Equal(Prng.For(1, "fan", 0).Next(), r.Next());
        Assert.Equal("c360c2cd-229a-42cf-a312-c28f4a1da2ba", PinnedUuid());
        Assert.NotEqual(Prng.For(1, "fan", 1).Next(), Prng.For(1, "fan", 0).Next());
        Assert.NotEqual(Prng.For(2, "fan", 0).Next(), Prng.For(1, "fan", 0).Next());
        Assert.NotEqual(Prng.For(1, "celebrity", 0).Next(), Prng.For(1, "fan", 0).Next());
        var u = Prng.For(7, "x", 3).Uuid().ToString();
        Assert.Equal('4', u[14]);
        Assert.Contains(u[19], "89ab");
    }

    private static string PinnedUuid() => Prng.For(1, "fan", 0).Uuid().ToString();

    [Fact]
    public void scale_one_is_the_seeds_volumes()
    {
        var u = new SeedUniverse(1, 1);
        Assert.Equal(100_000, u.Fans);
        Assert.Equal(5_000, u.Celebrities);
        Assert.Equal(500, u.Groups);
        Assert.Equal(500_000, u.MediaFiles);
        Assert.Equal(50_000, u.Shoutouts);
        Assert.Equal(10_000, u.Livestreams);
        Assert.Equal(100_000, u.Items);
        Assert.Equal(100_000, u.Wallets);
        Assert.Equal(2_000_000, u.Purchases);
        Assert.Equal(10_000, u.ExchangeRates);
        Assert.Equal(5_000, u.Subscriptions);
        var small = new SeedUniverse(1, 0.0001);
        Assert.True(small.Celebrities < small.Fans && small.ContentFiles <= small.MediaFiles && small.Streams <= small.Broadcasts);
    }

    [Fact]
    public void celebrities_who_are_also_fans_keep_the_fans_id()
    {
        var u = new SeedUniverse(1, 0.01);
        var fans = Enumerable.Range(0, u.Fans).Select(u.FanId).ToHashSet();
        var both = Enumerable.Range(0, u.Celebrities).Where(c => fans.Contains(u.CelebrityId(c))).ToList();
        Assert.Equal(Enumerable.Range(0, u.Celebrities).Where(SeedUniverse.IsFanToo), both);
        Assert.Equal(u.Celebrities, Enumerable.Range(0, u.Celebrities).Select(u.CelebrityId).Distinct().Count());
    }

    [Fact]
    public void servers_can_be_one_for_all_or_per_domain_or_database()
    {
        var world = LegacyWorld.FromArguments(
            ["Host=a;Username=postgres", "commerce=Host=b;Username=postgres", "wallet=Host=c;Username=postgres;Database=ignored"], "legacy_");
        Assert.Contains("Host=a", world.ConnectionString("fan"));
        Assert.Contains("Database=legacy_group_profile", world.ConnectionString("group-profile"));
        Assert.Contains("Host=b", world.ConnectionString("inventory"));
        Assert.Contains("Host=c", world.ConnectionString("wallet"));
        Assert.Contains("Database=legacy_wallet", world.ConnectionString("wallet"));
        Assert.Contains("Database=postgres", world.ServerConnectionString(LegacyCatalog.Get("fan")));
        Assert.Contains("no server for legacy database", Assert.Throws<ArgumentException>(() => LegacyWorld.FromArguments(["commerce=Host=b"])).Message);
        Assert.Contains("prefix", Assert.Throws<ArgumentException>(() => LegacyWorld.OnOneServer("Host=a", "Bad-Prefix")).Message);
    }

    [Fact]
    public void servers_file_maps_names_to_connection_strings_with_environment_references()
    {
        Environment.SetEnvironmentVariable("PEEQ_UNIT_PG_PASSWORD", "pw");
        var path = Path.Combine(Path.GetTempPath(), $"peeq-servers-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "default: Host=a;Username=postgres;Password=${PEEQ_UNIT_PG_PASSWORD}\nencryption: Host=vault;Username=postgres\n");
        var world = LegacyWorld.FromFile(path);
        Assert.Contains("Password=pw", world.ConnectionString("celebrity"));
        Assert.Contains("Host=vault", world.ConnectionString("dwolla"));
        File.WriteAllText(path, "default: Host=a;Password=${PEEQ_UNIT_UNSET_VARIABLE}\n");
        Assert.Contains("PEEQ_UNIT_UNSET_VARIABLE is not set", Assert.Throws<ArgumentException>(() => LegacyWorld.FromFile(path)).Message);
    }

    [Fact]
    public void the_catalogue_lists_every_table_of_every_schema()
    {
        Assert.Equal(22, LegacyCatalog.Databases.Count);
        Assert.Equal(57, LegacyCatalog.Databases.Sum(d => d.Tables.Count));
        Assert.Equal(["fan_profiles", "fan_follows", "fan_follow_changes"], LegacyCatalog.Get("fan").Tables);
        Assert.Equal("legacy_notification_service", LegacyCatalog.Get("notification-service").DatabaseName("legacy_"));
        Assert.All(LegacyCatalog.Databases, d => Assert.All(d.FinancialTables, t => Assert.Contains(t, d.Tables)));
    }
}

public sealed class TargetSchemaTests
{
    private static RawChange Change(string source, ChangeOp op, JsonObject? key, JsonObject? after) =>
        new(source, "db", new TableId("public", "vault_namespaces"), op, new SourcePosition(Lsn.Parse("0/1"), 1), Lsn.Parse("0/1"), 1, 0, false,
            key, null, after, []);

    [Fact]
    public void identity_mapping_puts_each_source_in_its_target_schema()
    {
        var mapping = new IdentityMapping("vault", new Dictionary<string, string?> { ["encryption"] = "legacy_encryption", ["dwolla"] = "legacy_dwolla", ["plain"] = null });
        var output = new MappingOutput();
        var key = new JsonObject { ["namespace_id"] = "general/a" };
        mapping.Map(Change("encryption", ChangeOp.Create, key, new JsonObject { ["namespace_id"] = "general/a" }), output);
        mapping.Map(Change("dwolla", ChangeOp.Delete, key, null), output);
        mapping.Map(Change("plain", ChangeOp.Create, key, new JsonObject { ["namespace_id"] = "general/a" }), output);
        mapping.Map(Change("dwolla", ChangeOp.Truncate, null, null), output);
        Assert.Equal(
            [new TableId("legacy_encryption", "vault_namespaces"), new TableId("legacy_dwolla", "vault_namespaces"), new TableId("public", "vault_namespaces"), new TableId("legacy_dwolla", "vault_namespaces")],
            output.Operations.Select(o => o.Table));
        // The origin stays the source table: lineage and reconciliation trace back to it.
        Assert.All(output.Operations, o => Assert.Equal(new TableId("public", "vault_namespaces"), o.Origin.Table));
        Assert.False(mapping.Handles("other", new TableId("public", "vault_namespaces")));
    }

    [Fact]
    public void source_options_give_the_identity_target_table()
    {
        var s = new SourceOptions { TargetSchema = "legacy_wallet" };
        Assert.Equal(new TableId("legacy_wallet", "create_transaction"), s.IdentityTarget(TableId.Parse("public.create_transaction")));
        Assert.Equal(TableId.Parse("app.t"), new SourceOptions().IdentityTarget(TableId.Parse("app.t")));
    }

    [Fact]
    public void target_schema_is_read_from_the_config_file_and_checked()
    {
        const string yaml = """
            kafka:
              bootstrapServers: localhost:9092
            sources:
              - name: wallet
                connectionString: Host=legacy;Database=wallet;Username=capture
                target: commerce
                targetSchema: legacy_wallet
                tables: [balance_transaction]
            targets:
              - name: commerce
                connectionString: Host=target;Database=peeq_commerce;Username=sink
            """;
        var path = Path.Combine(Path.GetTempPath(), $"peeq-unit-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        Assert.Equal("legacy_wallet", PipelineConfig.Load(path).Options.Sources.Single().TargetSchema);
        File.WriteAllText(path, yaml.Replace("targetSchema: legacy_wallet", "targetSchema: peeq_cdc"));
        var e = Assert.Throws<ConfigurationException>(() => PipelineConfig.Load(path));
        Assert.Contains("sources[0].targetSchema", e.Message);
        Assert.Contains("pipeline's own schema", e.Message);
    }
}
