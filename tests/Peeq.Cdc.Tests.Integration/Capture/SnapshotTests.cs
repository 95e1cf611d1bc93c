using Peeq.Cdc.Capture;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration;

/// <summary>
/// Snapshots in chunks interleaved with streaming (DBLog watermarks): exact under concurrent writes,
/// resumable after kill -9, one table re-snapshotted on request, tables added and removed.
/// </summary>
public sealed class SnapshotTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Items = "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text)";
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task initial_snapshot_in_chunks_while_rows_keep_changing_ends_equal_to_the_source()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("snap_busy_src");
        var target = await SharedPostgres.CreateDatabaseAsync("snap_busy_dst");
        await SharedPostgres.ExecuteAsync(source, Items + "; INSERT INTO items SELECT g, 0, md5(g::text) FROM generate_series(1, 30000) g");
        var options = PipelineHarness.Identity("busy", source, target, _kafka.BootstrapServers, "items");
        options.Capture.SnapshotChunkRows = 500;
        var chunksBefore = CaptureMetrics.SnapshotChunks.WithLabels("busy").Value;

        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() => CaptureProbe.KeepBusyAsync(source, "items", 30000, stop.Token));
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await CaptureProbe.WaitForSnapshotAsync(target, "busy", "items");
        await stop.CancelAsync();
        var statements = await writer;
        await pipeline.DrainAsync();

        output.WriteLine($"{statements} statements ran during the snapshot; {CaptureMetrics.SnapshotChunks.WithLabels("busy").Value - chunksBefore} chunks");
        Assert.True(statements > 200, "the writer hardly ran during the snapshot");
        Assert.True(CaptureMetrics.SnapshotChunks.WithLabels("busy").Value - chunksBefore >= 60, "the snapshot was not taken in chunks");
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("items"));
        Assert.Equal("ready", await SharedPostgres.ScalarAsync<string>(target, "SELECT state FROM peeq_cdc.table_state WHERE source = 'busy' AND target_table = 'public.items'"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows"));
    }

    [Fact]
    public async Task initial_snapshot_into_an_empty_target_takes_the_plain_copy_path_from_its_first_chunk()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("snap_copy_src");
        var target = await SharedPostgres.CreateDatabaseAsync("snap_copy_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE snapcopy_items (id bigint PRIMARY KEY, v int NOT NULL, note text); "
            + "INSERT INTO snapcopy_items SELECT g, g % 7, md5(g::text) FROM generate_series(1, 3000) g");
        var options = PipelineHarness.Identity("snapcopy", source, target, _kafka.BootstrapServers, "snapcopy_items");
        options.Capture.SnapshotChunkRows = 1000;
        var copied = Sink.SinkMetrics.RowsApplied.WithLabels("target", "public.snapcopy_items", "copy").Value;
        try
        {
            await using var pipeline = new PipelineHarness(options, _kafka, output);
            await pipeline.StartAsync();
            await CaptureProbe.WaitForSnapshotAsync(target, "snapcopy", "snapcopy_items");
            await pipeline.DrainAsync();
            await TableComparer.AssertEqualAsync(source, target, TableId.Parse("snapcopy_items"));

            // Every chunk, the first included (applied before any progress of the table was recorded), was COPY'd.
            Assert.Equal(3000, Sink.SinkMetrics.RowsApplied.WithLabels("target", "public.snapcopy_items", "copy").Value - copied);
        }
        finally
        {
            await SharedPostgres.ExecuteAsync(source, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active");
        }
    }

    /// <summary>
    /// An UPDATE that leaves a TOASTed column unchanged (pgoutput sends it as 'u', the value is not in the WAL) of
    /// rows the target does not hold yet: one inside the first chunk's watermark window (committed after the chunk's
    /// MVCC snapshot, before its high watermark), one of a later chunk. The window is hit every time: the table is
    /// added to a running source (no slot to create), a transaction kept open holds the snapshot at its low
    /// watermark while the test takes the table's lock, and the chunk then waits on that lock right after it took
    /// its snapshot. Without the merge the first row was lost (its chunk row dropped for the stream's change, which
    /// the Sink could only park); the parked changes are resolved as superseded once their rows are written whole.
    /// </summary>
    [Fact]
    public async Task an_update_leaving_a_toasted_column_unchanged_inside_a_chunks_watermark_window_loses_no_row_and_leaves_nothing_parked()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("snap_toast_src");
        var target = await SharedPostgres.CreateDatabaseAsync("snap_toast_dst");
        // EXTERNAL storage: out of line and uncompressed, so every doc is TOASTed whatever pglz would make of it.
        await SharedPostgres.ExecuteAsync(source, """
            CREATE TABLE toast_first (id bigint PRIMARY KEY);
            INSERT INTO toast_first VALUES (1);
            CREATE TABLE toast_docs (id bigint PRIMARY KEY, v int NOT NULL, doc text NOT NULL);
            ALTER TABLE toast_docs ALTER COLUMN doc SET STORAGE EXTERNAL;
            INSERT INTO toast_docs SELECT g, 0, (SELECT string_agg(md5(g::text || '/' || i::text), '') FROM generate_series(1, 100) i) FROM generate_series(1, 40) g;
            ANALYZE toast_docs;
            """);
        try
        {
            var first = PipelineHarness.Identity("snaptoast", source, target, _kafka.BootstrapServers, "toast_first");
            await using (var pipeline = new PipelineHarness(first, _kafka, output))
            {
                await pipeline.StartAsync();
                await CaptureProbe.WaitForSnapshotAsync(target, "snaptoast", "toast_first");
                await pipeline.DrainAsync();
            }

            var second = PipelineHarness.Identity("snaptoast", source, target, _kafka.BootstrapServers, "toast_first", "toast_docs");
            second.Capture.SnapshotChunkRows = 10;
            await using var open = new Npgsql.NpgsqlConnection(source);
            await open.OpenAsync();
            await using var openTx = await open.BeginTransactionAsync();
            await Exec(open, openTx, "SELECT txid_current()");
            await using var holder = new Npgsql.NpgsqlConnection(source);
            await holder.OpenAsync();
            await using var tx = await holder.BeginTransactionAsync();

            await using var pipeline2 = new PipelineHarness(second, _kafka, output);
            await pipeline2.StartAsync();
            await WaitForActivityAsync(source, "a.query LIKE '%pg_snapshot_xip%'", "the snapshot of toast_docs did not wait at its low watermark");
            // An ACCESS EXCLUSIVE lock takes a transaction id (it is WAL-logged): after the low watermark's wait began, so not waited for.
            await Exec(holder, tx, "LOCK TABLE toast_docs IN ACCESS EXCLUSIVE MODE");
            await openTx.CommitAsync();
            await WaitForActivityAsync(source, "a.query LIKE '%toast_docs%ORDER BY%LIMIT%' AND a.wait_event_type = 'Lock'",
                "no snapshot chunk of toast_docs waited for the lock");

            // The chunk's snapshot is taken and does not see this transaction, which commits before its high watermark.
            Assert.Equal(2, await Exec(holder, tx, "UPDATE toast_docs SET v = v + 1 WHERE id IN (3, 35)"));
            await tx.CommitAsync();
            await CaptureProbe.WaitForSnapshotAsync(target, "snaptoast", "toast_docs");
            await pipeline2.DrainAsync();

            await TableComparer.AssertEqualAsync(source, target, TableId.Parse("toast_docs"));
            Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows WHERE status = 'parked'"));
            // An update the Sink applied in a batch of its own, before its row's chunk, was parked on the way (the target did
            // not hold the row; in a batch with the chunk it is folded into the chunk's row instead) and then resolved, the record kept.
            var superseded = await SharedPostgres.ScalarAsync<long>(target,
                "SELECT count(*) FROM peeq_cdc.parked_rows WHERE status = 'superseded' AND resolved_by LIKE 'snapshot 0 chunk %' AND reason LIKE '%columns doc were unchanged%'");
            output.WriteLine($"{superseded} parked change(s) superseded");
            Assert.Equal(superseded, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows"));
        }
        finally
        {
            await SharedPostgres.ExecuteAsync(source, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active");
        }
    }

    [Fact]
    public async Task snapshot_killed_with_kill_9_resumes_after_the_last_applied_chunk()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("snap_kill_src");
        var target = await SharedPostgres.CreateDatabaseAsync("snap_kill_dst");
        await SharedPostgres.ExecuteAsync(source, Items + "; INSERT INTO items SELECT g, 0, repeat(md5(g::text), 4) FROM generate_series(1, 100000) g");
        var options = PipelineHarness.Identity("snapkill", source, target, _kafka.BootstrapServers, "items");
        options.Capture.SnapshotChunkRows = 1000;
        var config = PipelineHarness.WriteConfig(options, Path.Combine(Path.GetTempPath(), $"peeq-snapkill-{Guid.NewGuid():N}.yaml"));
        await Kafka.PipelineTopics.EnsureAllAsync(_kafka, options, CancellationToken.None);

        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() => CaptureProbe.KeepBusyAsync(source, "items", 100000, stop.Token, seed: 5));
        await using var second = await RunKilledThenAgainAsync(config, target, stop);
        await CaptureProbe.WaitForSnapshotAsync(target, "snapkill", "items", timeout: TimeSpan.FromSeconds(240));
        await stop.CancelAsync();
        await writer;
        Assert.True(await PipelineProgress.WaitForDrainAsync(options, TimeSpan.FromSeconds(120), CancellationToken.None), "did not drain");
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("items"));

        // Resumed, not restarted: the second process said where it resumed, and read only what was left.
        var resumed = second.Lines.FirstOrDefault(l => l.Contains("resuming the snapshot of public.items", StringComparison.Ordinal));
        Assert.True(resumed is not null, "the second process did not resume the snapshot");
        output.WriteLine(resumed);
        Assert.DoesNotContain(second.Lines, l => l.Contains("snapshot of public.items (generation 0) starting", StringComparison.Ordinal));
    }

    [Fact]
    public async Task one_table_is_resnapshotted_on_request_while_streaming_continues()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("snap_request_src");
        var target = await SharedPostgres.CreateDatabaseAsync("snap_request_dst");
        await SharedPostgres.ExecuteAsync(source, Items + "; INSERT INTO items SELECT g, 0, md5(g::text) FROM generate_series(1, 20000) g;"
            + "CREATE TABLE other (id bigint PRIMARY KEY, v int NOT NULL, note text); INSERT INTO other SELECT g, 0, 'o' FROM generate_series(1, 1000) g");
        var options = PipelineHarness.Identity("request", source, target, _kafka.BootstrapServers, "items", "other");
        options.Capture.SnapshotChunkRows = 700;
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await CaptureProbe.WaitForSnapshotAsync(target, "request", "items");
        await pipeline.DrainAsync();

        // Damage the target behind the pipeline's back: changed values and missing rows.
        await SharedPostgres.ExecuteAsync(target, "UPDATE items SET v = -1 WHERE id % 10 = 0; DELETE FROM items WHERE id % 7 = 0");
        var config = PipelineHarness.WriteConfig(options, Path.Combine(Path.GetTempPath(), $"peeq-request-{Guid.NewGuid():N}.yaml"));
        using var stop = new CancellationTokenSource();
        var writers = new[]
        {
            Task.Run(() => CaptureProbe.KeepBusyAsync(source, "items", 20000, stop.Token, seed: 1)),
            Task.Run(() => CaptureProbe.KeepBusyAsync(source, "other", 1000, stop.Token, seed: 2)),
        };
        var (exit, text, _) = await PipelineProcess.RunAsync(TimeSpan.FromSeconds(180),
            "snapshot", "--config", config, "--source", "request", "--table", "items", "--timeout", "150");
        output.WriteLine(text);
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        Assert.Equal(0, exit);
        Assert.Contains("snapshot of public.items requested", text, StringComparison.Ordinal);
        Assert.Matches(@"public\.items: done, [\d,]+ / ~[\d,]+ rows \(100\.0%\), [\d,]+ rows/s", text);
        await pipeline.DrainAsync();

        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("items"));
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("other"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target,
            "SELECT snapshot_generation FROM peeq_cdc.source_table_state WHERE source = 'request' AND source_table = 'public.other'"));
    }

    [Fact]
    public async Task a_table_added_to_the_config_is_backfilled_alone_and_a_removed_one_stops()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("snap_added_src");
        var target = await SharedPostgres.CreateDatabaseAsync("snap_added_dst");
        await SharedPostgres.ExecuteAsync(source, Items + """
            ; INSERT INTO items SELECT g, 0, 'i' FROM generate_series(1, 3000) g;
            CREATE TABLE added (id bigint PRIMARY KEY, v int NOT NULL, note text);
            INSERT INTO added SELECT g, 0, 'a' FROM generate_series(1, 5000) g;
            CREATE TABLE log (at timestamptz NOT NULL, what text);
            INSERT INTO log SELECT now(), 'before ' || g FROM generate_series(1, 4000) g;
            """);
        var first = PipelineHarness.Identity("added", source, target, _kafka.BootstrapServers, "items");
        first.Capture.SnapshotChunkRows = 1000;
        await using (var pipeline = new PipelineHarness(first, _kafka, output))
        {
            await pipeline.StartAsync();
            await CaptureProbe.WaitForSnapshotAsync(target, "added", "items");
            await pipeline.DrainAsync();
        }

        // While nothing runs, and then while the new tables are taken: changes everywhere.
        await SharedPostgres.ExecuteAsync(source, """
            UPDATE items SET v = 1 WHERE id <= 100; UPDATE added SET v = 1 WHERE id <= 100;
            INSERT INTO log SELECT now(), 'while stopped ' || g FROM generate_series(1, 500) g;
            """);
        var itemsReadBefore = CaptureMetrics.SnapshotRowsRead.WithLabels("added", "public.items").Value;
        var second = PipelineHarness.Identity("added", source, target, _kafka.BootstrapServers, "items", "added", "log");
        second.Capture.SnapshotChunkRows = 1000;
        await using (var pipeline = new PipelineHarness(second, _kafka, output))
        {
            using var stop = new CancellationTokenSource();
            var writer = Task.Run(() => CaptureProbe.KeepBusyAsync(source, "added", 5000, stop.Token));
            var logger = Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    await SharedPostgres.ExecuteAsync(source, $"INSERT INTO log SELECT now(), 'live {i}.' || g FROM generate_series(1, 20) g");

                    // Paced (about 1,000 rows/s): unpaced, the log grew as fast as the server allowed while the
                    // snapshots waited, to 767,060 rows in one CI run, and the wait outran its deadline.
                    await Task.Delay(20, CancellationToken.None);
                }
            });
            await pipeline.StartAsync();
            await CaptureProbe.WaitForSnapshotAsync(target, "added", "added");
            await CaptureProbe.WaitForSnapshotAsync(target, "added", "log");
            await Task.Delay(500);
            await stop.CancelAsync();
            await Task.WhenAll(writer, logger);
            await pipeline.DrainAsync();
        }

        foreach (var t in new[] { "items", "added", "log" })
        {
            await TableComparer.AssertEqualAsync(source, target, TableId.Parse(t));
        }

        Assert.Equal(itemsReadBefore, CaptureMetrics.SnapshotRowsRead.WithLabels("added", "public.items").Value);
        Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(target,
            "SELECT snapshot_chunk FROM peeq_cdc.source_table_state WHERE source = 'added' AND source_table = 'public.log'"));

        // Removing a table: the publication no longer lists it and its changes stop.
        var third = PipelineHarness.Identity("added", source, target, _kafka.BootstrapServers, "added", "log");
        await using (var pipeline = new PipelineHarness(third, _kafka, output))
        {
            await pipeline.StartAsync();
            await SharedPostgres.ExecuteAsync(source, "UPDATE items SET v = 99 WHERE id <= 10; INSERT INTO added VALUES (900001, 0, 'after removal')");
            await pipeline.DrainAsync();
        }

        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM items WHERE v = 99"));
        Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM added WHERE id = 900001"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(source, "SELECT count(*) FROM pg_publication_tables WHERE tablename = 'items'"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.source_table_state WHERE source_table = 'public.items'"));
    }

    /// <summary>Starts the pipeline, kills it with SIGKILL once 10,000 snapshot rows are applied, starts it again.</summary>
    private async Task<PipelineProcess> RunKilledThenAgainAsync(string config, string target, CancellationTokenSource writer)
    {
        await using (var first = PipelineProcess.Start(output, "run", "--config", config, "--http", "off"))
        {
            try
            {
                var rowsAtKill = await WaitForSnapshotRowsAsync(target, "snapkill", 10000);
                first.Kill9();
                output.WriteLine($"killed with {rowsAtKill} snapshot rows applied");
            }
            catch
            {
                await writer.CancelAsync();
                throw;
            }
        }

        return PipelineProcess.Start(output, "run", "--config", config, "--http", "off");
    }

    private static async Task<long> WaitForSnapshotRowsAsync(string targetCs, string source, long rows)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var (n, done) = await ScalarPairAsync(targetCs,
                    $"SELECT snapshot_rows, snapshot_state = 'done' FROM peeq_cdc.source_table_state WHERE source = '{source}' AND source_table = 'public.items'");
                Assert.False(done, "the snapshot completed before the test could interrupt it");
                if (n >= rows)
                {
                    return n;
                }
            }
            catch (Npgsql.PostgresException e) when (e.SqlState == "42P01")
            {
            }

            await Task.Delay(100);
        }

        Assert.Fail($"the snapshot did not reach {rows} rows");
        return 0;
    }

    private static async Task<int> Exec(Npgsql.NpgsqlConnection conn, Npgsql.NpgsqlTransaction tx, string sql)
    {
        await using var cmd = new Npgsql.NpgsqlCommand(sql, conn, tx);
        return await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Waits until a session of the source database matches <paramref name="condition"/> (over pg_stat_activity a).</summary>
    private static async Task WaitForActivityAsync(string sourceCs, string condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            if (await SharedPostgres.ScalarAsync<long>(sourceCs,
                $"SELECT count(*) FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND {condition}") > 0)
            {
                return;
            }

            await Task.Delay(50);
        }

        var seen = await SharedPostgres.ScalarAsync<string?>(sourceCs,
            "SELECT string_agg(coalesce(wait_event_type, '-') || ': ' || query, ' | ') FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
        Assert.Fail($"{failure}; sessions: {seen}");
    }

    private static async Task<(long, bool)> ScalarPairAsync(string cs, string sql)
    {
        await using var conn = new Npgsql.NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand(sql, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        return await r.ReadAsync() ? (r.GetInt64(0), r.GetBoolean(1)) : (0, false);
    }
}
