using System.Text.RegularExpressions;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Reconciler.Values;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Reconciler;

/// <summary>
/// Finance's balance checks as shipped (reconcile/checks.yaml) on the commerce domain as shipped (the legacy
/// wallet, transaction and inventory schemas through mappings/peeq_commerce.yaml into peeq_commerce):
/// dollars against INT cents, fan-in of two sources into one transactions table, a wallet in EUR. A clean
/// migration balances to the cent; one cent changed in the target is found and located to its user.
/// </summary>
public sealed partial class ReconcilerFinanceTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    private const string U1 = "f1000000-0000-4000-8000-000000000001";
    private const string U2 = "f1000000-0000-4000-8000-000000000002";
    private const string U3 = "f1000000-0000-4000-8000-000000000003";
    private const string U4 = "f1000000-0000-4000-8000-000000000004";
    private const string Creator = "c1000000-0000-4000-8000-000000000001";
    private const string T3 = "b2000000-0000-4000-8000-000000000003";
    private const string T4 = "b2000000-0000-4000-8000-000000000004";
    private const string Item2 = "a1000000-0000-4000-8000-000000000002";
    private const string NoItem = "a1000000-0000-4000-8000-0000000000ff";

    private static readonly Dictionary<string, string> Data = new()
    {
        ["inventory"] = $"""
            INSERT INTO inventory_item (id, item_id, type, state, price, quantity, created_by_id, currency, created_on) VALUES
              ('a1000000-0000-4000-8000-000000000001', 'SHOUTOUT-a', 'SHOUTOUT', 'ACTIVE', 25.00, 10, '{Creator}', 'USD', '2024-01-10 00:00:00+00'),
              ('a1000000-0000-4000-8000-000000000002', 'CLASS-b', 'CLASS', 'ACTIVE', 99.99, NULL, '{Creator}', 'EUR', '2024-01-11 00:00:00+00'),
              ('a1000000-0000-4000-8000-000000000003', 'EVENT-c', 'EVENT', 'DRAFT', 12.34, NULL, '{Creator}', NULL, '2024-01-12 00:00:00+00');
            INSERT INTO inventory_item_price_history VALUES
              ('a2000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000001', 20.00, 25.00, '2024-01-15 00:00:00+00'),
              ('a2000000-0000-4000-8000-000000000002', 'a1000000-0000-4000-8000-000000000002', 89.99, 99.99, '2024-01-16 00:00:00+00');
            """,
        // U1 and U2 balance with their movements; U3's balance does not (a legacy anomaly). U2's wallet is in EUR.
        // No item ids in the snapshot: a lookup racing the inventory snapshot is the Sink's sweep's business
        // (the reconciler reports the NULL it finds until the sweep fills it in); the streamed posting has one.
        ["wallet"] = $"""
            INSERT INTO balance_transaction (id, user_id, balance, currency, updated_at) VALUES
              (1, '{U1}', 100.5000, 'USD', '2024-05-01 00:00:00+00'),
              (2, '{U2}', 0.0000, 'EUR', '2024-05-01 00:00:00+00'),
              (3, '{U3}', 7.2500, 'USD', '2024-05-01 00:00:00+00');
            INSERT INTO create_transaction (id, user_id, amount, is_debit, item_id, description, created_on, transaction_type) VALUES
              (1, '{U1}', 150.5000, false, NULL, 'Top-up', '2024-05-01 00:00:00+00', 'CREDIT'),
              (2, '{U1}', 50.0000, true, NULL, 'Shoutout', '2024-05-01 00:00:01+00', 'PURCHASE'),
              (3, '{U2}', 10.0000, false, NULL, 'Top-up', '2024-05-01 00:00:02+00', 'CREDIT'),
              (4, '{U2}', 10.0000, true, NULL, 'Class', '2024-05-01 00:00:03+00', 'DEBIT'),
              (5, '{U3}', 7.0000, false, NULL, 'Top-up', '2024-05-01 00:00:04+00', 'CREDIT');
            SELECT setval('create_transaction_id_seq', 100);
            """,
        ["transaction"] = $"""
            INSERT INTO transactions VALUES
              ('b2000000-0000-4000-8000-000000000001', '{U1}', 'a1000000-0000-4000-8000-000000000001', NULL, 25.00, 2, 'USD', 'COMPLETED', '{U1}', '2024-05-03 00:00:00+00'),
              ('b2000000-0000-4000-8000-000000000002', '{U2}', NULL, NULL, 0.01, 3, NULL, 'PENDING', '{U2}', '2024-05-03 00:00:01+00'),
              ('{T3}', '{U4}', 'a1000000-0000-4000-8000-000000000002', NULL, 19.99, 1, 'EUR', 'COMPLETED', '{U4}', '2024-05-03 00:00:02+00'),
              -- A purchase of an item inventory-db never had: orphaned in the legacy data too.
              ('{T4}', '{U4}', '{NoItem}', NULL, 5.00, 1, 'USD', 'COMPLETED', '{U4}', '2024-05-03 00:00:03+00');
            """,
        // No rows: the commerce mapping reads these sources too.
        ["stripe"] = "",
        ["subscriptions"] = "",
    };

    [Fact]
    public async Task shipped_balance_checks_balance_to_the_cent_and_find_one_cent_changed_in_the_target()
    {
        var target = await SharedPostgres.CreateDatabaseAsync("rec_fin_commerce");
        await SharedPostgres.ExecuteAsync(target, await File.ReadAllTextAsync(RepoFiles.Path("schemas", "target", "peeq_commerce.sql")));
        var options = new PipelineOptions
        {
            Kafka = new KafkaOptions { BootstrapServers = _kafka.BootstrapServers, TopicPrefix = "t-recfin" },
            Targets = [new TargetOptions { Name = "commerce", ConnectionString = target, Mapping = RepoFiles.Path("mappings", "peeq_commerce.yaml") }],
            Capture = new CaptureOptions
            {
                HeartbeatInterval = TimeSpan.FromMilliseconds(500),
                AckInterval = TimeSpan.FromMilliseconds(100),
                RetryDelay = TimeSpan.FromMilliseconds(200),
                MaxRetryDelay = TimeSpan.FromSeconds(2),
            },
            Sink = new SinkOptions { RetryDelay = TimeSpan.FromMilliseconds(200), MaxRetryDelay = TimeSpan.FromSeconds(2) },
            Http = new HttpOptions { Urls = "" },
            Reconcile = new ReconcileOptions { Checks = RepoFiles.Path("reconcile", "checks.yaml"), RecheckRounds = 1, RecheckDelay = TimeSpan.FromMilliseconds(200),
                References = RepoFiles.Path("schemas", "target", "references.yaml"), Databases = new() { ["peeq_commerce"] = "commerce" } },
        };
        var sources = new Dictionary<string, string>();
        foreach (var (name, data) in Data)
        {
            var cs = await SharedPostgres.CreateDatabaseAsync($"rec_fin_{name}");
            var ddl = await File.ReadAllTextAsync(RepoFiles.Path("schemas", "legacy", name + ".sql"));
            await SharedPostgres.ExecuteAsync(cs, ddl);
            if (data.Length > 0)
            {
                await SharedPostgres.ExecuteAsync(cs, data);
            }

            sources[name] = cs;
            options.Sources.Add(new SourceOptions
            {
                Name = name,
                ConnectionString = cs,
                Target = "commerce",
                Tables = [.. CreateTable().Matches(ddl).Select(m => m.Groups[1].Value)],
                FinancialTables = name switch
                {
                    "wallet" => ["balance_transaction", "create_transaction", "create_transaction_related_transactions"],
                    "transaction" => ["transactions"],
                    _ => [],
                },
            });
        }

        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await pipeline.DrainAsync(TimeSpan.FromSeconds(90));

        // Streamed, after the snapshot: a one-cent top-up for U1 (with an item id to look up) and a price change.
        await SharedPostgres.ExecuteAsync(sources["wallet"], $"""
            BEGIN;
            INSERT INTO create_transaction (user_id, amount, is_debit, item_id, description, created_on, transaction_type) VALUES ('{U1}', 0.0100, false, 'CLASS-b', 'cent', now(), 'CREDIT');
            UPDATE balance_transaction SET balance = balance + 0.01, updated_at = now() WHERE user_id = '{U1}';
            COMMIT;
            """);
        await SharedPostgres.ExecuteAsync(sources["inventory"], """
            UPDATE inventory_item SET price = 26.50 WHERE item_id = 'SHOUTOUT-a';
            INSERT INTO inventory_item_price_history VALUES ('a2000000-0000-4000-8000-000000000003', 'a1000000-0000-4000-8000-000000000001', 25.00, 26.50, now());
            """);
        await pipeline.DrainAsync(TimeSpan.FromSeconds(90));

        var clean = await ReconcileAsync(options, "clean");
        Assert.Empty(clean.Errors);
        Assert.Equal(Verdict.Clean, clean.Verdict);
        Assert.Equal(4, clean.Balances.Count);
        Assert.All(clean.Balances, b =>
        {
            Assert.True(b.Groups > 0, $"{b.Name} compared no groups");
            Assert.Equal(0, b.GroupsDiffering);
            Assert.Equal(b.SourceTotals.Select(ExactDecimal.Parse), b.TargetTotals.Select(ExactDecimal.Parse));
        });
        var wallets = clean.Balances.Single(b => b.Name == "wallet_balance_per_user");
        Assert.Equal(ExactDecimal.Parse("107.76"), ExactDecimal.Parse(wallets.SourceTotals.Single())); // 100.51 + 0 + 7.25
        // Fan-in: wallet-db postings and transaction-db purchases in one table, the EUR wallet's postings in EUR.
        var transactions = clean.Balances.Single(b => b.Name == "transactions_per_user_type_currency");
        Assert.Equal(2, transactions.SourceTotals.Count);
        Assert.Equal(ExactDecimal.Parse("302.53"), ExactDecimal.Parse(transactions.SourceTotals[0])); // wallet 150.50 + 50 + 0.01 + 10 + 10 + 7, transaction 50 + 0.03 + 19.99 + 5
        Assert.Equal(ExactDecimal.Parse("10"), ExactDecimal.Parse(transactions.SourceTotals[1]));
        // Counts per mapping, and the table's total over both sources.
        Assert.Contains(clean.Counts, c => c.Source == "wallet" && c.TargetTable == "public.transactions" && c.SourceRows == 6 && c.TargetRows == 6);
        Assert.Contains(clean.Counts, c => c.Source == "transaction" && c.TargetTable == "public.transactions" && c.SourceRows == 4 && c.TargetRows == 4);
        var fanIn = clean.TableTotals.Single(t => t.TargetTable == "public.transactions");
        Assert.Equal((2, 10L, 10L, 0L), (fanIn.Sources, fanIn.ExpectedRows, fanIn.TotalRows, fanIn.UnattributedRows));
        // The orphaned purchase is a dangling reference, not a difference.
        var orphan = clean.References.Single(x => x.Name == "transactions_item");
        Assert.Equal((1L, 1L, 0L), (orphan.DanglingRows, orphan.Orphaned, orphan.InFlight));
        Assert.Equal(NoItem, orphan.Samples.Single().Value);
        // U3's balance does not match its movements in the legacy data: an observation on both sides, not a difference.
        Assert.Contains(clean.Invariants, x => x.Side == "source wallet" && x.Observations.Any(o => o.Group["user_id"] == U3));
        Assert.Contains(clean.Invariants, x => x.Side == "target commerce" && x.Breaks == 1 && x.Observations.Single() is { AlsoInSource: true } o && o.Group["user_id"] == U3);

        // One cent, behind the pipeline's back: on a wallet, and on a purchase.
        await SharedPostgres.ExecuteAsync(target, $"""
            UPDATE user_wallets SET balance = balance + 1 WHERE user_id = '{U1}';
            UPDATE transactions SET amount = amount - 1 WHERE id = '{T3}';
            DELETE FROM inventory_items WHERE id = '{Item2}';
            """);
        var report = await ReconcileAsync(options, "tampered");
        Assert.Equal(Verdict.Different, report.Verdict);
        var wallet = Assert.Single(report.Balances.Single(b => b.Name == "wallet_balance_per_user").Differences);
        Assert.Equal(DifferenceStatus.Different, wallet.Status);
        Assert.Equal(U1, wallet.Group["user_id"]);
        Assert.Equal("USD", wallet.Group["currency"]);
        Assert.Equal(ExactDecimal.Parse("100.51"), ExactDecimal.Parse(wallet.Source!));
        Assert.Equal(ExactDecimal.Parse("100.52"), ExactDecimal.Parse(wallet.Target!));
        Assert.Equal(ExactDecimal.Parse("0.01"), ExactDecimal.Parse(wallet.Delta!));
        var purchase = Assert.Single(report.Balances.Single(b => b.Name == "transactions_per_user_type_currency").Differences);
        Assert.Equal((U4, "PURCHASE", "EUR", "amount"), (purchase.Group["user_id"], purchase.Group["transaction_type"], purchase.Group["currency"], purchase.Value));
        Assert.Equal(ExactDecimal.Parse("-0.01"), ExactDecimal.Parse(purchase.Delta!));
        // The rows themselves, mapped: the same cents located to their keys.
        var real = report.Differences.Where(d => d.Status == DifferenceStatus.Different).ToList();
        Assert.Contains(real, d => d.TargetTable == "public.user_wallets" && d.Kind == DifferenceKind.Changed && d.Columns.Single() is { Column: "balance", Expected: "10051", Actual: "10052" });
        Assert.Contains(real, d => d.TargetTable == "public.transactions" && d.Key.Contains(T3, StringComparison.Ordinal) && d.Columns.Single() is { Column: "amount", Expected: "1999", Actual: "1998" });
        Assert.Contains(real, d => d.TargetTable == "public.inventory_items" && d.Kind == DifferenceKind.Missing && d.Key.Contains(Item2, StringComparison.Ordinal));
        Assert.Equal(3, real.Count);
        var price = Assert.Single(report.Balances.Single(b => b.Name == "inventory_prices").Differences);
        Assert.Equal(("CLASS-b", "EUR", "99.99"), (price.Group["item_id"], price.Group["currency"], price.Source));
        // Its children now dangle; the legacy data still has the item, so the parent is in flight, while the
        // purchase of an item nobody ever had stays orphaned.
        var items = report.References.Single(x => x.Name == "transactions_item");
        Assert.Equal((3L, 2L, 1L), (items.DanglingRows, items.InFlight, items.Orphaned));
        Assert.Equal(1L, report.References.Single(x => x.Name == "inventory_price_history_item").InFlight);
        // The wallet now breaks its invariant in the target only.
        Assert.Contains(report.Invariants, x => x.Side == "target commerce" && x.Observations.Any(o => o.Group["user_id"] == U1 && !o.AlsoInSource));
    }

    [GeneratedRegex(@"CREATE TABLE ([a-z_]+)")]
    private static partial Regex CreateTable();

    private async Task<ReconciliationReport> ReconcileAsync(PipelineOptions options, string name)
    {
        var config = PipelineConfig.FromOptions(options);
        var dir = Path.Combine(Path.GetTempPath(), "peeq-reconcile-tests", name + "-" + Guid.NewGuid().ToString("N")[..6]);
        var report = await ReconcileRunner.RunAsync(config, Mappings.Load(config), dir,
            new TestOutputLoggerProvider(output, Microsoft.Extensions.Logging.LogLevel.Information).CreateLogger("reconcile"), CancellationToken.None);
        output.WriteLine($"{name}: {report.Summary}");
        foreach (var d in report.Differences)
        {
            output.WriteLine($"  {d.Status} {d.Kind} {d.TargetTable} {d.Key} {string.Join("; ", d.Columns.Select(c => $"{c.Column}: {c.Expected} -> {c.Actual}"))} ({d.Note})");
        }

        foreach (var b in report.Balances)
        {
            output.WriteLine($"  balance {b.Name}: {b.Groups} groups, {b.GroupsDiffering} differing; source {string.Join("/", b.SourceTotals)}, target {string.Join("/", b.TargetTotals)}");
            foreach (var d in b.Differences)
            {
                output.WriteLine($"    {d.Status} {string.Join(",", d.Group.Values)} {d.Value}: {d.Source} vs {d.Target} ({d.Delta})");
            }
        }

        foreach (var x in report.Invariants)
        {
            output.WriteLine($"  invariant {x.Name} on {x.Side}: {x.Breaks} of {x.Rows} break it: {string.Join("; ", x.Observations.Select(o => $"{string.Join(",", o.Group.Values)} {o.Left} vs {o.Right}{(o.AlsoInSource ? " (also in source)" : "")}"))}");
        }

        foreach (var x in report.References.Where(x => x.DanglingRows > 0 || x.Note is not null))
        {
            output.WriteLine($"  reference {x.Name}: {x.DanglingRows} rows, {x.InFlight} in flight, {x.Orphaned} orphaned, {x.Excluded} excluded, {x.Undetermined} undetermined ({x.Note}): {string.Join("; ", x.Samples.Select(d => $"{d.ChildKey} -> {d.Value} {d.Class}"))}");
        }

        foreach (var p in report.Parked)
        {
            output.WriteLine($"  parked {p.SourceTable} {p.SourceKey}: {p.Reason}");
        }

        foreach (var e in report.Errors)
        {
            output.WriteLine($"  ERROR {e}");
        }

        return report;
    }
}
