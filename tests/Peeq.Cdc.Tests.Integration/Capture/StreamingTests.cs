using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration;

/// <summary>
/// Streaming guarantees at the source end: unchanged TOASTed values, schema changes mid-stream (added and
/// dropped columns flow, a change the target cannot take parks that table only), and a slot that went
/// missing is never recreated silently.
/// </summary>
public sealed class StreamingTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task update_leaving_a_100_kb_toasted_jsonb_untouched_arrives_as_unchanged_and_the_target_keeps_it()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("stream_toast_src");
        var target = await SharedPostgres.CreateDatabaseAsync("stream_toast_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE docs (id bigint PRIMARY KEY, v int NOT NULL, doc jsonb)");
        var options = PipelineHarness.Identity("toast", source, target, _kafka.BootstrapServers, "docs");
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();

        // md5 strings hardly compress: about 100 KB of jsonb stored out of line.
        await SharedPostgres.ExecuteAsync(source, """
            INSERT INTO docs SELECT i, 0, (SELECT jsonb_agg(md5(i::text || ':' || g)) FROM generate_series(1, 3000) g) FROM generate_series(1, 3) i
            """);
        Assert.True(await SharedPostgres.ScalarAsync<int>(source, "SELECT min(pg_column_size(doc)) FROM docs") > 60_000);
        await pipeline.DrainAsync();
        await SharedPostgres.ExecuteAsync(source, "UPDATE docs SET v = v + 1 WHERE id IN (1, 2)");
        await pipeline.DrainAsync();

        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("docs"));
        var updates = CaptureProbe.ReadAll(_kafka, Topics.Raw(options.Kafka.TopicPrefix, "toast"))
            .Select(m => RawEventCodec.Read(m.Value))
            .OfType<RawChange>()
            .Where(c => c.Op == ChangeOp.Update)
            .ToList();
        Assert.Equal(2, updates.Count);
        foreach (var u in updates)
        {
            Assert.Equal(["doc"], u.Unchanged);
            Assert.False(u.After!.ContainsKey("doc"), "an unchanged TOASTed value was written into the event");
            Assert.Equal(1, u.After["v"]!.GetValue<int>());
        }
    }

    [Fact]
    public async Task truncate_is_captured_and_a_canary_secret_in_a_sensitive_column_appears_in_no_byte_of_any_topic()
    {
        const string canary = "CANARY-7f3e-never-in-kafka";
        var source = await SharedPostgres.CreateDatabaseAsync("stream_trunc_src");
        var target = await SharedPostgres.CreateDatabaseAsync("stream_trunc_dst");
        await SharedPostgres.ExecuteAsync(source, $"""
            CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL);
            CREATE TABLE secrets (id bigint PRIMARY KEY, name text NOT NULL, value text);
            INSERT INTO items SELECT g, g FROM generate_series(1, 20) g;
            INSERT INTO secrets VALUES (1, 'snapshotted', '{canary}-1');
            """);
        var options = PipelineHarness.Identity("trunc", source, target, _kafka.BootstrapServers, "items", "secrets");
        options.Sources[0].SensitiveColumns = ["secrets.value"];
        // Sealed with this pipeline's own key: the value travels sealed and the Sink unseals it into the target.
        // (Without a key it is left out of the events and the row parked: Security/SecretsTests.)
        options.SealKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await CaptureProbe.WaitForSnapshotAsync(target, "trunc", "items");
        await CaptureProbe.WaitForSnapshotAsync(target, "trunc", "secrets");
        await SharedPostgres.ExecuteAsync(source, $"""
            TRUNCATE items;
            INSERT INTO items VALUES (100, 100), (101, 101);
            INSERT INTO secrets VALUES (2, 'streamed', '{canary}-2');
            UPDATE secrets SET value = '{canary}-3', name = 'changed' WHERE id = 1;
            """);
        await pipeline.DrainAsync();

        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("items"));
        Assert.Contains(CaptureProbe.ReadAll(_kafka, Topics.Raw(options.Kafka.TopicPrefix, "trunc")).Select(m => RawEventCodec.Read(m.Value)),
            e => e is RawChange { Op: ChangeOp.Truncate });
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows WHERE payload LIKE '%CANARY%' OR reason LIKE '%CANARY%'"));

        // Sealed: in no topic, in no form.
        var needle = System.Text.Encoding.UTF8.GetBytes("CANARY-7f3e");
        var topics = new[] { Topics.Raw(options.Kafka.TopicPrefix, "trunc"), Topics.Unified(options.Kafka.TopicPrefix, "target") };
        var messages = 0;
        foreach (var topic in topics)
        {
            foreach (var m in CaptureProbe.ReadAll(_kafka, topic))
            {
                messages++;
                Assert.False(m.Value.AsSpan().IndexOf(needle) >= 0 || (m.Key is not null && m.Key.AsSpan().IndexOf(needle) >= 0), $"the canary is in {topic}");
                foreach (var h in m.Headers ?? [])
                {
                    Assert.False(h.GetValueBytes().AsSpan().IndexOf(needle) >= 0, $"the canary is in a header of {topic}");
                }
            }
        }

        Assert.True(messages > 10);
        // The target holds the real values (unsealed by the Sink), none parked.
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows WHERE source_table = 'public.secrets'"));
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM secrets WHERE value LIKE 'CANARY%'"));
    }

    [Fact]
    public async Task added_column_flows_and_dropped_column_stops_appearing_mid_stream()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("stream_ddl_src");
        var target = await SharedPostgres.CreateDatabaseAsync("stream_ddl_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text); INSERT INTO items SELECT g, g, 'n' FROM generate_series(1, 100) g");
        var options = PipelineHarness.Identity("ddl", source, target, _kafka.BootstrapServers, "items");
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await CaptureProbe.WaitForSnapshotAsync(target, "ddl", "items");
        await pipeline.DrainAsync();

        // Added with a default: existing rows hold it at the source, and must in the target too.
        await SharedPostgres.ExecuteAsync(source, """
            ALTER TABLE items ADD COLUMN tag varchar(20) DEFAULT 'old';
            INSERT INTO items VALUES (101, 101, 'n', 'new');
            UPDATE items SET tag = 'changed' WHERE id = 5;
            UPDATE items SET v = -v WHERE id = 6;
            """);
        await pipeline.DrainAsync();
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("items"));

        await SharedPostgres.ExecuteAsync(source, """
            ALTER TABLE items DROP COLUMN note;
            INSERT INTO items VALUES (102, 102, 'after drop');
            UPDATE items SET v = 0 WHERE id = 7;
            """);
        await pipeline.DrainAsync();

        // The target keeps its column (nothing is dropped there); the source's columns are equal.
        var columns = new[] { "id", "v", "tag" };
        Assert.Equal(await TableComparer.DumpAsync(source, TableId.Parse("items"), columns), await TableComparer.DumpAsync(target, TableId.Parse("items"), columns));
        Assert.True(await SharedPostgres.ScalarAsync<bool>(target, "SELECT note IS NULL FROM items WHERE id = 102"));
        var after = CaptureProbe.ReadAll(_kafka, Topics.Raw(options.Kafka.TopicPrefix, "ddl"))
            .Select(m => RawEventCodec.Read(m.Value)).OfType<RawChange>().Single(c => c.Op == ChangeOp.Create && c.After!["id"]!.GetValue<long>() == 102);
        Assert.False(after.After!.ContainsKey("note"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows"));
    }

    [Fact]
    public async Task a_type_change_the_target_cannot_hold_parks_that_table_with_the_reason_while_others_flow()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("stream_narrow_src");
        var target = await SharedPostgres.CreateDatabaseAsync("stream_narrow_dst");
        await SharedPostgres.ExecuteAsync(source, """
            CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL);
            CREATE TABLE other (id bigint PRIMARY KEY, v int NOT NULL);
            INSERT INTO items SELECT g, g FROM generate_series(1, 50) g;
            INSERT INTO other SELECT g, g FROM generate_series(1, 50) g;
            """);
        var options = PipelineHarness.Identity("narrow", source, target, _kafka.BootstrapServers, "items", "other");
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await CaptureProbe.WaitForSnapshotAsync(target, "narrow", "items");
        await CaptureProbe.WaitForSnapshotAsync(target, "narrow", "other");
        await pipeline.DrainAsync();

        // bigint values no longer fit the target's integer column: that table parks, the other flows.
        await SharedPostgres.ExecuteAsync(source, """
            ALTER TABLE items ALTER COLUMN v TYPE bigint;
            BEGIN;
            UPDATE items SET v = 5000000000 WHERE id = 1;
            INSERT INTO other VALUES (51, 51);
            COMMIT;
            INSERT INTO items VALUES (51, 7);
            UPDATE other SET v = -1 WHERE id = 1;
            """);
        await pipeline.DrainAsync();

        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("other"));
        var reason = await SharedPostgres.ScalarAsync<string>(target, "SELECT parked_reason FROM peeq_cdc.source_table_state WHERE source = 'narrow' AND source_table = 'public.items'");
        output.WriteLine(reason);
        Assert.Contains("column v is now bigint", reason, StringComparison.Ordinal);
        Assert.Equal("parked", await SharedPostgres.ScalarAsync<string>(target, "SELECT state FROM peeq_cdc.table_state WHERE source = 'narrow' AND target_table = 'public.items'"));
        Assert.Equal("ready", await SharedPostgres.ScalarAsync<string>(target, "SELECT state FROM peeq_cdc.table_state WHERE source = 'narrow' AND target_table = 'public.other'"));
        Assert.Equal(1, await SharedPostgres.ScalarAsync<int>(target, "SELECT v FROM items WHERE id = 1"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM items WHERE id = 51"));
        Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(target,
            "SELECT count(*) FROM peeq_cdc.parked_rows WHERE source = 'narrow' AND source_table = 'public.items' AND reason LIKE 'table parked: %'"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows WHERE source_table <> 'public.items'"));

        // Fixed (here: the source went back to integer), then re-snapshotted while it keeps changing: it flows again,
        // including the changes that follow the snapshot's last chunk in the same target transaction.
        await SharedPostgres.ExecuteAsync(source, "UPDATE items SET v = 1 WHERE id = 1; ALTER TABLE items ALTER COLUMN v TYPE integer");
        var generation = await SharedPostgres.ScalarAsync<long>(target, """
            INSERT INTO peeq_cdc.snapshot_requests (source, source_table, source_schema_name, source_table_name, requested_by)
            VALUES ('narrow', 'public.items', 'public', 'items', 'test') RETURNING id
            """);
        using (var stop = new CancellationTokenSource())
        {
            var writer = Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    await SharedPostgres.ExecuteAsync(source, $"UPDATE items SET v = v + 1 WHERE id = {1 + (i % 51)}");
                }
            });
            await CaptureProbe.WaitForSnapshotAsync(target, "narrow", "items", generation);
            await Task.Delay(300);
            await stop.CancelAsync();
            await writer;
        }

        await SharedPostgres.ExecuteAsync(source, "INSERT INTO items VALUES (52, 52)");
        await pipeline.DrainAsync();
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("items"));
        Assert.Equal("ready", await SharedPostgres.ScalarAsync<string>(target, "SELECT state FROM peeq_cdc.table_state WHERE source = 'narrow' AND target_table = 'public.items'"));
        Assert.True(await SharedPostgres.ScalarAsync<bool>(target, "SELECT parked_reason IS NULL FROM peeq_cdc.source_table_state WHERE source = 'narrow' AND source_table = 'public.items'"));
    }

    [Fact]
    public async Task an_idle_source_slot_keeps_up_while_another_database_on_the_server_writes_heavily()
    {
        var idle = await SharedPostgres.CreateDatabaseAsync("stream_idle_src");
        var busy = await SharedPostgres.CreateDatabaseAsync("stream_busy_src");
        var target = await SharedPostgres.CreateDatabaseAsync("stream_idle_dst");
        await SharedPostgres.ExecuteAsync(idle, "CREATE TABLE quiet (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO quiet VALUES (1, 1)");
        await SharedPostgres.ExecuteAsync(busy, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text)");
        var options = PipelineHarness.Identity("idle", idle, target, _kafka.BootstrapServers, "quiet");
        options.Sources.Add(new Configuration.SourceOptions { Name = "heavy", ConnectionString = busy, Target = "target", Tables = ["items"] });
        var slot = options.Sources[0].SlotName;
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await CaptureProbe.WaitForSnapshotAsync(target, "idle", "quiet");
        await CaptureProbe.WaitForSnapshotAsync(target, "heavy", "items");
        await pipeline.DrainAsync();

        // About 40 MB of WAL from the other database; the idle one writes nothing.
        for (var i = 0; i < 4; i++)
        {
            await SharedPostgres.ExecuteAsync(busy, $"INSERT INTO items SELECT g, g, repeat(md5(g::text), 8) FROM generate_series({(i * 25000) + 1}, {(i + 1) * 25000}) g");
        }

        var written = await SharedPostgres.ScalarAsync<string>(busy, "SELECT pg_current_wal_lsn()::text");
        await Wait.ForAsync(async () =>
        {
            await Task.Delay(1000);
            await SharedPostgres.ExecuteAsync(idle, "CHECKPOINT");
            return await SharedPostgres.ScalarAsync<bool>(idle, $"""
                SELECT confirmed_flush_lsn >= '{written}'::pg_lsn AND pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) < 16 * 1024 * 1024
                FROM pg_replication_slots WHERE slot_name = '{slot}'
                """);
        }, "the idle source's slot to confirm past the other database's writes and release their WAL", 120);
        output.WriteLine(await SharedPostgres.ScalarAsync<string>(idle,
            $"SELECT 'idle slot retains ' || pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) FROM pg_replication_slots WHERE slot_name = '{slot}'"));
        await pipeline.DrainAsync(TimeSpan.FromSeconds(180));
        await TableComparer.AssertEqualAsync(busy, target, TableId.Parse("items"));
    }

    /// <summary>Scaled down from the 1,000,000 rows (bench/ runs that size and reports the process's peak memory).</summary>
    [Fact]
    public async Task a_transaction_many_times_the_in_flight_window_passes_whole_with_capture_bounded_by_the_window()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("stream_bigtx_src");
        var target = await SharedPostgres.CreateDatabaseAsync("stream_bigtx_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text)");
        var options = PipelineHarness.Identity("bigtx", source, target, _kafka.BootstrapServers, "items");
        options.Capture.InFlightBytes = 128 * 1024;
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await CaptureProbe.WaitForSnapshotAsync(target, "bigtx", "items");
        var bytesBefore = Capture.CaptureMetrics.Bytes.WithLabels("bigtx").Value;

        await SharedPostgres.ExecuteAsync(source, "INSERT INTO items SELECT g, g, md5(g::text) FROM generate_series(1, 50000) g");
        await pipeline.DrainAsync(TimeSpan.FromSeconds(240));

        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("items"));
        var produced = Capture.CaptureMetrics.Bytes.WithLabels("bigtx").Value - bytesBefore;
        var peak = Capture.CaptureMetrics.InFlightPeakBytes.WithLabels("bigtx").Value;
        output.WriteLine($"{produced:N0} bytes produced for the transaction; at most {peak:N0} bytes in flight (window {options.Capture.InFlightBytes:N0})");
        Assert.True(produced > 20 * options.Capture.InFlightBytes, "the transaction was not larger than the window");
        Assert.True(peak <= options.Capture.InFlightBytes + 4096, $"{peak} bytes were in flight at once, more than the window allows");
    }

    [Fact]
    public async Task a_dropped_slot_is_not_recreated_and_capture_says_what_to_do()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("stream_noslot_src");
        var target = await SharedPostgres.CreateDatabaseAsync("stream_noslot_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO items SELECT g, g FROM generate_series(1, 10) g");
        var options = PipelineHarness.Identity("noslot", source, target, _kafka.BootstrapServers, "items");
        var slot = options.Sources[0].SlotName;
        await using (var pipeline = new PipelineHarness(options, _kafka, output))
        {
            await pipeline.StartAsync();
            await CaptureProbe.WaitForSnapshotAsync(target, "noslot", "items");
            await pipeline.DrainAsync();
        }

        // While Capture is down, someone drops the slot; changes made meanwhile are gone from the WAL stream.
        await SharedPostgres.ExecuteAsync(source, $"SELECT pg_drop_replication_slot('{slot}'); INSERT INTO items VALUES (11, 11)");
        var config = PipelineHarness.WriteConfig(options, Path.Combine(Path.GetTempPath(), $"peeq-noslot-{Guid.NewGuid():N}.yaml"));
        await using (var process = PipelineProcess.Start(output, "run", "--config", config, "--http", "off"))
        {
            await Wait.ForAsync(() => process.Lines.Any(l => l.Contains("is not recreated silently", StringComparison.Ordinal)), "capture to refuse the missing slot", 90);
            var line = process.Lines.First(l => l.Contains("is not recreated silently", StringComparison.Ordinal));
            Assert.Contains($"peeq-cdc source reset noslot", line, StringComparison.Ordinal);
        }

        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(source, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}'"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM items WHERE id = 11"));
    }
}
