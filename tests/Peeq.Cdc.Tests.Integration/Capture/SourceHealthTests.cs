using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Peeq.Cdc.Capture;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration;

/// <summary>
/// A source's failure modes at the source end: precise start-up errors (wal_level, the REPLICATION privilege,
/// a missing table, tables the role may not read, too few slots or WAL senders for the sources on a server), TLS to
/// a source (SSL Mode=VerifyFull), a slot invalidated by
/// max_slot_wal_keep_size, a stream that waits for the Sink longer than wal_sender_timeout, an unreachable
/// source retried while the others flow, 'peeq-cdc source remove', and large transactions the walsender spills
/// (the aborted ones produce nothing). Servers with settings of their own are small clusters of their own.
/// </summary>
public sealed class SourceHealthTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Options like <see cref="PipelineHarness.Identity"/>, with a target name of this test's own (metrics are process-wide).</summary>
    private PipelineOptions Options(string name, string sourceCs, string targetCs, params string[] tables)
    {
        var o = PipelineHarness.Identity(name, sourceCs, targetCs, _kafka.BootstrapServers, tables);
        o.Targets[0].Name = $"{name}_target";
        o.Sources[0].Target = o.Targets[0].Name;
        return o;
    }

    private static SourceOptions Source(string name, string cs, params string[] tables) =>
        new() { Name = name, ConnectionString = cs, Target = $"{name}_target", Tables = [.. tables] };

    private static async Task<CaptureSetupException> PrepareFailsAsync(SourceOptions source, IReadOnlyCollection<SourceOptions>? sameServer = null)
    {
        await using var conn = new NpgsqlConnection(source.ConnectionString);
        await conn.OpenAsync();
        return await Assert.ThrowsAsync<CaptureSetupException>(() => ReplicationSetup.PrepareAsync(source, conn, NullLogger.Instance, CancellationToken.None, sameServer));
    }

    private static async Task DropSlotsAsync(string cs, params string[] slots)
    {
        foreach (var slot in slots)
        {
            await SharedPostgres.ExecuteAsync(cs, $"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}' AND NOT active");
        }
    }

    private static string WithPassword(string cs, string password) => new NpgsqlConnectionStringBuilder(cs) { Password = password }.ConnectionString;

    [Fact]
    public async Task wal_level_not_logical_is_refused_naming_the_source_and_what_to_run()
    {
        await using var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions
        {
            Name = "walrep",
            MaxReplicationSlots = 4,
            Settings = new Dictionary<string, string> { ["wal_level"] = "replica" },
        });
        var cs = WithPassword(await pg.CreateDatabaseAsync("health_walrep"), "walrep-pw-canary");
        await SharedPostgres.ExecuteAsync(cs, "CREATE TABLE items (id bigint PRIMARY KEY)");

        var e = await PrepareFailsAsync(Source("walrep", cs, "items"));
        output.WriteLine(e.Message);
        Assert.Contains("source 'walrep'", e.Message, StringComparison.Ordinal);
        Assert.Contains("wal_level is 'replica'", e.Message, StringComparison.Ordinal);
        Assert.Contains("ALTER SYSTEM SET wal_level = logical;", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("walrep-pw-canary", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_role_without_replication_privilege_is_refused_naming_the_source_and_what_to_run()
    {
        var admin = await SharedPostgres.CreateDatabaseAsync("health_norepl");
        await SharedPostgres.ExecuteAsync(admin, """
            DROP ROLE IF EXISTS health_norepl_role;
            CREATE ROLE health_norepl_role LOGIN;
            CREATE TABLE items (id bigint PRIMARY KEY);
            GRANT SELECT ON items TO health_norepl_role;
            """);
        try
        {
            var cs = new NpgsqlConnectionStringBuilder(admin) { Username = "health_norepl_role", Password = "norepl-pw-canary", Pooling = false }.ConnectionString;
            var e = await PrepareFailsAsync(Source("norepl", cs, "items"));
            output.WriteLine(e.Message);
            Assert.Contains("source 'norepl'", e.Message, StringComparison.Ordinal);
            Assert.Contains("has no REPLICATION privilege", e.Message, StringComparison.Ordinal);
            Assert.Contains("ALTER ROLE \"health_norepl_role\" REPLICATION;", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("norepl-pw-canary", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            await (await SharedPostgres.GetAsync()).DropDatabaseAsync("health_norepl");
            await SharedPostgres.ExecuteAsync((await SharedPostgres.GetAsync()).ConnectionString(), "DROP ROLE IF EXISTS health_norepl_role");
        }
    }

    [Fact]
    public async Task a_configured_table_that_does_not_exist_is_refused_naming_the_source_the_table_and_what_to_do()
    {
        var cs = WithPassword(await SharedPostgres.CreateDatabaseAsync("health_notable"), "notable-pw-canary");
        await SharedPostgres.ExecuteAsync(cs, "CREATE TABLE items (id bigint PRIMARY KEY)");

        var e = await PrepareFailsAsync(Source("notable", cs, "items", "public.orders_gone"));
        output.WriteLine(e.Message);
        Assert.Contains("source 'notable'", e.Message, StringComparison.Ordinal);
        Assert.Contains("public.orders_gone does not exist in database 'health_notable'", e.Message, StringComparison.Ordinal);
        Assert.Contains("remove it from sources[].tables", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("notable-pw-canary", e.Message, StringComparison.Ordinal);
        // Refused before anything was created on the source.
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(cs, "SELECT count(*) FROM pg_publication"));
    }

    /// <summary>
    /// A config pointing at tables its role may not read: one without SELECT, one in a schema without USAGE (the
    /// catalog lists it all the same, so only a check of both privileges finds it before the snapshot fails). The
    /// error names the source, every table, and the grants to run; that source stops loudly (re-checked every
    /// minute) and takes no slot, while another source of the same pipeline keeps flowing.
    /// </summary>
    [Fact]
    public async Task tables_the_capture_role_may_not_read_stop_that_source_naming_the_grants_while_another_flows()
    {
        var cs = await SharedPostgres.CreateDatabaseAsync("health_noread");
        var peerCs = await SharedPostgres.CreateDatabaseAsync("health_noreadpeer");
        var target = await SharedPostgres.CreateDatabaseAsync("health_noread_dst");
        await SharedPostgres.ExecuteAsync(cs, """
            DROP ROLE IF EXISTS health_noread_role;
            CREATE ROLE health_noread_role LOGIN REPLICATION;
            CREATE TABLE items (id bigint PRIMARY KEY);
            CREATE TABLE ledger (id bigint PRIMARY KEY);
            CREATE SCHEMA locked;
            CREATE TABLE locked.notes (id bigint PRIMARY KEY);
            GRANT SELECT ON items, locked.notes TO health_noread_role;
            """);
        await SharedPostgres.ExecuteAsync(peerCs, "CREATE TABLE things (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO things VALUES (1, 1)");
        var roleCs = new NpgsqlConnectionStringBuilder(cs) { Username = "health_noread_role", Password = "noread-pw-canary", Pooling = false }.ConnectionString;
        var options = Options("noread", roleCs, target, "items", "ledger", "locked.notes");
        options.Sources.Add(new SourceOptions { Name = "noreadpeer", ConnectionString = peerCs, Target = options.Targets[0].Name, Tables = ["things"] });
        try
        {
            var e = await PrepareFailsAsync(options.Sources[0]);
            output.WriteLine(e.Message);
            Assert.Contains("source 'noread': role 'health_noread_role' may not read public.ledger, locked.notes (no USAGE on schema locked)", e.Message, StringComparison.Ordinal);
            Assert.Contains("GRANT USAGE ON SCHEMA \"locked\" TO \"health_noread_role\";", e.Message, StringComparison.Ordinal);
            Assert.Contains("GRANT SELECT ON \"public\".\"ledger\" TO \"health_noread_role\";", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("noread-pw-canary", e.Message, StringComparison.Ordinal);

            var logs = new LogCapture();
            var refusedBefore = CaptureMetrics.Errors.WithLabels("noread", "permanent").Value;
            await using (var pipeline = new PipelineHarness(options, _kafka, output) { Capture = logs })
            {
                await pipeline.StartAsync();
                await Wait.ForAsync(() => CaptureMetrics.Errors.WithLabels("noread", "permanent").Value > refusedBefore, "capture to refuse source noread", 60);
                await CaptureProbe.WaitForSnapshotAsync(target, "noreadpeer", "things");
                await SharedPostgres.ExecuteAsync(peerCs, "INSERT INTO things VALUES (2, 2)");
                await Wait.ForAsync(async () => await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM things WHERE id = 2") == 1,
                    "the other source to keep flowing", 60);
                Assert.Equal(0, CaptureMetrics.Up.WithLabels("noread").Value);
            }

            var line = logs.Lines.First(l => l.Contains("source 'noread'", StringComparison.Ordinal) && l.Contains("may not read", StringComparison.Ordinal));
            output.WriteLine(line);
            Assert.StartsWith("Error ", line, StringComparison.Ordinal);
            Assert.Contains("GRANT USAGE ON SCHEMA \"locked\"", line, StringComparison.Ordinal);
            Assert.Contains("other sources keep flowing", line, StringComparison.Ordinal);
            Assert.DoesNotContain(logs.Lines, l => l.Contains("noread-pw-canary", StringComparison.Ordinal));
            Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(cs, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'peeq_cdc_noread'"));
            Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.applied_position WHERE source = 'noread'"));
        }
        finally
        {
            await DropSlotsAsync(peerCs, options.Sources[1].SlotName);
            var pg = await SharedPostgres.GetAsync();
            await pg.DropDatabaseAsync("health_noread");
            await SharedPostgres.ExecuteAsync(pg.ConnectionString(), "DROP ROLE IF EXISTS health_noread_role");
        }
    }

    /// <summary>
    /// TLS to a source as docs/configuration.md says to set it: SSL Mode=VerifyFull with the server's CA as Root
    /// Certificate, in the connection string. Capture's connections (the replication stream and the snapshot)
    /// are encrypted, and a certificate the given root did not sign is refused rather than trusted.
    /// </summary>
    [Fact]
    public async Task a_source_over_tls_with_ssl_mode_verify_full_is_captured_encrypted_and_a_foreign_certificate_is_refused()
    {
        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"peeq-tls-{Guid.NewGuid():N}")).FullName;
        try
        {
            foreach (var name in new[] { "server", "foreign" })
            {
                await RunAsync("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", Path.Combine(dir, $"{name}.key"), "-out", Path.Combine(dir, $"{name}.crt"));
            }

            // The server refuses a key others may read; run as root, the server runs as postgres and must own it.
            await RunAsync("chmod", "600", Path.Combine(dir, "server.key"));
            if (EmbeddedPostgres.IsRoot())
            {
                await RunAsync("chown", EmbeddedPostgres.SuperUser, Path.Combine(dir, "server.key"));
            }

            await using var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions
            {
                Name = "tls",
                MaxReplicationSlots = 4,
                Settings = new Dictionary<string, string>
                {
                    ["ssl"] = "on",
                    ["ssl_cert_file"] = $"'{Path.Combine(dir, "server.crt")}'",
                    ["ssl_key_file"] = $"'{Path.Combine(dir, "server.key")}'",
                },
            });
            var plain = await pg.CreateDatabaseAsync("health_tls_src");
            await SharedPostgres.ExecuteAsync(plain, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO items SELECT g, g FROM generate_series(1, 100) g");
            var target = await SharedPostgres.CreateDatabaseAsync("health_tls_dst");
            var tls = new NpgsqlConnectionStringBuilder(plain) { SslMode = SslMode.VerifyFull, RootCertificate = Path.Combine(dir, "server.crt") }.ConnectionString;

            var foreign = new NpgsqlConnectionStringBuilder(tls) { RootCertificate = Path.Combine(dir, "foreign.crt"), Pooling = false }.ConnectionString;
            var refused = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await using var conn = new NpgsqlConnection(foreign);
                await conn.OpenAsync();
            });
            output.WriteLine($"foreign root certificate: {refused.GetType().Name}: {refused.Message}");

            var options = Options("tls", tls, target, "items");
            PipelineConfig.FromOptions(options); // the validator accepts it (the files exist)
            await using var pipeline = new PipelineHarness(options, _kafka, output);
            await pipeline.StartAsync();
            await CaptureProbe.WaitForSnapshotAsync(target, "tls", "items");
            await SharedPostgres.ExecuteAsync(plain, "UPDATE items SET v = -v WHERE id % 3 = 0; DELETE FROM items WHERE id > 90");
            await pipeline.DrainAsync();
            await TableComparer.AssertEqualAsync(plain, target, TableId.Parse("items"));

            // Every connection Capture holds to the source, the walsender's included, is encrypted.
            const string Capture = "FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE (a.application_name LIKE 'peeq-cdc capture%' OR a.backend_type = 'walsender')";
            var walsenders = await SharedPostgres.ScalarAsync<long>(plain, $"SELECT count(*) {Capture} AND a.backend_type = 'walsender' AND s.ssl");
            var unencrypted = await SharedPostgres.ScalarAsync<long>(plain, $"SELECT count(*) {Capture} AND NOT s.ssl");
            output.WriteLine($"{walsenders} encrypted walsenders, {unencrypted} unencrypted capture connections");
            Assert.True(walsenders >= 1, "no encrypted replication connection to the source");
            Assert.Equal(0L, unencrypted);
            await pipeline.StopAsync(Stages.Capture);
            await DropSlotsAsync(plain, options.Sources[0].SlotName);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = System.Diagnostics.Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"{file} exited with {p.ExitCode}: {await stderr}");
    }

    [Fact]
    public async Task too_few_slots_and_wal_senders_for_the_sources_on_a_server_are_refused_at_start_with_the_figures_to_raise_to()
    {
        // Room for two replication connections; three sources are configured on this server.
        await using var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "crowd", MaxReplicationSlots = 2 });
        var sources = new List<SourceOptions>();
        foreach (var n in new[] { "crowd_a", "crowd_b", "crowd_c" })
        {
            var cs = WithPassword(await pg.CreateDatabaseAsync($"health_{n}"), "crowd-pw-canary");
            await SharedPostgres.ExecuteAsync(cs, "CREATE TABLE items (id bigint PRIMARY KEY)");
            sources.Add(Source(n, cs, "items"));
        }

        foreach (var s in sources)
        {
            var e = await PrepareFailsAsync(s, sources);
            output.WriteLine(e.Message);
            Assert.Contains($"source '{s.Name}'", e.Message, StringComparison.Ordinal);
            Assert.Contains("3 sources configured on it (crowd_a, crowd_b, crowd_c)", e.Message, StringComparison.Ordinal);
            Assert.Contains("max_replication_slots = 2", e.Message, StringComparison.Ordinal);
            Assert.Contains("max_wal_senders = 2", e.Message, StringComparison.Ordinal);
            Assert.Contains("ALTER SYSTEM SET max_replication_slots = 4;", e.Message, StringComparison.Ordinal);
            Assert.Contains("ALTER SYSTEM SET max_wal_senders = 4;", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("crowd-pw-canary", e.Message, StringComparison.Ordinal);
        }

        // Refused before any source took a slot (not two streaming and the third left without).
        await using var conn = await pg.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_replication_slots", conn);
        Assert.Equal(0L, (long)(await cmd.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task a_slot_invalidated_by_max_slot_wal_keep_size_stops_its_source_loudly_while_another_flows_and_is_not_recreated()
    {
        await using var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions
        {
            Name = "lostslot",
            MaxReplicationSlots = 4,
            Settings = new Dictionary<string, string>
            {
                ["max_slot_wal_keep_size"] = "16MB",
                ["max_wal_size"] = "32MB",
                ["min_wal_size"] = "32MB",
            },
        });
        var lostCs = await pg.CreateDatabaseAsync("health_lost_src");
        var peerCs = await SharedPostgres.CreateDatabaseAsync("health_lostpeer_src");
        var target = await SharedPostgres.CreateDatabaseAsync("health_lost_dst");
        await SharedPostgres.ExecuteAsync(lostCs, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO items VALUES (1, 1)");
        await SharedPostgres.ExecuteAsync(peerCs, "CREATE TABLE things (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO things VALUES (1, 1)");
        var options = Options("lostslot", lostCs, target, "items");
        options.Sources.Add(new SourceOptions { Name = "lostpeer", ConnectionString = peerCs, Target = options.Targets[0].Name, Tables = ["things"] });
        var slot = options.Sources[0].SlotName;
        try
        {
            await using (var pipeline = new PipelineHarness(options, _kafka, output))
            {
                await pipeline.StartAsync();
                await CaptureProbe.WaitForSnapshotAsync(target, "lostslot", "items");
                await CaptureProbe.WaitForSnapshotAsync(target, "lostpeer", "things");
                await pipeline.DrainAsync();
            }

            // Capture of the source is down; its slot pins WAL until max_slot_wal_keep_size gives it up.
            await using (var conn = await pg.OpenAsync("health_lost_src"))
            {
                await Wait.ForAsync(async () =>
                {
                    await using (var cmd = new NpgsqlCommand("INSERT INTO items SELECT max(id) + 1, 2 FROM items; SELECT pg_switch_wal(); CHECKPOINT", conn))
                    {
                        await cmd.ExecuteNonQueryAsync();
                    }

                    await using var status = new NpgsqlCommand($"SELECT wal_status FROM pg_replication_slots WHERE slot_name = '{slot}'", conn);
                    return (string?)await status.ExecuteScalarAsync() == "lost";
                }, "the slot to be invalidated by max_slot_wal_keep_size", 60);
            }

            var lostBefore = CaptureMetrics.Errors.WithLabels("lostslot", "slot_lost").Value;
            var logs = new LogCapture();
            await using (var pipeline = new PipelineHarness(options, _kafka, output) { Capture = logs })
            {
                await pipeline.StartAsync();
                await Wait.ForAsync(() => CaptureMetrics.Errors.WithLabels("lostslot", "slot_lost").Value > lostBefore, "capture to refuse the lost slot", 60);
                await SharedPostgres.ExecuteAsync(peerCs, "INSERT INTO things VALUES (2, 2)");
                await Wait.ForAsync(async () => await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM things WHERE id = 2") == 1,
                    "the other source to keep flowing", 60);
                Assert.Equal(0, CaptureMetrics.Up.WithLabels("lostslot").Value);
                Assert.Equal(60, CaptureMetrics.RetryDelaySeconds.WithLabels("lostslot").Value);
            }

            var line = logs.Lines.First(l => l.Contains("source 'lostslot'", StringComparison.Ordinal) && l.Contains("invalidated", StringComparison.Ordinal));
            output.WriteLine(line);
            Assert.StartsWith("Error ", line, StringComparison.Ordinal);
            Assert.Contains("was invalidated (wal_status = lost", line, StringComparison.Ordinal);
            Assert.Contains("It is not recreated silently", line, StringComparison.Ordinal);
            Assert.Contains("Run 'peeq-cdc source reset lostslot'", line, StringComparison.Ordinal);

            // Still there, still lost: neither dropped nor recreated behind the operator's back.
            await using (var conn = await pg.OpenAsync("health_lost_src"))
            await using (var cmd = new NpgsqlCommand($"SELECT wal_status FROM pg_replication_slots WHERE slot_name = '{slot}'", conn))
            {
                Assert.Equal("lost", (string?)await cmd.ExecuteScalarAsync());
            }

            Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM items"));
        }
        finally
        {
            await DropSlotsAsync(peerCs, options.Sources[1].SlotName);
        }
    }

    [Fact]
    public async Task a_stream_waiting_for_the_sink_longer_than_wal_sender_timeout_keeps_its_connection_and_delivers_everything()
    {
        await using var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions
        {
            Name = "walto",
            MaxReplicationSlots = 4,
            Settings = new Dictionary<string, string> { ["wal_sender_timeout"] = "3s", ["log_min_messages"] = "info" },
        });
        var source = await pg.CreateDatabaseAsync("health_walto_src");
        var target = await SharedPostgres.CreateDatabaseAsync("health_walto_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text); INSERT INTO items VALUES (0, 0, 'first')");
        var options = Options("walto", source, target, "items");
        options.Capture.InFlightBytes = 64 * 1024;
        var slot = options.Sources[0].SlotName;
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync(Stages.Capture | Stages.Transform);
        await pipeline.StartAsync(Stages.Sink);
        await CaptureProbe.WaitForSnapshotAsync(target, "walto", "items");
        await pipeline.DrainAsync();
        var walsender = await SharedPostgres.ScalarAsync<int>(source, $"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{slot}'");

        // The Sink stops; Capture fills its in-flight window and stops reading the stream.
        await pipeline.StopAsync(Stages.Sink);
        for (var i = 0; i < 20; i++)
        {
            await SharedPostgres.ExecuteAsync(source, $"INSERT INTO items SELECT g, g, md5(g::text) FROM generate_series({(i * 100) + 1}, {(i + 1) * 100}) g");
        }

        await Wait.ForAsync(() => CaptureMetrics.Paused.WithLabels("walto").Value == 1, "capture to wait for the Sink (window full)", 60);
        // Four times wal_sender_timeout with nothing read from the stream.
        await Task.Delay(TimeSpan.FromSeconds(12));
        Assert.Equal(1, CaptureMetrics.Paused.WithLabels("walto").Value);
        Assert.Equal(walsender, await SharedPostgres.ScalarAsync<int>(source, $"SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = '{slot}'"));

        await pipeline.StartAsync(Stages.Sink);
        await pipeline.DrainAsync();
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("items"));
        Assert.Equal(walsender, await SharedPostgres.ScalarAsync<int>(source, $"SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = '{slot}'"));
        var log = await File.ReadAllTextAsync(pg.LogFile);
        Assert.DoesNotContain("replication timeout", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task an_unreachable_source_is_retried_with_backoff_while_another_flows_and_catches_up_when_back()
    {
        const string password = "flaky-pw-canary";
        await using var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "flaky", MaxReplicationSlots = 4 });
        var flakyCs = WithPassword(await pg.CreateDatabaseAsync("health_flaky_src"), password);
        var steadyCs = await SharedPostgres.CreateDatabaseAsync("health_steady_src");
        var target = await SharedPostgres.CreateDatabaseAsync("health_flaky_dst");
        await SharedPostgres.ExecuteAsync(flakyCs, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO items VALUES (1, 1)");
        await SharedPostgres.ExecuteAsync(steadyCs, "CREATE TABLE things (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO things VALUES (1, 1)");
        var options = Options("flaky", flakyCs, target, "items");
        options.Sources.Add(new SourceOptions { Name = "steady", ConnectionString = steadyCs, Target = options.Targets[0].Name, Tables = ["things"] });
        var logs = new LogCapture();
        try
        {
            await using var pipeline = new PipelineHarness(options, _kafka, output) { Capture = logs };
            await pipeline.StartAsync();
            await CaptureProbe.WaitForSnapshotAsync(target, "flaky", "items");
            await CaptureProbe.WaitForSnapshotAsync(target, "steady", "things");

            // As after a crash or a power cut. (A fast shutdown would wait for the walsender, which waits for the
            // client to confirm the shutdown checkpoint: Capture confirms only what the Sink applied.)
            await pg.StopAsync("immediate");
            var errorsBefore = CaptureMetrics.Errors.WithLabels("flaky", "connect").Value;
            await SharedPostgres.ExecuteAsync(steadyCs, "INSERT INTO things VALUES (2, 2)");
            await Wait.ForAsync(async () => await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM things WHERE id = 2") == 1,
                "the reachable source to keep flowing", 60);
            var retries = new List<TimeSpan>();
            await Wait.ForAsync(() =>
            {
                retries = logs.Lines.Where(l => l.Contains("Source flaky:", StringComparison.Ordinal) && l.Contains("; retrying in ", StringComparison.Ordinal))
                    .Select(l => TimeSpan.Parse(l[(l.LastIndexOf("; retrying in ", StringComparison.Ordinal) + 14)..], System.Globalization.CultureInfo.InvariantCulture))
                    .ToList();
                return retries.Count >= 3 && CaptureMetrics.Errors.WithLabels("flaky", "connect").Value > errorsBefore;
            }, "the unreachable source to be retried", 60);
            Assert.Equal(0, CaptureMetrics.Up.WithLabels("flaky").Value);
            Assert.True(CaptureMetrics.RetryDelaySeconds.WithLabels("flaky").Value > 0);
            // Backoff: the delay grows between attempts.
            Assert.True(retries.Max() > retries.Min(), $"the retry delay did not grow: {string.Join(", ", retries)}");
            var why = logs.Lines.First(l => l.Contains("Source flaky:", StringComparison.Ordinal) && l.Contains("; retrying in ", StringComparison.Ordinal)
                && l.Contains("cannot connect to 127.0.0.1", StringComparison.Ordinal) && l.Contains("health_flaky_src", StringComparison.Ordinal));
            output.WriteLine(why);

            await pg.StartServerAsync();
            await SharedPostgres.ExecuteAsync(flakyCs, "INSERT INTO items VALUES (2, 2); UPDATE items SET v = 10 WHERE id = 1");
            await pipeline.DrainAsync();
            await TableComparer.AssertEqualAsync(flakyCs, target, TableId.Parse("items"));
            await TableComparer.AssertEqualAsync(steadyCs, target, TableId.Parse("things"));
            Assert.Equal(1, CaptureMetrics.Up.WithLabels("flaky").Value);
            Assert.DoesNotContain(logs.Lines, l => l.Contains(password, StringComparison.Ordinal));
        }
        finally
        {
            await DropSlotsAsync(steadyCs, options.Sources[1].SlotName);
        }
    }

    [Fact]
    public async Task source_remove_drops_the_slot_and_the_publications_capture_created_and_leaves_a_dba_publication_alone()
    {
        var ownCs = await SharedPostgres.CreateDatabaseAsync("health_rmown_src");
        var dbaCs = await SharedPostgres.CreateDatabaseAsync("health_rmdba_src");
        var target = await SharedPostgres.CreateDatabaseAsync("health_rm_dst");
        var options = Options("rmown", ownCs, target, "items");
        options.Sources.Add(new SourceOptions
        {
            Name = "rmdba", ConnectionString = dbaCs, Target = options.Targets[0].Name, Tables = ["things"], CreateReplicationObjects = false,
        });
        var (own, dba) = (options.Sources[0], options.Sources[1]);
        await SharedPostgres.ExecuteAsync(ownCs, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO items VALUES (1, 1)");
        await SharedPostgres.ExecuteAsync(dbaCs, $"CREATE TABLE things (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO things VALUES (1, 1); CREATE PUBLICATION {dba.PublicationName} FOR TABLE things");
        try
        {
            await using (var pipeline = new PipelineHarness(options, _kafka, output))
            {
                await pipeline.StartAsync();
                await CaptureProbe.WaitForSnapshotAsync(target, "rmown", "items");
                await CaptureProbe.WaitForSnapshotAsync(target, "rmdba", "things");
            }

            Assert.Equal(2L, await SharedPostgres.ScalarAsync<long>(ownCs, $"SELECT count(*) FROM pg_publication WHERE pubname IN ('{own.PublicationName}', '{own.PublicationName}_append')"));
            var config = PipelineHarness.WriteConfig(options, Path.Combine(Path.GetTempPath(), $"peeq-rm-{Guid.NewGuid():N}.yaml"));
            foreach (var s in new[] { own, dba })
            {
                var (code, text, _) = await PipelineProcess.RunAsync(TimeSpan.FromSeconds(60), "source", "remove", "--config", config, s.Name);
                output.WriteLine(text);
                Assert.Equal(0, code);
                Assert.Contains($"{s.Name}: dropped slot '{s.SlotName}'", text, StringComparison.Ordinal);
            }

            Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(ownCs, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name IN ('{own.SlotName}', '{dba.SlotName}')"));
            Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(ownCs, "SELECT count(*) FROM pg_publication"));
            Assert.Equal(1L, await SharedPostgres.ScalarAsync<long>(dbaCs, $"SELECT count(*) FROM pg_publication WHERE pubname = '{dba.PublicationName}'"));
            Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.applied_position WHERE source IN ('rmown', 'rmdba')"));
        }
        finally
        {
            await DropSlotsAsync(ownCs, own.SlotName, dba.SlotName);
        }
    }

    /// <summary>
    /// Without streaming of in-progress transactions (protocol v2 is not used: docs/configuration.md, "Supported
    /// source versions"), the walsender decodes a transaction larger than logical_decoding_work_mem to disk and
    /// sends it at its commit, or drops it at its abort. Here the limit is 64 kB so transactions of a few thousand
    /// rows spill: an aborted one, interleaved with a committed one, and a second aborted one produce nothing.
    /// </summary>
    [Fact]
    public async Task large_transactions_spilled_by_the_walsender_arrive_whole_when_committed_and_not_at_all_when_rolled_back()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("health_spill_src");
        var target = await SharedPostgres.CreateDatabaseAsync("health_spill_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text); ALTER DATABASE health_spill_src SET logical_decoding_work_mem = '64kB'");
        var options = Options("spill", source, target, "items");
        var slot = options.Sources[0].SlotName;
        try
        {
            await using var pipeline = new PipelineHarness(options, _kafka, output);
            await pipeline.StartAsync();
            await CaptureProbe.WaitForSnapshotAsync(target, "spill", "items");

            await using (var a = new NpgsqlConnection(source))
            await using (var b = new NpgsqlConnection(source))
            {
                await a.OpenAsync();
                await b.OpenAsync();
                async Task Run(NpgsqlConnection c, string sql)
                {
                    await using var cmd = new NpgsqlCommand(sql, c);
                    await cmd.ExecuteNonQueryAsync();
                }

                await Run(a, "BEGIN; INSERT INTO items SELECT g, g, md5(g::text) FROM generate_series(1, 5000) g");
                await Run(b, "BEGIN; INSERT INTO items SELECT g, g, md5(g::text) FROM generate_series(10001, 15000) g");
                await Run(a, "INSERT INTO items SELECT g, g, md5(g::text) FROM generate_series(5001, 8000) g; ROLLBACK");
                await Run(b, "UPDATE items SET v = -v WHERE id % 2 = 0; COMMIT");
                await Run(a, "BEGIN; INSERT INTO items SELECT g, g, md5(g::text) FROM generate_series(20001, 28000) g; ROLLBACK");
                await Run(a, "INSERT INTO items VALUES (30000, 1, 'after')");
            }

            await pipeline.DrainAsync();
            await TableComparer.AssertEqualAsync(source, target, TableId.Parse("items"));
            Assert.Equal(5001L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM items"));
            var creates = CaptureProbe.ReadAll(_kafka, Topics.Raw(options.Kafka.TopicPrefix, "spill"))
                .Select(m => RawEventCodec.Read(m.Value)).OfType<RawChange>().Where(c => c.Op == ChangeOp.Create)
                .Select(c => c.After!["id"]!.GetValue<long>()).ToList();
            Assert.Equal(5001, creates.Count);
            Assert.DoesNotContain(creates, id => id < 10001 || (id > 15000 && id != 30000));
            var spilled = await SharedPostgres.ScalarAsync<long>(source, $"SELECT coalesce(spill_txns, 0) FROM pg_stat_replication_slots WHERE slot_name = '{slot}'");
            output.WriteLine($"the walsender spilled {spilled} transaction(s) to disk");
            Assert.True(spilled >= 2, "the transactions did not spill; the test does not test what it says");
        }
        finally
        {
            await DropSlotsAsync(source, slot);
        }
    }
}
