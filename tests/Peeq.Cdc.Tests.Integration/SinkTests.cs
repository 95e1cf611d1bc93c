using System.Text.Json.Nodes;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration;

/// <summary>
/// The Sink alone, driven by unified events produced by hand: claims between sources, lookups, dangling
/// references, tombstones, end markers and the initial-load COPY path.
/// </summary>
public sealed class SinkTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly ConflictClaim Celebrity = new(ConflictMode.Priority, 1);
    private static readonly ConflictClaim Fan = new(ConflictMode.Priority, 2);
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    private static async Task<string> UsersTargetAsync(string name)
    {
        var target = await SharedPostgres.CreateDatabaseAsync(name);
        await SharedPostgres.ExecuteAsync(target, await File.ReadAllTextAsync(Path.Combine(Wait.RepoRoot(), "schemas", "target", "peeq_users.sql")));
        return target;
    }

    private static JsonObject Profile(string id, string type, string? name = null) => new()
    {
        ["id"] = id,
        ["keycloak_id"] = id,
        ["profile_type"] = type,
        ["created_on"] = "2024-01-01 00:00:00",
        ["display_name"] = name,
    };

    private static JsonObject Key(string id) => new() { ["id"] = id };

    [Fact]
    public async Task follow_arriving_before_its_profile_is_applied_at_once_and_shown_as_dangling_until_the_profile_arrives()
    {
        var target = await UsersTargetAsync("sink_dangling_dst");
        var options = UnifiedFeed.SinkOnly("dangling", target, _kafka.BootstrapServers, "fan", "celebrity");
        options.Targets[0].Database = "peeq_users";
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);
        using var fan = new UnifiedFeed(_kafka, options, "fan");
        using var celebrity = new UnifiedFeed(_kafka, options, "celebrity");
        const string fanId = "11111111-1111-1111-1111-111111111111";
        const string celebId = "22222222-2222-2222-2222-222222222222";
        const string followId = "33333333-3333-3333-3333-333333333333";

        var followed = fan.Transaction(t => t
            .Upsert("public.profiles", Key(fanId), Profile(fanId, "FAN"), Fan)
            .Upsert("public.fan_follows", Key(followId), new JsonObject
            {
                ["id"] = followId, ["fan_id"] = fanId, ["celebrity_id"] = celebId, ["followed_on"] = "2024-02-01 10:00:00", ["unfollowed_on"] = null, ["notifications"] = "[]",
            }));
        await UnifiedFeed.WaitAppliedAsync(target, "fan", followed);

        Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM fan_follows"));
        Assert.Equal(celebId, (await SharedPostgres.ScalarAsync<Guid>(target, "SELECT celebrity_id FROM peeq_cdc.dangling_fan_follows_celebrity")).ToString());
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.dangling_fan_follows_fan"));
        await Wait.ForAsync(() => Sink.SinkMetrics.Dangling.WithLabels("target", "fan_follows_celebrity").Value == 1, "the dangling gauge to show the follow");

        var arrived = celebrity.Transaction(t => t.Upsert("public.profiles", Key(celebId), Profile(celebId, "CELEBRITY", "Star"), Celebrity));
        await UnifiedFeed.WaitAppliedAsync(target, "celebrity", arrived);
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.dangling_fan_follows_celebrity"));
        await Wait.ForAsync(() => Sink.SinkMetrics.Dangling.WithLabels("target", "fan_follows_celebrity").Value == 0, "the dangling gauge to clear");
    }

    [Fact]
    public async Task person_who_is_fan_and_celebrity_shows_the_celebrity_and_falls_back_to_the_fan_profile_when_it_is_deleted()
    {
        var target = await UsersTargetAsync("sink_claims_dst");
        var options = UnifiedFeed.SinkOnly("claims", target, _kafka.BootstrapServers, "fan", "celebrity", "groups");
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);
        using var fan = new UnifiedFeed(_kafka, options, "fan");
        using var celebrity = new UnifiedFeed(_kafka, options, "celebrity");
        using var groups = new UnifiedFeed(_kafka, options, "groups");
        const string a = "aaaaaaaa-0000-0000-0000-000000000001";
        const string b = "bbbbbbbb-0000-0000-0000-000000000002";

        // a: the fan profile arrives first, then the celebrity one takes the key over.
        await UnifiedFeed.WaitAppliedAsync(target, "fan", fan.Transaction(t => t.Upsert("public.profiles", Key(a), Profile(a, "FAN", "fan a"), Fan)));
        await UnifiedFeed.WaitAppliedAsync(target, "celebrity", celebrity.Transaction(t => t.Upsert("public.profiles", Key(a), Profile(a, "CELEBRITY", "star a"), Celebrity)));
        // b: the celebrity first; the fan claim is shadowed at once.
        await UnifiedFeed.WaitAppliedAsync(target, "celebrity", celebrity.Transaction(t => t.Upsert("public.profiles", Key(b), Profile(b, "CELEBRITY", "star b"), Celebrity)));
        await UnifiedFeed.WaitAppliedAsync(target, "fan", fan.Transaction(t => t.Upsert("public.profiles", Key(b), Profile(b, "FAN", "fan b"), Fan)));
        // The fan edits b while shadowed: the shadow follows, the row does not.
        await UnifiedFeed.WaitAppliedAsync(target, "fan", fan.Transaction(t => t.Upsert("public.profiles", Key(b), Profile(b, "FAN", "fan b edited"), Fan)));
        // A claim without a rule on an owned key is parked.
        await UnifiedFeed.WaitAppliedAsync(target, "groups", groups.Transaction(t => t.Upsert("public.profiles", Key(a), Profile(a, "GROUP", "group a"))));

        Assert.Equal("CELEBRITY star a", await SharedPostgres.ScalarAsync<string>(target, $"SELECT profile_type || ' ' || display_name FROM profiles WHERE id = '{a}'"));
        Assert.Equal("CELEBRITY star b", await SharedPostgres.ScalarAsync<string>(target, $"SELECT profile_type || ' ' || display_name FROM profiles WHERE id = '{b}'"));
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.shadowed_claims WHERE source = 'fan'"));
        Assert.Equal("fan b edited", await SharedPostgres.ScalarAsync<string>(target, $"SELECT row->>'display_name' FROM peeq_cdc.shadowed_claims WHERE target_key->>'id' = '{b}'"));
        Assert.StartsWith("conflict:", await SharedPostgres.ScalarAsync<string>(target, "SELECT reason FROM peeq_cdc.parked_rows WHERE source = 'groups'"));

        // The celebrity profiles are deleted: the fan profiles appear, owned by fan now.
        await UnifiedFeed.WaitAppliedAsync(target, "celebrity", celebrity.Transaction(t => t.Delete("public.profiles", Key(a), Celebrity).Delete("public.profiles", Key(b), Celebrity)));
        Assert.Equal("FAN fan a", await SharedPostgres.ScalarAsync<string>(target, $"SELECT profile_type || ' ' || display_name FROM profiles WHERE id = '{a}'"));
        Assert.Equal("FAN fan b edited", await SharedPostgres.ScalarAsync<string>(target, $"SELECT profile_type || ' ' || display_name FROM profiles WHERE id = '{b}'"));
        var lineage = await SharedPostgres.ScalarAsync<string>(target, "SELECT lineage_table FROM peeq_cdc.lineage_tables WHERE target_table = 'public.profiles'");
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(target, $"SELECT count(*) FROM peeq_cdc.\"{lineage}\" WHERE source = 'fan' AND NOT deleted"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.shadowed_claims"));

        // And a replay of everything changes nothing (the rules hold against the target's state).
        await sink.StopAsync(Stages.Sink);
        var before = await TableComparer.DumpAsync(target, TableId.Parse("profiles"));
        options.Sink.Group = "replay";
        await using var again = new PipelineHarness(options, _kafka, output);
        var skipped = Sink.SinkMetrics.DuplicatesSkipped.WithLabels("celebrity").Value + Sink.SinkMetrics.DuplicatesSkipped.WithLabels("fan").Value;
        await again.StartAsync(Stages.Sink);
        await Wait.ForAsync(() => Sink.SinkMetrics.DuplicatesSkipped.WithLabels("celebrity").Value + Sink.SinkMetrics.DuplicatesSkipped.WithLabels("fan").Value >= skipped + 6,
            "the replay to be read");
        Assert.Equal(before, await TableComparer.DumpAsync(target, TableId.Parse("profiles")));
    }

    [Fact]
    public async Task lookup_unresolved_is_written_null_and_filled_in_when_its_identity_arrives()
    {
        var target = await SharedPostgres.CreateDatabaseAsync("sink_lookup_dst");
        await SharedPostgres.ExecuteAsync(target, "CREATE TABLE purchases (id bigint PRIMARY KEY, item_id uuid, note text)");
        var options = UnifiedFeed.SinkOnly("lookup", target, _kafka.BootstrapServers, "wallet", "inventory");
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);
        using var wallet = new UnifiedFeed(_kafka, options, "wallet");
        using var inventory = new UnifiedFeed(_kafka, options, "inventory");
        static JsonObject Item(string key) => new() { ["$lookup"] = new JsonObject { ["kind"] = "inventory_item_by_item_id", ["key"] = key } };

        await UnifiedFeed.WaitAppliedAsync(target, "wallet", wallet.Transaction(t => t
            .Upsert("public.purchases", new JsonObject { ["id"] = 1 }, new JsonObject { ["id"] = 1, ["item_id"] = Item("ITEM-1"), ["note"] = "first" })
            .Upsert("public.purchases", new JsonObject { ["id"] = 2 }, new JsonObject { ["id"] = 2, ["item_id"] = Item("ITEM-2"), ["note"] = "second" })
            .Upsert("public.purchases", new JsonObject { ["id"] = Item("ITEM-9") }, new JsonObject { ["id"] = Item("ITEM-9"), ["note"] = "a key cannot be looked up" })));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(item_id) FROM purchases"));
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.pending_lookups"));
        Assert.Contains("lookup cannot fill key column", await SharedPostgres.ScalarAsync<string>(target, "SELECT reason FROM peeq_cdc.parked_rows"));

        // Purchase 2 changes its item before the identity is known: the pending lookup follows the row.
        await UnifiedFeed.WaitAppliedAsync(target, "wallet", wallet.Transaction(t => t
            .Upsert("public.purchases", new JsonObject { ["id"] = 2 }, new JsonObject { ["id"] = 2, ["item_id"] = null, ["note"] = "no item any more" })));
        Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.pending_lookups"));

        var item = Guid.Parse("44444444-4444-4444-4444-444444444444");
        await UnifiedFeed.WaitAppliedAsync(target, "inventory", inventory.Transaction(t => t.Upsert("peeq_cdc.identity_map",
            new JsonObject { ["kind"] = "inventory_item_by_item_id", ["legacy_key"] = "ITEM-1" },
            new JsonObject { ["kind"] = "inventory_item_by_item_id", ["legacy_key"] = "ITEM-1", ["id"] = item.ToString(), ["source"] = "inventory" })));
        Assert.Equal(item, await SharedPostgres.ScalarAsync<Guid>(target, "SELECT item_id FROM purchases WHERE id = 1"));
        Assert.True(await SharedPostgres.ScalarAsync<bool>(target, "SELECT item_id IS NULL FROM purchases WHERE id = 2"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.pending_lookups"));

        // Known identities resolve at once.
        await UnifiedFeed.WaitAppliedAsync(target, "wallet", wallet.Transaction(t => t
            .Upsert("public.purchases", new JsonObject { ["id"] = 3 }, new JsonObject { ["id"] = 3, ["item_id"] = Item("ITEM-1"), ["note"] = "third" })));
        Assert.Equal(item, await SharedPostgres.ScalarAsync<Guid>(target, "SELECT item_id FROM purchases WHERE id = 3"));
    }

    [Fact]
    public async Task lookup_naming_another_target_is_resolved_from_that_targets_identity_map_and_filled_in_by_the_sweep()
    {
        var media = await SharedPostgres.CreateDatabaseAsync("sink_xlookup_media");
        var commerce = await SharedPostgres.CreateDatabaseAsync("sink_xlookup_commerce");
        await SharedPostgres.ExecuteAsync(media, "CREATE TABLE streams (id bigint PRIMARY KEY, item_id uuid, note text)");
        var options = UnifiedFeed.SinkOnly("xlookup", media, _kafka.BootstrapServers, "shoutout", "inventory");
        options.Targets[0].Name = "media";
        options.Targets.Add(new Peeq.Cdc.Configuration.TargetOptions { Name = "commerce", ConnectionString = commerce, CreateTables = false });
        options.Sources[0].Target = "media";
        options.Sources[1].Target = "commerce";
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);
        using var shoutout = new UnifiedFeed(_kafka, options, "shoutout");
        using var inventory = new UnifiedFeed(_kafka, options, "inventory");
        // The lookup names the commerce target by its database's name (the mapping says 'peeq_commerce'; here the
        // test database's name stands for it); "media" is the target being written.
        var commerceDb = new Npgsql.NpgsqlConnectionStringBuilder(commerce).Database!;
        JsonObject Item(string key, string? target) => new()
        {
            ["$lookup"] = target is null
                ? new JsonObject { ["kind"] = "inventory_item_by_item_id", ["key"] = key }
                : new JsonObject { ["kind"] = "inventory_item_by_item_id", ["key"] = key, ["target"] = target },
        };
        JsonObject Identity(string key, Guid id) => new() { ["kind"] = "inventory_item_by_item_id", ["legacy_key"] = key, ["id"] = id.ToString(), ["source"] = "inventory" };
        var known = Guid.Parse("55555555-5555-5555-5555-555555555555");
        var later = Guid.Parse("66666666-6666-6666-6666-666666666666");
        await UnifiedFeed.WaitAppliedAsync(commerce, "inventory", inventory.Transaction(t => t
            .Upsert("peeq_cdc.identity_map", new JsonObject { ["kind"] = "inventory_item_by_item_id", ["legacy_key"] = "ITEM-KNOWN" }, Identity("ITEM-KNOWN", known))));

        await UnifiedFeed.WaitAppliedAsync(media, "shoutout", shoutout.Transaction(t => t
            .Upsert("public.streams", new JsonObject { ["id"] = 1 }, new JsonObject { ["id"] = 1, ["item_id"] = Item("ITEM-KNOWN", commerceDb), ["note"] = "known there" })
            .Upsert("public.streams", new JsonObject { ["id"] = 2 }, new JsonObject { ["id"] = 2, ["item_id"] = Item("ITEM-LATER", "commerce"), ["note"] = "arrives later" })
            .Upsert("public.streams", new JsonObject { ["id"] = 3 }, new JsonObject { ["id"] = 3, ["item_id"] = Item("ITEM-KNOWN", null), ["note"] = "own map only" })
            .Upsert("public.streams", new JsonObject { ["id"] = 4 }, new JsonObject { ["id"] = 4, ["item_id"] = Item("ITEM-KNOWN", "no_such_target"), ["note"] = "unknown target" })));

        // Resolved at once from the other target's map; this target's own map does not answer for it.
        Assert.Equal(known, await SharedPostgres.ScalarAsync<Guid>(media, "SELECT item_id FROM streams WHERE id = 1"));
        Assert.True(await SharedPostgres.ScalarAsync<bool>(media, "SELECT item_id IS NULL FROM streams WHERE id = 2"));
        Assert.True(await SharedPostgres.ScalarAsync<bool>(media, "SELECT item_id IS NULL FROM streams WHERE id = 3"));
        Assert.Equal("commerce", await SharedPostgres.ScalarAsync<string>(media, "SELECT lookup_target FROM peeq_cdc.pending_lookups WHERE legacy_key = 'ITEM-LATER'"));
        Assert.Contains("no_such_target, which is not a configured target", await SharedPostgres.ScalarAsync<string>(media, "SELECT reason FROM peeq_cdc.parked_rows"));

        // The identity arrives in the other target: the sweep fills the value in; the local pending lookup stays.
        await UnifiedFeed.WaitAppliedAsync(commerce, "inventory", inventory.Transaction(t => t
            .Upsert("peeq_cdc.identity_map", new JsonObject { ["kind"] = "inventory_item_by_item_id", ["legacy_key"] = "ITEM-LATER" }, Identity("ITEM-LATER", later))));
        await Wait.ForAsync(async () => await SharedPostgres.ScalarAsync<bool>(media, "SELECT item_id IS NOT NULL FROM streams WHERE id = 2"), "the sweep to fill in stream 2's item");
        Assert.Equal(later, await SharedPostgres.ScalarAsync<Guid>(media, "SELECT item_id FROM streams WHERE id = 2"));
        Assert.Equal("ITEM-KNOWN", await SharedPostgres.ScalarAsync<string>(media, "SELECT string_agg(legacy_key, ',') FROM peeq_cdc.pending_lookups"));
    }

    [Fact]
    public async Task two_rows_of_one_source_claiming_one_key_park_the_second_instead_of_overwriting_the_first()
    {
        var target = await SharedPostgres.CreateDatabaseAsync("sink_origins_dst");
        await SharedPostgres.ExecuteAsync(target, "CREATE TABLE files (id uuid PRIMARY KEY, storage_url text)");
        var options = UnifiedFeed.SinkOnly("origins", target, _kafka.BootstrapServers, "content");
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);
        using var content = new UnifiedFeed(_kafka, options, "content");
        const string file = "77777777-7777-7777-7777-777777777777";
        const string other = "88888888-8888-8888-8888-888888888888";
        static JsonObject Row(string id, string url) => new() { ["id"] = id, ["storage_url"] = url };
        static JsonObject Origin(string storageKey) => new() { ["id"] = storageKey };

        // Two storage keys with one content_id, in separate transactions, then in one batch with a third key.
        await UnifiedFeed.WaitAppliedAsync(target, "content", content.Transaction(t => t.Upsert("public.files", Key(file), Row(file, "o/a"), originTable: "public.src_files", originKey: Origin("o/a"))));
        await UnifiedFeed.WaitAppliedAsync(target, "content", content.Transaction(t => t.Upsert("public.files", Key(file), Row(file, "o/b"), originTable: "public.src_files", originKey: Origin("o/b"))));
        await UnifiedFeed.WaitAppliedAsync(target, "content", content.Transaction(t => t
            .Upsert("public.files", Key(other), Row(other, "o/c"), originTable: "public.src_files", originKey: Origin("o/c"))
            .Upsert("public.files", Key(other), Row(other, "o/d"), originTable: "public.src_files", originKey: Origin("o/d"))
            .Delete("public.files", Key(other), originTable: "public.src_files", originKey: Origin("o/e"))));

        Assert.Equal("o/a", await SharedPostgres.ScalarAsync<string>(target, $"SELECT storage_url FROM files WHERE id = '{file}'"));
        Assert.Equal("o/c", await SharedPostgres.ScalarAsync<string>(target, $"SELECT storage_url FROM files WHERE id = '{other}'"));
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows WHERE reason LIKE 'conflict:%another row of source content%'"));

        // A delete from a row that does not own the key leaves it; the owner's own update and delete apply.
        await UnifiedFeed.WaitAppliedAsync(target, "content", content.Transaction(t => t.Delete("public.files", Key(file), originTable: "public.src_files", originKey: Origin("o/b"))));
        Assert.Equal("o/a", await SharedPostgres.ScalarAsync<string>(target, $"SELECT storage_url FROM files WHERE id = '{file}'"));
        await UnifiedFeed.WaitAppliedAsync(target, "content", content.Transaction(t => t.Upsert("public.files", Key(file), Row(file, "o/a2"), originTable: "public.src_files", originKey: Origin("o/a"))));
        Assert.Equal("o/a2", await SharedPostgres.ScalarAsync<string>(target, $"SELECT storage_url FROM files WHERE id = '{file}'"));
        await UnifiedFeed.WaitAppliedAsync(target, "content", content.Transaction(t => t.Delete("public.files", Key(file), originTable: "public.src_files", originKey: Origin("o/a"))));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, $"SELECT count(*) FROM files WHERE id = '{file}'"));
    }

    [Fact]
    public async Task transaction_without_its_end_marker_is_never_applied_and_its_complete_copy_applies_once()
    {
        var target = await SharedPostgres.CreateDatabaseAsync("sink_endmarker_dst");
        await SharedPostgres.ExecuteAsync(target, "CREATE TABLE moves (id int PRIMARY KEY, amount int NOT NULL); CREATE TABLE audit (what text)");
        var options = UnifiedFeed.SinkOnly("endmarker", target, _kafka.BootstrapServers, "src");
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);
        using var feed = new UnifiedFeed(_kafka, options, "src");
        void Moves(TxBuilder t)
        {
            t.Upsert("public.moves", new JsonObject { ["id"] = 1 }, new JsonObject { ["id"] = 1, ["amount"] = -100 });
            t.Upsert("public.moves", new JsonObject { ["id"] = 2 }, new JsonObject { ["id"] = 2, ["amount"] = 100 });
            t.Insert("public.audit", new JsonObject { ["what"] = "moved 100" });
        }

        var prev = feed.PrevEnd;
        var lsn = feed.Transaction(Moves, commit: false);
        await Task.Delay(1500);
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM moves"));

        // The stage restarted and produced the transaction again, whole this time, then the next one.
        feed.Replay(lsn, prev, Moves);
        var next = feed.Transaction(t => t.Insert("public.audit", new JsonObject { ["what"] = "after" }), commit: true);
        // The next one's chain link is the replayed transaction's end.
        await UnifiedFeed.WaitAppliedAsync(target, "src", lsn);
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT sum(amount) FROM moves"));
        Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM audit WHERE what = 'moved 100'"));
        Assert.True(Sink.SinkMetrics.Gaps.WithLabels("src", "missing_end").Value >= 1);
        _ = next;
    }

    [Fact]
    public async Task append_only_table_never_gets_a_row_twice_across_redelivery_and_replay()
    {
        var target = await SharedPostgres.CreateDatabaseAsync("sink_keyless_dst");
        await SharedPostgres.ExecuteAsync(target, "CREATE TABLE follow_changes (occurred_on timestamp NOT NULL, change jsonb)");
        var options = UnifiedFeed.SinkOnly("keyless", target, _kafka.BootstrapServers, "fan");
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);
        using var feed = new UnifiedFeed(_kafka, options, "fan");
        void Changes(TxBuilder t)
        {
            for (var i = 0; i < 50; i++)
            {
                t.Insert("public.follow_changes", new JsonObject { ["occurred_on"] = "2024-01-01 00:00:00", ["change"] = "{\"same\": true}" });
            }
        }

        var prev = feed.PrevEnd;
        var first = feed.Transaction(Changes);
        await UnifiedFeed.WaitAppliedAsync(target, "fan", first);
        // Redelivered (a replay from the slot produces the same transaction again), then a new one.
        feed.Replay(first, prev, Changes);
        var second = feed.Transaction(Changes);
        await UnifiedFeed.WaitAppliedAsync(target, "fan", second);
        Assert.Equal(100L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM follow_changes"));

        // The whole topic again from offset 0 (a new consumer group): nothing more.
        await sink.StopAsync(Stages.Sink);
        options.Sink.Group = "from-zero";
        await using var again = new PipelineHarness(options, _kafka, output);
        var skipped = Sink.SinkMetrics.DuplicatesSkipped.WithLabels("fan").Value;
        await again.StartAsync(Stages.Sink);
        await Wait.ForAsync(() => Sink.SinkMetrics.DuplicatesSkipped.WithLabels("fan").Value >= skipped + 2, "the topic to be read again");
        Assert.Equal(100L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM follow_changes"));
    }

    [Fact]
    public async Task tombstone_is_removed_only_after_retention_once_applied_and_no_snapshot_is_loading()
    {
        var target = await SharedPostgres.CreateDatabaseAsync("sink_tombstone_dst");
        await SharedPostgres.ExecuteAsync(target, "CREATE TABLE docs (id int PRIMARY KEY, body text)");
        var options = UnifiedFeed.SinkOnly("tombstone", target, _kafka.BootstrapServers, "src");
        options.Sink.TombstoneRetention = TimeSpan.FromSeconds(2);
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);
        using var feed = new UnifiedFeed(_kafka, options, "src");
        var created = feed.Transaction(t => t.Upsert("public.docs", new JsonObject { ["id"] = 1 }, new JsonObject { ["id"] = 1, ["body"] = "v1" }));
        await UnifiedFeed.WaitAppliedAsync(target, "src", created);
        var lineage = await SharedPostgres.ScalarAsync<string>(target, "SELECT lineage_table FROM peeq_cdc.lineage_tables WHERE target_table = 'public.docs'");

        // A live row's own newer change leaves its lineage updated_at as it was (clean-up reads it of tombstones only),
        // so the lineage update changes no indexed column and is a HOT update (no new entry in its three indexes).
        var liveSince = $"SELECT updated_at FROM peeq_cdc.\"{lineage}\" WHERE id = 1";
        var before = await SharedPostgres.ScalarAsync<DateTime>(target, liveSince);
        var changed = feed.Transaction(t => t.Upsert("public.docs", new JsonObject { ["id"] = 1 }, new JsonObject { ["id"] = 1, ["body"] = "v2" }));
        await UnifiedFeed.WaitAppliedAsync(target, "src", changed);
        Assert.Equal("v2", await SharedPostgres.ScalarAsync<string>(target, "SELECT body FROM docs WHERE id = 1"));
        Assert.Equal(before, await SharedPostgres.ScalarAsync<DateTime>(target, liveSince));
        await Wait.ForAsync(async () => await SharedPostgres.ScalarAsync<long>(target,
            $"SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'peeq_cdc.\"{lineage}\"'::regclass") >= 1, "the lineage update to be counted as a HOT update", seconds: 60);

        await SharedPostgres.ExecuteAsync(target, "INSERT INTO peeq_cdc.table_state (target_table, source, state) VALUES ('public.docs', 'src', 'loading')");
        var deleted = feed.Transaction(t => t.Delete("public.docs", new JsonObject { ["id"] = 1 }));
        await UnifiedFeed.WaitAppliedAsync(target, "src", deleted);
        var tombstones = $"SELECT count(*) FROM peeq_cdc.\"{lineage}\" WHERE deleted";

        // A late event from before the delete does not bring the row back.
        feed.Replay(created, new Lsn(0), t => t.Upsert("public.docs", new JsonObject { ["id"] = 1 }, new JsonObject { ["id"] = 1, ["body"] = "v1" }));
        await Task.Delay(3000);
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM docs"));
        Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(target, tombstones));

        await SharedPostgres.ExecuteAsync(target, "UPDATE peeq_cdc.table_state SET state = 'ready'");
        await Wait.ForAsync(async () => await SharedPostgres.ScalarAsync<long>(target, tombstones) == 0, "the tombstone to be cleaned up");
    }

    [Fact]
    public async Task initial_load_of_an_empty_loading_table_takes_the_plain_copy_path_and_falls_back_on_a_collision()
    {
        var target = await SharedPostgres.CreateDatabaseAsync("sink_copy_dst");
        await SharedPostgres.ExecuteAsync(target, """
            CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(12,2), tags text[], data jsonb);
            CREATE SCHEMA IF NOT EXISTS peeq_cdc;
            """);
        var options = UnifiedFeed.SinkOnly("copyload", target, _kafka.BootstrapServers, "inv");
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);
        using var feed = new UnifiedFeed(_kafka, options, "inv");
        var warm = feed.Transaction(_ => { });
        await UnifiedFeed.WaitAppliedAsync(target, "inv", warm);
        await SharedPostgres.ExecuteAsync(target, "INSERT INTO peeq_cdc.table_state (target_table, source, state) VALUES ('public.items', 'inv', 'loading')");
        var copied = Sink.SinkMetrics.RowsApplied.WithLabels("target", "public.items", "copy").Value;
        JsonObject Item(int i) => new() { ["id"] = i, ["name"] = $"item\t{i}\\ \"q\"", ["price"] = "12.30", ["tags"] = new JsonArray("a", "b c"), ["data"] = "{\"n\": " + i + "}" };
        var chunk1 = feed.Transaction(t =>
        {
            for (var i = 1; i <= 500; i++)
            {
                t.Upsert("public.items", new JsonObject { ["id"] = i }, Item(i));
            }
        }, kind: TransactionKind.Snapshot);
        // A streamed change between the chunks, then a chunk that collides with it.
        var streamed = feed.Transaction(t => t.Upsert("public.items", new JsonObject { ["id"] = 600 }, Item(600)));
        var chunk2 = feed.Transaction(t =>
        {
            for (var i = 501; i <= 1000; i++)
            {
                t.Upsert("public.items", new JsonObject { ["id"] = i }, Item(i));
            }
        }, kind: TransactionKind.Snapshot);
        await UnifiedFeed.WaitAppliedAsync(target, "inv", chunk2);
        _ = (chunk1, streamed);
        Assert.Equal(1000L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM items"));
        Assert.Equal("item\t7\\ \"q\" 12.30 {a,\"b c\"} 7", await SharedPostgres.ScalarAsync<string>(target, "SELECT name || ' ' || price || ' ' || tags::text || ' ' || (data->>'n') FROM items WHERE id = 7"));
        Assert.True(Sink.SinkMetrics.RowsApplied.WithLabels("target", "public.items", "copy").Value >= copied + 500, "the first chunk did not take the COPY path");
        var lineage = await SharedPostgres.ScalarAsync<string>(target, "SELECT lineage_table FROM peeq_cdc.lineage_tables WHERE target_table = 'public.items'");
        Assert.Equal(1000L, await SharedPostgres.ScalarAsync<long>(target, $"SELECT count(*) FROM peeq_cdc.\"{lineage}\" WHERE source = 'inv' AND NOT deleted"));
    }

    [Fact]
    public async Task rows_a_target_check_refuses_are_parked_with_the_reason_by_halving_the_chunk_not_one_write_per_row()
    {
        var target = await SharedPostgres.CreateDatabaseAsync("sink_check_dst");
        await SharedPostgres.ExecuteAsync(target, await File.ReadAllTextAsync(Path.Combine(Wait.RepoRoot(), "schemas", "target", "peeq_platform.sql")));
        var options = UnifiedFeed.SinkOnly("checkpark", target, _kafka.BootstrapServers, "notes");
        using var feed = new UnifiedFeed(_kafka, options, "notes");
        static JsonObject Note(int i, string status) => new()
        {
            ["id"] = $"00000000-0000-0000-0000-{i:D12}", ["user_id"] = "11111111-1111-1111-1111-111111111111", ["template_key"] = null,
            ["channel"] = "EMAIL", ["subject"] = null, ["body"] = $"note {i}", ["status"] = status, ["meta_data"] = null,
            ["created_on"] = "2024-01-01 00:00:00", ["sent_on"] = null, ["read_on"] = null,
        };
        static JsonObject NoteKey(int i) => new() { ["id"] = $"00000000-0000-0000-0000-{i:D12}" };

        // A snapshot chunk of 2,000 notifications, two with statuses of an older service version, then live
        // transactions in the same batch: one fine, one with a refused status beside a fine change.
        const int rows = 2000;
        feed.Transaction(t =>
        {
            for (var i = 1; i <= rows; i++)
            {
                t.Upsert("public.notifications", NoteKey(i), Note(i, i == 700 ? "DELIVERED" : i == 1500 ? "BOUNCED" : "SENT"));
            }
        }, kind: TransactionKind.Snapshot);
        feed.Transaction(t => t.Upsert("public.notifications", NoteKey(1), Note(1, "READ")));
        var last = feed.Transaction(t => t
            .Upsert("public.notifications", NoteKey(2), Note(2, "BOUNCED"))
            .Upsert("public.notifications", NoteKey(rows + 1), Note(rows + 1, "PENDING")));

        var isolation = Sink.SinkMetrics.IsolationWrites.WithLabels("notes").Value;
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);
        await UnifiedFeed.WaitAppliedAsync(target, "notes", last);

        Assert.Equal(rows - 2 + 1L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM notifications"));
        Assert.Equal("READ", await SharedPostgres.ScalarAsync<string>(target, "SELECT status FROM notifications WHERE body = 'note 1'"));
        Assert.Equal("SENT", await SharedPostgres.ScalarAsync<string>(target, "SELECT status FROM notifications WHERE body = 'note 2'"));
        var parked = await SharedPostgres.ScalarAsync<string>(target,
            "SELECT string_agg(target_key->>'id' || ' ' || reason, E'\\n' ORDER BY target_key->>'id') FROM peeq_cdc.parked_rows WHERE source = 'notes' AND status = 'parked'");
        var lines = parked.Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.Contains("notifications_status_check", l));
        Assert.StartsWith("00000000-0000-0000-0000-000000000002 ", lines[0]);
        Assert.StartsWith("00000000-0000-0000-0000-000000000700 ", lines[1]);
        Assert.StartsWith("00000000-0000-0000-0000-000000001500 ", lines[2]);

        // Finding 3 bad operations among 2,000 takes a few writes per halving level, not one per row (one per row
        // held the demo's notification source for many minutes on a loaded machine).
        var writes = Sink.SinkMetrics.IsolationWrites.WithLabels("notes").Value - isolation;
        Assert.True(writes < 100, $"{writes} writes to isolate 3 bad operations among {rows}");
    }

    [Fact]
    public async Task deadlock_is_retried_from_memory_without_a_replay_and_loses_nothing()
    {
        var target = await SharedPostgres.CreateDatabaseAsync("sink_deadlock_dst");
        // The target aborts the first write of the row named 'victim' as PostgreSQL aborts a deadlock victim (a
        // sequence, because it is not rolled back with the transaction it aborts).
        await SharedPostgres.ExecuteAsync(target, """
            CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
            CREATE TABLE item_codes (code text PRIMARY KEY, item_id int NOT NULL);
            CREATE SEQUENCE deadlock_once;
            CREATE FUNCTION deadlock_once() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.name = 'victim' AND nextval('deadlock_once') = 1 THEN
                    RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER deadlock_once BEFORE INSERT OR UPDATE ON items FOR EACH ROW EXECUTE FUNCTION deadlock_once();
            """);
        var options = UnifiedFeed.SinkOnly("deadlock", target, _kafka.BootstrapServers, "dl");
        using var feed = new UnifiedFeed(_kafka, options, "dl");
        JsonObject Item(int i, string name) => new() { ["id"] = i, ["name"] = name };
        JsonObject Code(int i) => new() { ["code"] = $"C-{i}", ["item_id"] = i };

        // Three transactions in one batch, each writing an item and its code (a row and its identity, as
        // inventory_item writes inventory_items and identity_map); the second one's item is the victim.
        feed.Transaction(t => t.Upsert("public.items", new JsonObject { ["id"] = 1 }, Item(1, "one")).Upsert("public.item_codes", new JsonObject { ["code"] = "C-1" }, Code(1)));
        feed.Transaction(t => t.Upsert("public.item_codes", new JsonObject { ["code"] = "C-2" }, Code(2)).Upsert("public.items", new JsonObject { ["id"] = 2 }, Item(2, "victim")));
        var last = feed.Transaction(t => t.Upsert("public.items", new JsonObject { ["id"] = 3 }, Item(3, "three")).Upsert("public.item_codes", new JsonObject { ["code"] = "C-3" }, Code(3)));
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);

        // Nothing re-sends what this Sink consumed (no Capture here): only a retry from memory gets it applied.
        await UnifiedFeed.WaitAppliedAsync(target, "dl", last);
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(target, "SELECT nextval('deadlock_once') - 1"));
        Assert.Equal("one victim three", await SharedPostgres.ScalarAsync<string>(target, "SELECT string_agg(name, ' ' ORDER BY id) FROM items"));
        Assert.Equal("C-1 C-2 C-3", await SharedPostgres.ScalarAsync<string>(target, "SELECT string_agg(code || '', ' ' ORDER BY code) FROM item_codes"));
        var lineage = await SharedPostgres.ScalarAsync<string>(target, "SELECT lineage_table FROM peeq_cdc.lineage_tables WHERE target_table = 'public.item_codes'");
        Assert.Equal(3L, await SharedPostgres.ScalarAsync<long>(target, $"SELECT count(*) FROM peeq_cdc.\"{lineage}\" WHERE NOT deleted"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.replay_requests"));
    }
}
