using Peeq.Cdc.Tests.Integration.Infrastructure;
using Peeq.Cdc.Workload.Live;
using Peeq.Cdc.Workload.Seeding;
using static Peeq.Cdc.Tests.Integration.Infrastructure.LegacyWorlds;
using World = Peeq.Cdc.Workload.LegacyWorld;

namespace Peeq.Cdc.Tests.Integration.Legacy;

/// <summary>
/// Three worlds seeded at scale 0.01: A and B with seed 1, C with seed 2. C is only read (anomalies,
/// realism); A and B get the same workload.
/// </summary>
public sealed class SeededWorldsFixture : IAsyncLifetime
{
    public World A { get; private set; } = null!;

    public World B { get; private set; } = null!;

    public World C { get; private set; } = null!;

    public SeedSummary SummaryA { get; private set; } = null!;

    public SeedSummary SummaryC { get; private set; } = null!;

    /// <summary>Checksums right after seeding (before any workload touches A or B).</summary>
    public Dictionary<string, string> SeededA { get; private set; } = null!;

    public Dictionary<string, string> SeededB { get; private set; } = null!;

    public Dictionary<string, string> SeededC { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        (A, SummaryA) = await SeedAsync("seedtest_a_", seed: 1);
        SeededA = await ChecksumsAsync(A);
        (B, _) = await SeedAsync("seedtest_b_", seed: 1);
        SeededB = await ChecksumsAsync(B);
        (C, SummaryC) = await SeedAsync("seedtest_c_", seed: 2);
        SeededC = await ChecksumsAsync(C);
    }

    public Task DisposeAsync() => Task.CompletedTask;
}

public sealed class SeedDataTests(SeededWorldsFixture worlds, ITestOutputHelper output) : IClassFixture<SeededWorldsFixture>
{
    [Fact]
    public void same_seed_gives_the_same_checksums_in_every_table_and_another_seed_changes_every_table()
    {
        Assert.Equal(57, worlds.SeededA.Count);
        foreach (var (table, sum) in worlds.SeededA)
        {
            Assert.True(sum == worlds.SeededB[table], $"{table}: seed 1 gave {sum}, then {worlds.SeededB[table]}");
            Assert.True(sum != worlds.SeededC[table], $"{table}: seed 2 gave the same data as seed 1 ({sum})");
        }
    }

    [Fact]
    public async Task summary_counts_every_row_of_every_table()
    {
        foreach (var db in worlds.SummaryC.Databases)
        {
            foreach (var t in db.Tables)
            {
                Assert.Equal(t.Rows, await ScalarAsync<long>(worlds.C, db.Key, $"SELECT count(*) FROM {Contracts.Sql.QuoteIdent(t.Table)}"));
                Assert.True(t.Rows > 0, $"{db.Key}.{t.Table} is empty");
            }

            Assert.True(db.SizeBytes > 0);
        }

        Assert.Equal(22, worlds.SummaryC.Databases.Count);
    }

    /// <summary>Every anomaly the seed warns about, counted here with SQL of its own and compared with the summary.</summary>
    [Fact]
    public async Task every_planted_anomaly_is_present_and_its_count_matches_the_data()
    {
        var w = worlds.C;
        Task<long> Count(string db, string sql) => ScalarAsync<long>(w, db, sql);
        Task<long> Missing(string fromDb, string fromSql, string toDb, string toSql) => RowsAsync(w, fromDb, fromSql, toDb, toSql, found: false);
        Task<long> Present(string fromDb, string fromSql, string toDb, string toSql) => RowsAsync(w, fromDb, fromSql, toDb, toSql, found: true);
        const string celebrities = "SELECT celebrity_user_id::text FROM celebrity_profiles";
        const string groups = "SELECT profile_id::text FROM group_profiles";
        const string tags = "SELECT id::text FROM tags";
        var expected = new Dictionary<string, Func<Task<long>>>
        {
            ["orphan:fan.fan_follows.celeb_user_id"] = () => Missing("fan", "SELECT celeb_user_id::text FROM fan_follows", "celebrity", celebrities),
            ["orphan:fan.fan_follows.fan_user_id"] = () => Count("fan", "SELECT count(*) FROM fan_follows f WHERE NOT EXISTS (SELECT 1 FROM fan_profiles p WHERE p.fan_user_id = f.fan_user_id)"),
            ["orphan:transaction.transactions.item_id"] = () => Missing("transaction", "SELECT item_id::text FROM transactions WHERE item_id IS NOT NULL", "inventory", "SELECT id::text FROM inventory_item"),
            ["orphan:wallet.create_transaction.item_id"] = () => Missing("wallet", "SELECT item_id FROM create_transaction WHERE item_id IS NOT NULL", "inventory", "SELECT item_id FROM inventory_item"),
            ["orphan:wallet.create_transaction.user_id"] = () => Count("wallet", "SELECT count(*) FROM create_transaction c WHERE NOT EXISTS (SELECT 1 FROM balance_transaction b WHERE b.user_id = c.user_id)"),
            ["orphan:shoutout.mux_stream.inventory_item_id"] = () => Missing("shoutout", "SELECT inventory_item_id FROM mux_stream WHERE inventory_item_id IS NOT NULL", "inventory", "SELECT item_id FROM inventory_item"),
            ["orphan:broadcast.broadcasts.associated_item_ids"] = () => Missing("broadcast", "SELECT associated_item_ids::text[] FROM broadcasts", "inventory", "SELECT id::text FROM inventory_item"),
            ["orphan:inventory.inventory_item.associated_tags"] = () => Missing("inventory", "SELECT associated_tags::text[] FROM inventory_item", "tags", tags),
            ["orphan:inventory.inventory_item.created_by_id"] = () => Missing("inventory", "SELECT created_by_id::text FROM inventory_item", "celebrity", celebrities),
            ["orphan:celebrity.celebrity_profile_tags.tags"] = () => Missing("celebrity", "SELECT tags::text[] FROM celebrity_profile_tags", "tags", tags),
            ["orphan:class-catalog.classes.group_id"] = () => Missing("class-catalog", "SELECT group_id::text FROM classes WHERE group_id IS NOT NULL", "group-profile", groups),
            ["orphan:class-catalog.session_instructors.instructor_id"] = () => Missing("class-catalog", "SELECT instructor_id::text FROM session_instructors", "celebrity", celebrities),
            ["orphan:mux-livestream.mux_livestreams.group_id"] = () => Missing("mux-livestream", "SELECT group_id::text FROM mux_livestreams WHERE group_id IS NOT NULL", "group-profile", groups),
            ["orphan:group-profile.group_profile_celebs.celeb_user_id"] = () => Missing("group-profile", "SELECT celeb_user_id::text FROM group_profile_celebs", "celebrity", celebrities),
            ["orphan:notification-service.notifications.template_key"] = () => Count("notification-service",
                "SELECT count(*) FROM notifications n WHERE template_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM notification_templates t WHERE t.template_key = n.template_key)"),
            ["orphan:celebrity.celebrity_profile_status_history.celebrity_user_id"] = () => Count("celebrity",
                "SELECT count(*) FROM celebrity_profile_status_history h WHERE NOT EXISTS (SELECT 1 FROM celebrity_profiles p WHERE p.celebrity_user_id = h.celebrity_user_id)"),
            ["orphan:encryption.vault_secrets.namespace_id"] = () => Count("encryption",
                "SELECT count(*) FROM vault_secrets s WHERE NOT EXISTS (SELECT 1 FROM vault_namespaces n WHERE n.namespace_id = s.namespace_id)"),
            ["same_identity:celebrity.celebrity_profiles.celebrity_user_id"] = () => Present("celebrity", celebrities, "fan", "SELECT fan_user_id::text FROM fan_profiles"),
            ["duplicate_across:content.files.content_id"] = () => Present("content", "SELECT content_id::text FROM files", "media", "SELECT content_id::text FROM files"),
            ["duplicate_across:stream.streams.id"] = () => Present("stream", "SELECT id::text FROM streams", "broadcast", "SELECT id::text FROM broadcasts"),
            ["duplicate_across:dwolla.vault_namespaces.namespace_id"] = () => Present("dwolla", "SELECT namespace_id FROM vault_namespaces", "encryption", "SELECT namespace_id FROM vault_namespaces"),
            ["duplicate_across:dwolla.vault_secrets.secret_id"] = () => Present("dwolla", "SELECT secret_id FROM vault_secrets", "encryption", "SELECT secret_id FROM vault_secrets"),
            ["duplicate_within:content.files.content_id"] = () => Count("content", "SELECT count(*) FROM (SELECT content_id FROM files GROUP BY content_id HAVING count(*) > 1) d"),
            ["duplicate_within:fan.fan_follow_changes.*"] = () => Count("fan", "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM fan_follow_changes) d) FROM fan_follow_changes"),
            ["duplicate_within:message-board.members.message_board_id,user_id"] = () => Count("message-board",
                "SELECT count(*) FROM (SELECT 1 FROM members GROUP BY message_board_id, user_id HAVING count(*) > 1) d"),
            ["null:subscriptions.subscriptions.name"] = () => Count("subscriptions", "SELECT count(*) FROM subscriptions WHERE name IS NULL"),
            ["null:subscriptions.subscriptions.created_by_id"] = () => Count("subscriptions", "SELECT count(*) FROM subscriptions WHERE created_by_id IS NULL"),
            ["null:subscriptions.series.name"] = () => Count("subscriptions", "SELECT count(*) FROM series WHERE name IS NULL"),
            ["null:tags.tags.type"] = () => Count("tags", "SELECT count(*) FROM tags WHERE type IS NULL"),
            ["null:class-catalog.classes.description"] = () => Count("class-catalog", "SELECT count(*) FROM classes WHERE description IS NULL"),
            ["null:class-catalog.class_details.description"] = () => Count("class-catalog", "SELECT count(*) FROM class_details WHERE description IS NULL"),
            ["null:celebrity.celebrity_profiles.display_name"] = () => Count("celebrity", "SELECT count(*) FROM celebrity_profiles WHERE display_name IS NULL"),
            ["null:fan.fan_profiles.meta_data"] = () => Count("fan", "SELECT count(*) FROM fan_profiles WHERE meta_data IS NULL"),
            ["null:transaction.transactions.item_id"] = () => Count("transaction", "SELECT count(*) FROM transactions WHERE item_id IS NULL"),
            ["null:media.files.mime_type"] = () => Count("media", "SELECT count(*) FROM files WHERE mime_type IS NULL"),
            ["toasted_jsonb:media.files.mux_info"] = () => Toasted("media", "files", "mux_info"),
            ["toasted_jsonb:celebrity.celebrity_profiles.meta_data"] = () => Toasted("celebrity", "celebrity_profiles", "meta_data"),
            ["toasted_jsonb:shoutout.mux_stream.mux_info"] = () => Toasted("shoutout", "mux_stream", "mux_info"),
            ["toasted_jsonb:broadcast.broadcasts.meta_data"] = () => Toasted("broadcast", "broadcasts", "meta_data"),
            ["toasted_jsonb:stream.streams.mux_info"] = () => Toasted("stream", "streams", "mux_info"),
            ["unicode:celebrity.celebrity_profiles.display_name"] = () => NotAscii("celebrity", "celebrity_profiles", "display_name"),
            ["unicode:group-profile.group_profiles.name"] = () => NotAscii("group-profile", "group_profiles", "name"),
            ["unicode:tags.tags.name"] = () => NotAscii("tags", "tags", "name"),
            ["unicode:shoutout.mux_stream.name"] = () => NotAscii("shoutout", "mux_stream", "name"),
            ["unicode:message-board.messages.message_content"] = () => NotAscii("message-board", "messages", "message_content"),
            ["beyond_int_cents:inventory.inventory_item.price"] = () => Count("inventory", "SELECT count(*) FROM inventory_item WHERE price * 100 > 2147483647"),
            ["beyond_int_cents:transaction.transactions.price"] = () => Count("transaction", "SELECT count(*) FROM transactions WHERE price * 100 > 2147483647"),
            ["beyond_int_cents:wallet.balance_transaction.balance"] = () => Count("wallet", "SELECT count(*) FROM balance_transaction WHERE balance * 100 > 2147483647"),
            ["sub_cent:wallet.create_transaction.amount"] = () => Count("wallet", "SELECT count(*) FROM create_transaction WHERE amount * 100 <> floor(amount * 100)"),
            ["sub_cent:wallet.balance_transaction.balance"] = () => Count("wallet", "SELECT count(*) FROM balance_transaction WHERE balance * 100 <> floor(balance * 100)"),
            ["balance_mismatch:wallet.balance_transaction.balance"] = () => Count("wallet", """
                SELECT count(*) FROM balance_transaction b
                LEFT JOIN (SELECT user_id, sum(CASE WHEN is_debit THEN -amount ELSE amount END) AS net FROM create_transaction GROUP BY user_id) c USING (user_id)
                WHERE b.balance <> coalesce(c.net, 0)
                """),
            ["lifecycle:fan.fan_follows.unfollowed_on"] = () => Count("fan", "SELECT count(*) FROM fan_follows WHERE unfollowed_on IS NOT NULL"),
            ["lifecycle:group-profile.group_profiles.is_deleted"] = () => Count("group-profile", "SELECT count(*) FROM group_profiles WHERE is_deleted"),
            ["lifecycle:stripe.exchange_rates.deleted_on"] = () => Count("stripe", "SELECT count(*) FROM exchange_rates WHERE deleted_on IS NOT NULL"),
            ["lifecycle:media.files.state"] = () => Count("media", "SELECT count(*) FROM files WHERE state = 'DELETED'"),
            ["lifecycle:message-board.members.removed_on"] = () => Count("message-board", "SELECT count(*) FROM members WHERE removed_on IS NOT NULL"),
            ["outside_vocabulary:notification-service.notifications.status"] = () => Count("notification-service",
                "SELECT count(*) FROM notifications WHERE status NOT IN ('PENDING', 'SENT', 'FAILED', 'READ')"),
        };

        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), worlds.SummaryC.Anomalies.Select(a => a.Name).Order(StringComparer.Ordinal));
        foreach (var (name, query) in expected)
        {
            var reported = worlds.SummaryC.Anomaly(name).Count;
            var found = await query();
            output.WriteLine($"{name}: summary {reported}, data {found}");
            Assert.True(found > 0, $"{name}: not present in the data");
            Assert.True(reported == found, $"{name}: the summary says {reported}, the data has {found}");
        }

        async Task<long> Toasted(string db, string table, string column)
        {
            var big = await Count(db, $"SELECT count(*) FROM {table} WHERE pg_column_size({column}) > 8192");
            // Stored out of line: the table's TOAST relation holds at least that many values.
            var toast = await ScalarAsync<string>(w, db, $"SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = '{table}'::regclass");
            Assert.True(await Count(db, $"SELECT count(DISTINCT chunk_id) FROM {toast}") >= big, $"{db}.{table}.{column}: large values are not in {toast}");
            return big;
        }

        Task<long> NotAscii(string db, string table, string column) =>
            Count(db, $"SELECT count(*) FROM {table} WHERE octet_length({column}) <> char_length({column})");
    }

    [Fact]
    public async Task the_data_holds_together_where_the_services_keep_it_together()
    {
        var w = worlds.C;

        // fan_follows.id is md5(fan_user_id::text || celeb_user_id::text), for every row.
        Assert.Equal(0L, await ScalarAsync<long>(w, "fan", "SELECT count(*) FROM fan_follows WHERE id <> md5(fan_user_id::text || celeb_user_id::text)"));

        // Histories are chains ending at the current value (the service writes a row per change).
        foreach (var (history, column) in new[] { ("inventory_item_price_history", "price"), ("inventory_item_quantity_history", "quantity"), ("inventory_item_state_history", "state") })
        {
            Assert.Equal(0L, await ScalarAsync<long>(w, "inventory", $"""
                SELECT count(*) FROM (SELECT old_value, lag(new_value) OVER (PARTITION BY inventory_item_id ORDER BY changed_on) AS previous FROM {history}) h
                WHERE previous IS NOT NULL AND previous <> old_value
                """));
            Assert.Equal(0L, await ScalarAsync<long>(w, "inventory", $"""
                SELECT count(*) FROM inventory_item i
                JOIN LATERAL (SELECT new_value FROM {history} h WHERE h.inventory_item_id = i.id ORDER BY changed_on DESC LIMIT 1) last ON true
                WHERE last.new_value IS DISTINCT FROM i.{column}
                """));
            Assert.True(await ScalarAsync<long>(w, "inventory", $"SELECT count(*) FROM {history}") > 0);
        }

        // Purchases name real items almost always, at a price the item had.
        var prices = new Dictionary<string, HashSet<decimal>>();
        await using (var inventory = await OpenAsync(w, "inventory"))
        {
            await using var cmd = new Npgsql.NpgsqlCommand("""
                SELECT id::text, price FROM inventory_item WHERE price IS NOT NULL
                UNION ALL SELECT inventory_item_id::text, old_value FROM inventory_item_price_history
                """, inventory);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var id = reader.GetString(0);
                if (!prices.TryGetValue(id, out var set))
                {
                    prices[id] = set = [];
                }

                set.Add(reader.GetDecimal(1));
            }
        }

        long known = 0, all = 0;
        await using (var transaction = await OpenAsync(w, "transaction"))
        {
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT item_id::text, price FROM transactions WHERE item_id IS NOT NULL", transaction);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                all++;
                if (prices.TryGetValue(reader.GetString(0), out var set))
                {
                    known++;
                    Assert.Contains(reader.GetDecimal(1), set);
                }
            }
        }

        Assert.True(known > all * 0.98, $"only {known} of {all} purchases name an inventory item");

        // Wallet purchases name inventory item_ids (varchar business key) almost always.
        var itemIds = (await ColumnAsync(w, "inventory", "SELECT item_id FROM inventory_item")).ToHashSet(StringComparer.Ordinal);
        var walletItems = await ColumnAsync(w, "wallet", "SELECT item_id FROM create_transaction WHERE item_id IS NOT NULL");
        Assert.True(walletItems.Count(itemIds.Contains) > walletItems.Count * 0.95, "wallet item_ids do not match inventory item_ids");

        // Every transfer is a pair that nets to zero; every balance matches its movements except the planted mismatches.
        Assert.Equal(0L, await ScalarAsync<long>(w, "wallet", """
            SELECT count(*) FROM create_transaction_related_transactions r
            JOIN create_transaction d ON d.id = r.create_transaction_id JOIN create_transaction c ON c.id = r.related_transaction_id
            WHERE r.relation_type = 'TRANSFER_PAIR' AND NOT (d.is_debit AND NOT c.is_debit AND d.amount = c.amount)
            """));
        Assert.True(await ScalarAsync<long>(w, "wallet", "SELECT count(*) FROM create_transaction_related_transactions WHERE relation_type = 'TRANSFER_PAIR'") > 0);
        Assert.Equal(worlds.SummaryC.Anomaly("balance_mismatch:wallet.balance_transaction.balance").Count, await ScalarAsync<long>(w, "wallet", """
            SELECT count(*) FROM balance_transaction b
            JOIN (SELECT user_id, sum(CASE WHEN is_debit THEN -amount ELSE amount END) AS net FROM create_transaction GROUP BY user_id) c USING (user_id)
            WHERE b.balance <> c.net
            """));

        // The timestamp-without-zone databases really are.
        Assert.Equal("timestamp without time zone", await ScalarAsync<string>(w, "group-profile",
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'group_profiles' AND column_name = 'created_on'"));
    }

    /// <summary>The workload's money equals the change in the wallets, and two identical worlds end identical.</summary>
    [Fact]
    public async Task workload_money_matches_the_wallets_and_the_same_seed_writes_the_same_rows()
    {
        var a = worlds.A;
        var balanceBefore = await ScalarAsync<decimal>(a, "wallet", "SELECT sum(balance) FROM balance_transaction");
        var maxIdBefore = await ScalarAsync<long>(a, "wallet", "SELECT max(id) FROM create_transaction");
        const long operations = 1200;
        WorkloadSummary summaryA, summaryB;
        await using (var workload = new LegacyWorkload(a, new WorkloadOptions { Seed = 5, Rate = 0, Operations = operations }))
        {
            summaryA = await workload.RunAsync(CancellationToken.None);
        }

        await using (var workload = new LegacyWorkload(worlds.B, new WorkloadOptions { Seed = 5, Rate = 100_000, Operations = operations }))
        {
            summaryB = await workload.RunAsync(CancellationToken.None);
        }

        output.WriteLine(summaryA.ToJson());
        Assert.Equal(operations, summaryA.Operations);
        Assert.True(summaryA.Money.Credits > 0 && summaryA.Money.Debits > 0 && summaryA.Money.Purchases > 0 && summaryA.Money.Transfers > 0 && summaryA.Money.Refunds > 0,
            "the mix should have moved money every way");

        // The sum of balances moved by exactly the net of what the workload says it moved (transfers net to zero).
        var balanceAfter = await ScalarAsync<decimal>(a, "wallet", "SELECT sum(balance) FROM balance_transaction");
        Assert.Equal(summaryA.Money.Net, balanceAfter - balanceBefore);

        // ... and so did the movements it created.
        Assert.Equal(summaryA.Money.Net, await ScalarAsync<decimal>(a, "wallet",
            $"SELECT coalesce(sum(CASE WHEN is_debit THEN -amount ELSE amount END), 0) FROM create_transaction WHERE id > {maxIdBefore}"));
        Assert.Equal(summaryA.Money.Credits, await NewSum("transaction_type = 'CREDIT'"));
        Assert.Equal(summaryA.Money.Refunds, await NewSum("transaction_type = 'REFUND'"));
        Assert.Equal(summaryA.Money.Debits, await NewSum("transaction_type = 'DEBIT'"));
        Assert.Equal(summaryA.Money.Purchases, await NewSum("transaction_type = 'PURCHASE'"));
        Assert.Equal(summaryA.Money.Transfers, await NewSum("transaction_type = 'TRANSFER' AND is_debit"));
        Assert.Equal(summaryA.Money.Transfers, await NewSum("transaction_type = 'TRANSFER' AND NOT is_debit"));
        Assert.Equal(summaryA.RowsOf("wallet", "create_transaction").Inserted,
            await ScalarAsync<long>(a, "wallet", $"SELECT count(*) FROM create_transaction WHERE id > {maxIdBefore}"));
        Assert.Equal(summaryA.RowsOf("wallet", "create_transaction_related_transactions").Inserted, await ScalarAsync<long>(a, "wallet",
            $"SELECT count(*) FROM create_transaction_related_transactions WHERE create_transaction_id > {maxIdBefore}"));
        Assert.True(summaryA.TransactionsByDatabase.Count >= 20, $"the workload wrote to only {summaryA.TransactionsByDatabase.Count} databases");

        // Same seed, same number of operations, same starting data: the same rows everywhere (the rate only paces).
        Assert.Equal(summaryA.ToJson().Split('\n').Where(l => !l.Contains("elapsed", StringComparison.OrdinalIgnoreCase)),
            summaryB.ToJson().Split('\n').Where(l => !l.Contains("elapsed", StringComparison.OrdinalIgnoreCase)));
        var afterA = await ChecksumsAsync(a);
        var afterB = await ChecksumsAsync(worlds.B);
        foreach (var (table, sum) in afterA)
        {
            Assert.True(sum == afterB[table], $"{table}: the same workload left different data");
        }

        Assert.Contains(afterA, kv => kv.Value != worlds.SeededA[kv.Key]);

        Task<decimal> NewSum(string filter) =>
            ScalarAsync<decimal>(a, "wallet", $"SELECT coalesce(sum(amount), 0) FROM create_transaction WHERE id > {maxIdBefore} AND {filter}");
    }
}
