using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Tests.Integration.Infrastructure;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Tests.Integration;

/// <summary>
/// Guarantee 5 for financial tables: a wallet transaction that has to park anything parks whole, and later
/// transactions on the same wallets wait behind it until an operator acts.
/// </summary>
public sealed class FinancialParkingTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>
    /// The wallet tables into INT cents, as the commerce mapping will: ×100 exactly, and a value with sub-cent
    /// digits is a lossy cast (parked, never rounded). Written for this test so it depends on no other branch.
    /// </summary>
    private sealed class WalletCents(string target) : ITargetMapping
    {
        public string Target => target;

        public bool Handles(string source, TableId table) => source == "wallet";

        public string? CheckSchema(string source, TableId table, IReadOnlyList<SourceColumn> columns) => null;

        public void Map(RawChange change, MappingOutput output)
        {
            var row = change.After ?? change.Before ?? throw new MappingException("no row image");
            if (change.Table.Name == "balance_transaction")
            {
                var key = new JsonObject { ["id"] = row["id"]!.DeepClone() };
                if (change.Op == ChangeOp.Delete)
                {
                    output.Add(change, RowOpKind.Delete, TableId.Parse("user_wallets"), key, null);
                    return;
                }

                output.Add(change, RowOpKind.Upsert, TableId.Parse("user_wallets"), key, new JsonObject
                {
                    ["id"] = row["id"]!.DeepClone(),
                    ["user_id"] = row["user_id"]!.DeepClone(),
                    ["balance"] = Cents("balance", row),
                    ["currency"] = row["currency"]!.DeepClone(),
                    ["updated_at"] = row["updated_at"]!.DeepClone(),
                });
            }
            else
            {
                var id = DerivedId(row["id"]!.ToJsonString());
                output.Add(change, RowOpKind.Upsert, TableId.Parse("transactions"), new JsonObject { ["id"] = id }, new JsonObject
                {
                    ["id"] = id,
                    ["transaction_type"] = row["transaction_type"]!.DeepClone(),
                    ["user_id"] = row["user_id"]!.DeepClone(),
                    ["created_by_id"] = row["user_id"]!.DeepClone(),
                    ["amount"] = Cents("amount", row),
                    ["is_debit"] = row["is_debit"]!.DeepClone(),
                    ["status"] = "COMPLETED",
                    ["created_on"] = row["created_on"]!.DeepClone(),
                });
            }
        }

        private static long Cents(string column, JsonObject row)
        {
            var text = row[column]!.GetValue<string>();
            var cents = decimal.Parse(text, CultureInfo.InvariantCulture) * 100;
            if (cents != decimal.Truncate(cents) || cents > int.MaxValue || cents < int.MinValue)
            {
                throw new MappingException($"lossy cast: {column} {text} is not a whole number of cents in INT");
            }

            return (long)cents;
        }

        private static string DerivedId(string legacy) => new Guid(MD5.HashData(Encoding.UTF8.GetBytes("create_transaction:" + legacy))).ToString();
    }

    [Fact]
    public async Task wallet_transfer_with_one_lossy_value_parks_whole_and_later_transfers_on_its_wallets_wait_behind_it()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("financial_wallet_src");
        var target = await SharedPostgres.CreateDatabaseAsync("financial_wallet_dst");
        await SharedPostgres.ExecuteAsync(source, await File.ReadAllTextAsync(Path.Combine(Wait.RepoRoot(), "schemas", "legacy", "wallet.sql")));
        await SharedPostgres.ExecuteAsync(target, await File.ReadAllTextAsync(Path.Combine(Wait.RepoRoot(), "schemas", "target", "peeq_commerce.sql")));
        const string a = "aaaaaaaa-0000-0000-0000-00000000000a";
        const string b = "bbbbbbbb-0000-0000-0000-00000000000b";
        const string c = "cccccccc-0000-0000-0000-00000000000c";
        await SharedPostgres.ExecuteAsync(source, $"""
            INSERT INTO balance_transaction (id, user_id, balance, updated_at) VALUES
                (1, '{a}', 100.0000, now()), (2, '{b}', 50.0000, now()), (3, '{c}', 20.0000, now());
            """);
        var options = PipelineHarness.Identity("wallet", source, target, _kafka.BootstrapServers, "balance_transaction", "create_transaction");
        options.Targets[0].CreateTables = false;
        options.Sources[0].FinancialTables = ["balance_transaction", "create_transaction"];
        // Slots are per server: ConsolidationTests has a source named wallet on the same test server.
        options.Sources[0].Slot = "peeq_cdc_financial_wallet";
        options.Sink.MaintenanceInterval = TimeSpan.FromMilliseconds(300);
        await using var stages = new StageSet(options, _kafka, output, new Dictionary<string, ITargetMapping> { ["target"] = new WalletCents("target") });
        await stages.StartAsync();
        Assert.True(await PipelineProgress.WaitForDrainAsync(options, TimeSpan.FromSeconds(90), CancellationToken.None));
        Assert.Equal(17000L, await SharedPostgres.ScalarAsync<long>(target, "SELECT sum(balance)::bigint FROM user_wallets"));

        // A transfer from a to b whose credit row carries a sub-cent amount: the whole transaction parks.
        await SharedPostgres.ExecuteAsync(source, $"""
            BEGIN;
            UPDATE balance_transaction SET balance = balance - 10, updated_at = now() WHERE user_id = '{a}';
            UPDATE balance_transaction SET balance = balance + 10, updated_at = now() WHERE user_id = '{b}';
            INSERT INTO create_transaction (id, user_id, amount, is_debit, created_on, transaction_type) VALUES
                (1, '{a}', 10.0000, true, now(), 'TRANSFER'), (2, '{b}', 10.0050, false, now(), 'TRANSFER');
            COMMIT;
            """);
        // Later: a credit to a (waits behind the transfer), and one to c (flows).
        await SharedPostgres.ExecuteAsync(source, $"""
            BEGIN;
            UPDATE balance_transaction SET balance = balance + 5, updated_at = now() WHERE user_id = '{a}';
            INSERT INTO create_transaction (id, user_id, amount, is_debit, created_on, transaction_type) VALUES (3, '{a}', 5.0000, false, now(), 'CREDIT');
            COMMIT;
            BEGIN;
            UPDATE balance_transaction SET balance = balance + 1, updated_at = now() WHERE user_id = '{c}';
            INSERT INTO create_transaction (id, user_id, amount, is_debit, created_on, transaction_type) VALUES (4, '{c}', 1.0000, false, now(), 'CREDIT');
            COMMIT;
            """);
        Assert.True(await PipelineProgress.WaitForDrainAsync(options, TimeSpan.FromSeconds(90), CancellationToken.None));

        Assert.Equal(10000L, await SharedPostgres.ScalarAsync<long>(target, $"SELECT balance::bigint FROM user_wallets WHERE user_id = '{a}'"));
        Assert.Equal(5000L, await SharedPostgres.ScalarAsync<long>(target, $"SELECT balance::bigint FROM user_wallets WHERE user_id = '{b}'"));
        Assert.Equal(2100L, await SharedPostgres.ScalarAsync<long>(target, $"SELECT balance::bigint FROM user_wallets WHERE user_id = '{c}'"));
        Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM transactions"));
        Assert.Equal(4L, await SharedPostgres.ScalarAsync<long>(target,
            "SELECT count(*) FROM peeq_cdc.parked_rows WHERE whole_transaction AND held_behind IS NULL AND status = 'parked' AND reason LIKE 'lossy cast: amount 10.0050%'"));
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(target,
            "SELECT count(*) FROM peeq_cdc.parked_rows WHERE whole_transaction AND held_behind IS NOT NULL AND status = 'parked' AND reason LIKE 'held behind %'"));

        var config = PipelineHarness.WriteConfig(options, Path.Combine(Path.GetTempPath(), $"peeq-parked-{Guid.NewGuid():N}.yaml"));
        var (code, listed, _) = await PipelineProcess.RunAsync(TimeSpan.FromSeconds(60), "parked", "list", "--config", config);
        output.WriteLine(listed);
        Assert.Equal(0, code);
        Assert.Contains("WHOLE: lossy cast: amount 10.0050", listed);
        Assert.Contains("HELD behind", listed);

        // Replaying the blocker fails again (still lossy) and changes nothing; discarding it lets the held credit follow.
        var blocker = await SharedPostgres.ScalarAsync<long>(target, "SELECT min(id) FROM peeq_cdc.parked_rows WHERE held_behind IS NULL");
        var (replayCode, replayed, _) = await PipelineProcess.RunAsync(TimeSpan.FromSeconds(60), "parked", "replay", "--config", config, "--target", "target", blocker.ToString(CultureInfo.InvariantCulture));
        output.WriteLine(replayed);
        // (This config maps with the identity mapping, which has no home for the parked change either.)
        Assert.Equal(1, replayCode);
        Assert.True(replayed.Contains("not replayed", StringComparison.Ordinal) || replayed.Contains("cannot be mapped", StringComparison.Ordinal), replayed);
        Assert.Equal(10000L, await SharedPostgres.ScalarAsync<long>(target, $"SELECT balance::bigint FROM user_wallets WHERE user_id = '{a}'"));
        var (discardCode, discarded, _) = await PipelineProcess.RunAsync(TimeSpan.FromSeconds(60), "parked", "discard", "--config", config, "--target", "target", "--by", "finance-ops",
            blocker.ToString(CultureInfo.InvariantCulture));
        output.WriteLine(discarded);
        Assert.Equal(0, discardCode);
        await Wait.ForAsync(async () => await SharedPostgres.ScalarAsync<long>(target, $"SELECT balance::bigint FROM user_wallets WHERE user_id = '{a}'") == 9500, "the held credit to follow");
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM transactions"));
        Assert.Equal(4L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows WHERE status = 'discarded' AND resolved_by = 'finance-ops'"));
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows WHERE status = 'replayed' AND resolved_at IS NOT NULL"));
    }
}
