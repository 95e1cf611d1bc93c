using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration;

/// <summary>One change flowing end to end: source → Capture → raw topic → Transform → unified topic → Sink → target.</summary>
public sealed class VerticalSliceTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task ten_thousand_mixed_changes_arrive_row_for_row()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("slice_mixed_src");
        var target = await SharedPostgres.CreateDatabaseAsync("slice_mixed_dst");
        await SharedPostgres.ExecuteAsync(source, MixedWorkload.Schema);
        await MixedWorkload.RunAsync(source, 2000, seed: 1);

        await using var pipeline = new PipelineHarness(
            PipelineHarness.Identity("mixed", source, target, _kafka.BootstrapServers, MixedWorkload.Tables), _kafka, output);
        await pipeline.StartAsync();
        var changes = await MixedWorkload.RunAsync(source, 10_000, seed: 2, firstId: 100_000);
        Assert.True(changes >= 10_000);
        await pipeline.DrainAsync();

        foreach (var t in MixedWorkload.Tables)
        {
            await TableComparer.AssertEqualAsync(source, target, TableId.Parse(t));
        }

        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows"));
    }

    [Fact]
    public async Task hostile_table_and_column_names_replicate_like_any_other()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("slice_hostile_src");
        var target = await SharedPostgres.CreateDatabaseAsync("slice_hostile_dst");
        await SharedPostgres.ExecuteAsync(source, """
            CREATE SCHEMA "Sales; DROP SCHEMA public";
            CREATE TABLE "Sales; DROP SCHEMA public"."Order ""items""; --" (
                "id'); DROP TABLE x; --" int PRIMARY KEY,
                "qty ""q"";" int,
                "ünïcødé 🚀" text);
            INSERT INTO "Sales; DROP SCHEMA public"."Order ""items""; --" VALUES (1, 10, 'ü 🚀'), (2, 20, '''; SELECT 1; --');
            """);
        var table = "\"Sales; DROP SCHEMA public\".\"Order \"\"items\"\"; --\"";
        await using var pipeline = new PipelineHarness(PipelineHarness.Identity("hostile", source, target, _kafka.BootstrapServers, table), _kafka, output);
        await pipeline.StartAsync();
        await SharedPostgres.ExecuteAsync(source, """
            INSERT INTO "Sales; DROP SCHEMA public"."Order ""items""; --" VALUES (3, 30, E'tab\there');
            UPDATE "Sales; DROP SCHEMA public"."Order ""items""; --" SET "qty ""q"";" = 11 WHERE "id'); DROP TABLE x; --" = 1;
            DELETE FROM "Sales; DROP SCHEMA public"."Order ""items""; --" WHERE "id'); DROP TABLE x; --" = 2;
            """);
        await pipeline.DrainAsync();

        await TableComparer.AssertEqualAsync(source, target, TableId.Parse(table));
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(target, """SELECT count(*) FROM "Sales; DROP SCHEMA public"."Order ""items""; --" """));
        Assert.True(await SharedPostgres.ScalarAsync<bool>(source, "SELECT to_regnamespace('public') IS NOT NULL"));
    }

    [Fact]
    public async Task keyless_table_gets_every_insert_exactly_once()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("slice_keyless_src");
        var target = await SharedPostgres.CreateDatabaseAsync("slice_keyless_dst");
        await SharedPostgres.ExecuteAsync(source, """
            CREATE TABLE audit (at timestamptz NOT NULL, what text);
            INSERT INTO audit SELECT now(), 'before ' || g FROM generate_series(1, 500) g;
            INSERT INTO audit SELECT now(), 'duplicate' FROM generate_series(1, 3);
            """);
        await using var pipeline = new PipelineHarness(PipelineHarness.Identity("keyless", source, target, _kafka.BootstrapServers, "audit"), _kafka, output);
        await pipeline.StartAsync();
        await pipeline.DrainAsync();
        for (var i = 0; i < 20; i++)
        {
            await SharedPostgres.ExecuteAsync(source, $"INSERT INTO audit SELECT now(), 'live {i}.' || g FROM generate_series(1, 50) g; INSERT INTO audit VALUES (now(), 'duplicate')");
        }

        // An update on an append-only table must not break the source (it is not published).
        await SharedPostgres.ExecuteAsync(source, "UPDATE audit SET what = 'changed' WHERE what = 'before 1'");
        await pipeline.DrainAsync();

        // Restarting replays from the slot; the Sink's position keeps every insert single.
        await pipeline.StopAsync(Cli.Hosting.Stages.All);
        await pipeline.StartAsync();
        await SharedPostgres.ExecuteAsync(source, "INSERT INTO audit VALUES (now(), 'after restart')");
        await pipeline.DrainAsync();

        Assert.Equal(1524L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM audit"));
        Assert.Equal(23L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM audit WHERE what = 'duplicate'"));
        Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM audit WHERE what = 'before 1'"));

        // The reconciler compares a keyless table by count; its count check shows the target's count (it showed 0,
        // which the soak read as every row lost).
        var report = await global::Peeq.Cdc.Reconciler.ReconcileRunner.RunAsync(pipeline.Config, Cli.Hosting.Mappings.Load(pipeline.Config),
            Path.Combine(Path.GetTempPath(), "peeq-keyless-" + Guid.NewGuid().ToString("N")[..6]), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);
        Assert.True(report.Verdict == global::Peeq.Cdc.Reconciler.Reports.Verdict.Clean, report.Summary);
        var count = Assert.Single(report.Counts);
        Assert.Equal((1524L, 1524L), (count.SourceRows, count.TargetRows));
    }

    [Fact]
    public async Task heartbeat_written_right_before_a_commit_never_hides_that_transaction()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("slice_heartbeat_src");
        var target = await SharedPostgres.CreateDatabaseAsync("slice_heartbeat_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE ticks (id int PRIMARY KEY)");
        await using var pipeline = new PipelineHarness(PipelineHarness.Identity("heartbeat", source, target, _kafka.BootstrapServers, "ticks"), _kafka, output);
        await pipeline.StartAsync();
        await pipeline.DrainAsync();

        // pgoutput reports a non-transactional message at its record's end. Written by another session
        // between a transaction's last change and its commit, that end is exactly the commit's LSN.
        await using var writer = new Npgsql.NpgsqlConnection(source);
        await writer.OpenAsync();
        await using var other = new Npgsql.NpgsqlConnection(source);
        await other.OpenAsync();
        for (var i = 1; i <= 200; i++)
        {
            await using var tx = await writer.BeginTransactionAsync();
            await new Npgsql.NpgsqlCommand($"INSERT INTO ticks VALUES ({i})", writer, tx).ExecuteNonQueryAsync();
            await new Npgsql.NpgsqlCommand("SELECT pg_logical_emit_message(false, 'peeq-cdc.heartbeat', '')", other).ExecuteNonQueryAsync();
            await tx.CommitAsync();
        }

        await pipeline.DrainAsync();
        Assert.Equal(200L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM ticks"));
        Assert.Equal(0, Sink.SinkMetrics.Gaps.WithLabels("heartbeat", "missing_transaction").Value);
        Assert.True(Sink.SinkMetrics.DuplicatesSkipped.WithLabels("heartbeat").Value == 0, "a transaction was taken for a duplicate");
    }
}
