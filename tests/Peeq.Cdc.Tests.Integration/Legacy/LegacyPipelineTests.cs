using Peeq.Cdc.Capture;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Tests.Integration.Infrastructure;
using static Peeq.Cdc.Tests.Integration.Infrastructure.LegacyWorlds;

namespace Peeq.Cdc.Tests.Integration.Legacy;

/// <summary>Legacy databases as pipeline sources: per-source target schemas, and many slots created at once.</summary>
public sealed class LegacyPipelineTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    private PipelineOptions Options(string prefix, string targetCs, params SourceOptions[] sources) => new()
    {
        Kafka = new KafkaOptions { BootstrapServers = _kafka.BootstrapServers, TopicPrefix = $"t-{prefix}" },
        Sources = [.. sources],
        Targets = [new TargetOptions { Name = "vault", ConnectionString = targetCs }],
        Capture = new CaptureOptions
        {
            HeartbeatInterval = TimeSpan.FromMilliseconds(500),
            AckInterval = TimeSpan.FromMilliseconds(100),
            RetryDelay = TimeSpan.FromMilliseconds(200),
            MaxRetryDelay = TimeSpan.FromSeconds(2),
        },
        Sink = new SinkOptions { RetryDelay = TimeSpan.FromMilliseconds(200), MaxRetryDelay = TimeSpan.FromSeconds(2) },
        Http = new HttpOptions { Urls = "" },
    };

    /// <summary>encryption-db and dwolla-db both have vault_namespaces and vault_secrets (and colliding keys).</summary>
    [Fact]
    public async Task sources_with_the_same_tables_share_one_identity_target_through_their_target_schemas()
    {
        var (world, summary) = await SeedAsync("tschema_", seed: 3, only: ["encryption", "dwolla"]);
        Assert.True(summary.Anomaly("duplicate_across:dwolla.vault_namespaces.namespace_id").Count > 0, "the vaults should share namespace ids");
        var targetCs = await SharedPostgres.CreateDatabaseAsync("tschema_target");
        var sources = new[] { "encryption", "dwolla" }.Select(key => new SourceOptions
        {
            Name = $"tschema-{key}",
            ConnectionString = world.ConnectionString(key),
            Target = "vault",
            TargetSchema = $"legacy_{key}",
            Tables = ["vault_namespaces", "vault_secrets"],
        }).ToArray();
        var options = Options("tschema", targetCs, sources);
        await using (var pipeline = new PipelineHarness(options, _kafka, output))
        {
            await pipeline.StartAsync();
            foreach (var key in new[] { "encryption", "dwolla" })
            {
                await using var conn = await OpenAsync(world, key);
                await using var cmd = new Npgsql.NpgsqlCommand("""
                    UPDATE vault_secrets SET value = 'v1:rotated', updated_on = now() WHERE secret_id IN (SELECT secret_id FROM vault_secrets ORDER BY secret_id LIMIT 5);
                    DELETE FROM vault_secrets WHERE secret_id IN (SELECT secret_id FROM vault_secrets ORDER BY secret_id DESC LIMIT 3);
                    INSERT INTO vault_namespaces (namespace_id, version, created_on) VALUES ('shared/added-by-both', 1, now());
                    """, conn);
                await cmd.ExecuteNonQueryAsync();
            }

            await pipeline.DrainAsync();
        }

        foreach (var source in sources)
        {
            foreach (var table in source.Tables)
            {
                var from = TableId.Parse(table);
                var to = source.IdentityTarget(from);
                Assert.Equal(source.TargetSchema, to.Schema);
                Assert.Equal(await TableComparer.DumpAsync(source.ConnectionString, from), await TableComparer.DumpAsync(targetCs, to));
            }
        }

        // The same namespace id, once per schema: nothing collided, nothing was parked.
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(targetCs, """
            SELECT (SELECT count(*) FROM legacy_encryption.vault_namespaces WHERE namespace_id = 'shared/added-by-both')
                 + (SELECT count(*) FROM legacy_dwolla.vault_namespaces WHERE namespace_id = 'shared/added-by-both')
            """));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(targetCs, "SELECT count(*) FROM peeq_cdc.parked_rows"));
        Assert.False(await SharedPostgres.ScalarAsync<bool>(targetCs, "SELECT to_regclass('public.vault_namespaces') IS NOT NULL"));

        var config = PipelineConfig.FromOptions(options);
        var report = await ReconcileRunner.RunAsync(config, Mappings.Load(config), Path.Combine(Path.GetTempPath(), "peeq-tschema-" + Guid.NewGuid().ToString("N")[..6]),
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);
        Assert.True(report.Verdict == Verdict.Clean, report.Summary + " " + string.Join("; ", report.Errors));
        Assert.Equal(4, report.Counts.Count);
        Assert.All(report.Counts, c => Assert.StartsWith("legacy_", c.TargetTable, StringComparison.Ordinal));
    }

    /// <summary>
    /// Creating a slot waits for every transaction running on the server. While it waits, the slot does not
    /// exist yet: Capture must not take that for a slot dropped under it (it used to, and then sat out a
    /// minute before re-snapshotting, which the 22-source demo hit on every start).
    /// </summary>
    [Fact]
    public async Task a_slot_still_being_created_is_not_taken_for_a_dropped_one()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("slowslot_src");
        var blockerDb = await SharedPostgres.CreateDatabaseAsync("slowslot_blocker");
        var target = await SharedPostgres.CreateDatabaseAsync("slowslot_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;");
        await SharedPostgres.ExecuteAsync(blockerDb, "CREATE TABLE b (id int)");

        // A transaction with an xid, open while Capture creates its slot.
        await using var blocker = new Npgsql.NpgsqlConnection(blockerDb);
        await blocker.OpenAsync();
        await using var tx = await blocker.BeginTransactionAsync();
        await using (var insert = new Npgsql.NpgsqlCommand("INSERT INTO b VALUES (1)", blocker, tx))
        {
            await insert.ExecuteNonQueryAsync();
        }

        var options = PipelineHarness.Identity("slowslot", source, target, _kafka.BootstrapServers, "t");
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await WaitForSlotCreationToWaitAsync(source);
        await Task.Delay(TimeSpan.FromSeconds(1)); // several health-check intervals while the slot is being created
        await tx.CommitAsync();
        await SharedPostgres.ExecuteAsync(source, "INSERT INTO t VALUES (101, 'after')");
        await pipeline.DrainAsync(TimeSpan.FromSeconds(45));

        Assert.Equal(0, CaptureMetrics.Errors.WithLabels("slowslot", "slot_lost").Value);
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("t"));
    }

    /// <summary>Until the walsender of the source is waiting to build its slot's snapshot.</summary>
    private static async Task WaitForSlotCreationToWaitAsync(string sourceCs)
    {
        var db = new Npgsql.NpgsqlConnectionStringBuilder(sourceCs).Database!;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var waiting = await SharedPostgres.ScalarAsync<long>(sourceCs,
                $"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' AND datname = {Sql.QuoteLiteral(db)} AND wait_event_type = 'Lock'");
            if (waiting > 0)
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail("the source's slot creation never started waiting");
    }
}
