using Npgsql;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Reconciler;

/// <summary>
/// Reconciliation while the pipeline and a heavy money-moving workload run: nothing in flight is ever
/// reported as a difference, and discrepancies injected into the target are always reported in that run.
/// </summary>
public sealed class ReconcilerLiveTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    private const string Schema = """
        CREATE TABLE wallets (id bigint PRIMARY KEY, user_id uuid NOT NULL, balance numeric(19,4) NOT NULL, currency varchar(3) NOT NULL, updated_at timestamptz NOT NULL);
        CREATE TABLE movements (id bigserial PRIMARY KEY, wallet_id bigint NOT NULL, amount numeric(19,4) NOT NULL, is_debit boolean NOT NULL, meta jsonb, created_on timestamptz NOT NULL);
        INSERT INTO wallets SELECT g, md5('user' || g)::uuid, 1000, CASE WHEN g % 5 = 0 THEN 'EUR' ELSE 'USD' END, now() FROM generate_series(1, 80) g;
        INSERT INTO movements (wallet_id, amount, is_debit, meta, created_on) SELECT g, 1000, false, '{"kind": "opening"}', now() FROM generate_series(1, 80) g;
        -- A legacy anomaly: wallet 77's balance does not match its movements (in the source already).
        UPDATE wallets SET balance = 1000.5 WHERE id = 77;
        """;

    private const string Checks = """
        balances:
          - name: wallet_balance
            title: Wallet balance per wallet
            domain: Wallets
            key: [wallet, currency]
            values: [balance]
            source:
              - source: live
                sql: SELECT id AS wallet, currency, balance FROM wallets
            target:
              target: target
              sql: SELECT id AS wallet, currency, balance FROM wallets
          - name: movement_sums
            title: Movements per wallet and direction
            domain: Wallets
            key: [wallet, is_debit]
            values: [amount, movements]
            source:
              - source: live
                sql: SELECT wallet_id AS wallet, is_debit, sum(amount) AS amount, count(*) AS movements FROM movements GROUP BY 1, 2
            target:
              target: target
              sql: SELECT wallet_id AS wallet, is_debit, sum(amount) AS amount, count(*) AS movements FROM movements GROUP BY 1, 2
        invariants:
          - name: balance_matches_movements
            title: A wallet's balance equals its credits minus its debits
            domain: Wallets
            key: [wallet]
            left: balance
            right: net
            on:
              - source: live
                sql: &net >
                  SELECT w.id AS wallet, w.balance, coalesce(sum(CASE WHEN m.is_debit THEN -m.amount ELSE m.amount END), 0) AS net
                  FROM wallets w LEFT JOIN movements m ON m.wallet_id = w.id GROUP BY w.id, w.balance
              - target: target
                sql: *net
        """;

    /// <summary>
    /// Transfers between wallets 1..50 in transactions, about <paramref name="perSecond"/> a second (as much as
    /// the in-process pipeline follows on this machine while the reconciler runs beside it), until cancelled.
    /// </summary>
    private static async Task<long> TransfersAsync(string cs, int seed, double perSecond, CancellationToken ct)
    {
        var random = new Random(seed);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long done = 0;
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync(CancellationToken.None);
        while (!ct.IsCancellationRequested)
        {
            var from = random.Next(1, 51);
            var to = random.Next(1, 51);
            if (from == to)
            {
                continue;
            }

            var amount = random.Next(1, 10_000) / 100m;
            await using var tx = await conn.BeginTransactionAsync(CancellationToken.None);
            await using var cmd = new NpgsqlCommand("""
                UPDATE wallets SET balance = balance - @a, updated_at = now() WHERE id = @f;
                UPDATE wallets SET balance = balance + @a, updated_at = now() WHERE id = @t;
                INSERT INTO movements (wallet_id, amount, is_debit, meta, created_on) VALUES (@f, @a, true, jsonb_build_object('to', @t), now()), (@t, @a, false, jsonb_build_object('from', @f), now());
                """, conn, tx);
            cmd.Parameters.AddWithValue("a", amount);
            cmd.Parameters.AddWithValue("f", (long)from);
            cmd.Parameters.AddWithValue("t", (long)to);
            await cmd.ExecuteNonQueryAsync(CancellationToken.None);
            if (random.Next(20) == 0)
            {
                // Now and then a correction deletes a pair of movements and reverses its effect.
                await using var undo = new NpgsqlCommand("""
                    WITH gone AS (DELETE FROM movements WHERE id = (SELECT max(id) FROM movements WHERE wallet_id = @f AND is_debit) RETURNING amount)
                    UPDATE wallets SET balance = balance + (SELECT coalesce(sum(amount), 0) FROM gone) WHERE id = @f
                    """, conn, tx);
                undo.Parameters.AddWithValue("f", (long)from);
                await undo.ExecuteNonQueryAsync(CancellationToken.None);
            }

            await tx.CommitAsync(CancellationToken.None);
            done++;
            var ahead = TimeSpan.FromSeconds(done / perSecond) - clock.Elapsed;
            if (ahead > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(ahead, ct);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        return done;
    }

    private async Task<ReconciliationReport> ReconcileAsync(PipelineOptions options, string name)
    {
        var config = PipelineConfig.FromOptions(options);
        var dir = Path.Combine(Path.GetTempPath(), "peeq-reconcile-tests", name + "-" + Guid.NewGuid().ToString("N")[..6]);
        var report = await ReconcileRunner.RunAsync(config, Mappings.Load(config), dir,
            new TestOutputLoggerProvider(output, Microsoft.Extensions.Logging.LogLevel.Information).CreateLogger("reconcile"), CancellationToken.None);
        output.WriteLine($"{name}: {report.Summary} in {(report.FinishedAt - report.StartedAt).TotalSeconds:0.0} s, {report.Rounds} round(s)");
        foreach (var d in report.Differences)
        {
            output.WriteLine($"  {d.Status} {d.Kind} {d.TargetTable} {d.Key} {string.Join("; ", d.Columns.Select(c => $"{c.Column}: {c.Expected} -> {c.Actual}"))} ({d.Note})");
        }

        foreach (var b in report.Balances.SelectMany(b => b.Differences))
        {
            output.WriteLine($"  balance {b.Status} {b.Check} {string.Join(",", b.Group.Values)} {b.Value}: {b.Source} vs {b.Target}");
        }

        foreach (var e in report.Errors)
        {
            output.WriteLine($"  ERROR {e}");
        }

        return report;
    }

    [Fact]
    public async Task heavy_workload_gives_no_false_difference_and_injected_ones_are_always_found()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("rec_live_src");
        var target = await SharedPostgres.CreateDatabaseAsync("rec_live_dst");
        await SharedPostgres.ExecuteAsync(source, Schema);
        var checks = Path.Combine(Path.GetTempPath(), $"rec-live-checks-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(checks, Checks);
        var options = PipelineHarness.Identity("live", source, target, _kafka.BootstrapServers, "public.wallets", "public.movements");
        options.Reconcile = new ReconcileOptions { Checks = checks, RecheckRounds = 4, RecheckDelay = TimeSpan.FromMilliseconds(300), WatermarkWait = TimeSpan.FromSeconds(60) };
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await pipeline.DrainAsync();

        using var stop = new CancellationTokenSource();
        var workload = Task.WhenAll(TransfersAsync(source, 1, 20, stop.Token), TransfersAsync(source, 2, 20, stop.Token));
        try
        {
            await Task.Delay(2000);
            var runs = new List<ReconciliationReport>();
            for (var i = 0; i < 3; i++)
            {
                runs.Add(await ReconcileAsync(options, $"busy{i}"));
            }

            // Rows moved after the watermark, and the re-check rounds settled them: a clean verdict while busy.
            Assert.Contains(runs, r => r.Verdict == Verdict.Clean && r.Rounds > 1);
            foreach (var busy in runs)
            {
                Assert.Empty(busy.Errors);
                Assert.NotEqual(Verdict.Different, busy.Verdict);
                Assert.Equal(0, busy.Totals.Differences);
                Assert.Equal(0, busy.Totals.BalanceDifferences);
                Assert.DoesNotContain(busy.Differences, d => d.Status == DifferenceStatus.Different);
                Assert.All(busy.Watermarks, w => Assert.True(w.Reached));
                // The legacy anomaly shows on both sides, as an observation, not as a difference.
                Assert.Contains(busy.Invariants, x => x.Side == "source live" && x.Observations.Any(o => o.Group["wallet"] == "77"));
                Assert.Contains(busy.Invariants, x => x.Side == "target target" && x.Observations.Any(o => o.Group["wallet"] == "77" && o.AlsoInSource));
            }

            // Wallets 51..80 are not touched by the workload: tamper with them in the target.
            await SharedPostgres.ExecuteAsync(target, """
                DELETE FROM wallets WHERE id = 51;
                UPDATE wallets SET currency = 'GBP' WHERE id = 52;
                UPDATE wallets SET balance = balance + 0.01 WHERE id = 53;
                INSERT INTO wallets VALUES (9999, '00000000-0000-0000-0000-000000009999', 5, 'USD', now());
                DELETE FROM movements WHERE id = (SELECT min(id) FROM movements WHERE wallet_id = 54);
                """);
            for (var i = 0; i < 2; i++)
            {
                var report = await ReconcileAsync(options, $"tampered{i}");
                Assert.Equal(Verdict.Different, report.Verdict);
                var real = report.Differences.Where(d => d.Status == DifferenceStatus.Different).ToList();
                Assert.Contains(real, d => d.Kind == DifferenceKind.Missing && d.TargetTable == "public.wallets" && d.Key == """{"id":"51"}""");
                Assert.Contains(real, d => d.Kind == DifferenceKind.Changed && d.Key == """{"id":"52"}""" && d.Columns.Single().Column == "currency");
                Assert.Contains(real, d => d.Kind == DifferenceKind.Changed && d.Key == """{"id":"53"}""" && d.Columns.Single() is { Column: "balance", Expected: "1000.0000", Actual: "1000.0100" });
                Assert.Contains(real, d => d.Kind == DifferenceKind.Extra && d.Key == """{"id":"9999"}""");
                Assert.Contains(real, d => d.Kind == DifferenceKind.Missing && d.TargetTable == "public.movements");
                Assert.Equal(5, real.Count);
                var balance = report.Balances.Single(b => b.Name == "wallet_balance");
                Assert.Contains(balance.Differences, d => d.Status == DifferenceStatus.Different && d.Group["wallet"] == "53" && d.Delta == "0.0100");
                Assert.DoesNotContain(report.Balances.SelectMany(b => b.Differences), d => d.Status == DifferenceStatus.Different && int.Parse(d.Group["wallet"]!) <= 50);
                Assert.Contains(report.Invariants, x => x.Side == "target target" && x.Observations.Any(o => o.Group["wallet"] == "53" && !o.AlsoInSource));
            }
        }
        finally
        {
            await stop.CancelAsync();
        }

        var transfers = (await workload).Sum();
        output.WriteLine($"workload: {transfers} transfers");
        Assert.True(transfers > 300, $"the workload made only {transfers} transfers");
    }
}
