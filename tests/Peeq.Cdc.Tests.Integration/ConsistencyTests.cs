using Npgsql;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration;

/// <summary>
/// Guarantees 2 and 3 as a reader of the target sees them: source transactions appear whole (balances add up
/// at every moment), replaying the whole unified topic changes nothing, and a target that crashes mid-batch
/// ends up with every change exactly once.
/// </summary>
public sealed class ConsistencyTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Wallets = 20;
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    private const string WalletSchema = """
        CREATE TABLE wallets (id int PRIMARY KEY, balance numeric(14,2) NOT NULL, moves int NOT NULL DEFAULT 0, updated timestamptz NOT NULL DEFAULT now());
        CREATE TABLE transfer_log (from_id int NOT NULL, to_id int NOT NULL, amount numeric(14,2) NOT NULL, at timestamptz NOT NULL DEFAULT now());
        INSERT INTO wallets (id, balance) SELECT g, 1000.00 FROM generate_series(1, 20) g;
        """;

    /// <summary>Moves money between wallets, one or several transfers per transaction; the total never changes.</summary>
    private static async Task<int> TransfersAsync(string source, int transactions, int seed)
    {
        var random = new Random(seed);
        await using var conn = new NpgsqlConnection(source);
        await conn.OpenAsync();
        for (var i = 0; i < transactions; i++)
        {
            await using var tx = await conn.BeginTransactionAsync();
            var transfers = random.Next(1, 4);
            for (var t = 0; t < transfers; t++)
            {
                var from = random.Next(1, Wallets + 1);
                var to = (from % Wallets) + 1;
                var amount = random.Next(1, 5000) / 100m;
                await using var cmd = new NpgsqlCommand("""
                    UPDATE wallets SET balance = balance - @a, moves = moves + 1, updated = now() WHERE id = @f;
                    UPDATE wallets SET balance = balance + @a, moves = moves + 1, updated = now() WHERE id = @t;
                    INSERT INTO transfer_log (from_id, to_id, amount) VALUES (@f, @t, @a);
                    """, conn, tx);
                cmd.Parameters.AddWithValue("a", amount);
                cmd.Parameters.AddWithValue("f", from);
                cmd.Parameters.AddWithValue("t", to);
                await cmd.ExecuteNonQueryAsync();
            }

            await tx.CommitAsync();
        }

        return transactions;
    }

    [Fact]
    public async Task money_moving_between_wallets_is_never_seen_half_applied_and_replaying_the_whole_topic_changes_no_byte()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("consistency_wallets_src");
        var target = await SharedPostgres.CreateDatabaseAsync("consistency_wallets_dst");
        await SharedPostgres.ExecuteAsync(source, WalletSchema);
        var options = PipelineHarness.Identity("wallets", source, target, _kafka.BootstrapServers, "wallets", "transfer_log");
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync(Stages.Capture | Stages.Transform);
        await pipeline.StartAsync(Stages.Sink);
        await pipeline.DrainAsync();

        // A reader polls the target's total throughout the run: it must always be the invariant.
        using var stop = new CancellationTokenSource();
        var observations = 0;
        var violations = new List<string>();
        var reader = Task.Run(async () =>
        {
            await using var conn = new NpgsqlConnection(target);
            await conn.OpenAsync();
            while (!stop.IsCancellationRequested)
            {
                await using var cmd = new NpgsqlCommand("SELECT count(*), sum(balance), (SELECT count(*) FROM transfer_log), sum(moves) FROM wallets", conn);
                await using var r = await cmd.ExecuteReaderAsync();
                await r.ReadAsync();
                var (count, sum, log, moves) = (r.GetInt64(0), r.GetDecimal(1), r.GetInt64(2), r.GetInt64(3));
                if (count != Wallets || sum != Wallets * 1000m || moves != 2 * log)
                {
                    violations.Add($"{count} wallets, total {sum}, {log} transfers logged, {moves} moves");
                }

                observations++;
            }
        });
        await TransfersAsync(source, 1500, seed: 11);
        await pipeline.DrainAsync();
        await stop.CancelAsync();
        await reader;
        output.WriteLine($"{observations} observations of the target during the run");
        Assert.True(observations > 100, $"the reader looked only {observations} times");
        Assert.Empty(violations);
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("wallets"));
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("transfer_log"));

        // The whole unified topic again, from offset 0, by a Sink in a new consumer group: not a byte changes.
        // (Capture stops first, so heartbeats do not move the applied position meanwhile.)
        await pipeline.StopAsync(Stages.Capture | Stages.Transform);
        await SettledAsync(target);
        await pipeline.StopAsync(Stages.Sink);
        var before = await DumpAsync(target);
        var skipped = Sink.SinkMetrics.DuplicatesSkipped.WithLabels("wallets").Value;
        options.Sink.Group = "replay-from-zero";
        await using var replay = new PipelineHarness(options, _kafka, output);
        await replay.StartAsync(Stages.Sink);
        await Wait.ForAsync(() => Sink.SinkMetrics.DuplicatesSkipped.WithLabels("wallets").Value >= skipped + 1000, "the topic to be read again", 120);
        await Task.Delay(1000);
        Assert.Equal(before, await DumpAsync(target));
    }

    [Fact]
    public async Task target_killed_mid_batch_and_restarted_loses_and_duplicates_nothing()
    {
        await using var targetPg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "crash-target" });
        var source = await SharedPostgres.CreateDatabaseAsync("consistency_crash_src");
        var target = await targetPg.CreateDatabaseAsync("consistency_crash_dst");
        await SharedPostgres.ExecuteAsync(source, WalletSchema);
        var options = PipelineHarness.Identity("crash", source, target, _kafka.BootstrapServers, "wallets", "transfer_log");
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await pipeline.DrainAsync();

        var workload = Task.Run(() => TransfersAsync(source, 3000, seed: 12));
        // Wait for the Sink to be inside a target transaction, then crash the server under it.
        await Wait.ForAsync(async () =>
        {
            await using var conn = new NpgsqlConnection(target);
            await conn.OpenAsync();
            return await new NpgsqlCommand("""
                SELECT count(*) > 0 FROM pg_stat_activity
                WHERE application_name LIKE 'peeq-cdc sink%' AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
                """, conn).ExecuteScalarAsync() is true;
        }, "the Sink to be mid-batch", 60);
        await targetPg.StopAsync("immediate");
        output.WriteLine("[test] target stopped with pg_ctl stop -m immediate");
        await Task.Delay(3000);
        await targetPg.StartServerAsync();
        output.WriteLine("[test] target restarted");
        await workload;
        await pipeline.DrainAsync(TimeSpan.FromSeconds(180));
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("wallets"));
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("transfer_log"));
        Assert.True(Sink.SinkMetrics.Errors.WithLabels("target", "transient").Value > 0, "the Sink never noticed the crash");
    }

    /// <summary>Waits until the applied position stops moving (the Sink has applied what the topic holds).</summary>
    private static async Task SettledAsync(string target)
    {
        var last = "";
        var stableSince = DateTime.UtcNow;
        await Wait.ForAsync(async () =>
        {
            var now = await SharedPostgres.ScalarAsync<string>(target, "SELECT string_agg(source || end_lsn::text, ',') FROM peeq_cdc.applied_position");
            if (now != last)
            {
                last = now;
                stableSince = DateTime.UtcNow;
            }

            return DateTime.UtcNow - stableSince > TimeSpan.FromSeconds(2);
        }, "the applied position to settle");
    }

    /// <summary>Every table of the target that the pipeline writes, in full (positions without their wall-clock times).</summary>
    private static async Task<List<string>> DumpAsync(string target)
    {
        var all = new List<string>();
        await using var conn = new NpgsqlConnection(target);
        await conn.OpenAsync();
        var lineage = new List<string>();
        await using (var cmd = new NpgsqlCommand("SELECT lineage_table FROM peeq_cdc.lineage_tables ORDER BY 1", conn))
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                lineage.Add(r.GetString(0));
            }
        }

        foreach (var t in new[] { "public.wallets", "public.transfer_log" }.Concat(lineage.Select(l => $"peeq_cdc.{l}")))
        {
            all.Add("== " + t);
            all.AddRange(await TableComparer.DumpAsync(target, TableId.Parse(t)));
        }

        foreach (var (table, columns) in new (string, string[])[]
        {
            ("peeq_cdc.applied_position", ["source", "commit_lsn", "end_lsn", "seq", "txid", "source_commit_ts"]),
            ("peeq_cdc.parked_rows", ["id", "source", "commit_lsn", "seq", "sub", "reason", "status"]),
            ("peeq_cdc.shadowed_claims", ["target_table", "target_key", "source", "row"]),
            ("peeq_cdc.pending_lookups", ["target_table", "target_key", "column_name"]),
        })
        {
            all.Add("== " + table);
            all.AddRange(await TableComparer.DumpAsync(target, TableId.Parse(table), columns));
        }

        return all;
    }
}
