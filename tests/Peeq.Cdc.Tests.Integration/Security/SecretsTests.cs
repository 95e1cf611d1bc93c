using System.Text;
using Confluent.Kafka;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Security;

/// <summary>
/// Secrets stay secret (ARCHITECTURE.md, guarantee 6, and PREAMBLE: passwords never in logs or error messages): the
/// roles' passwords and a canary planted in a sensitive column appear in no log line of any stage at any level, in no
/// parked row, no dead-letter topic, no output of <c>peeq-cdc parked list</c> or <c>peeq-cdc status</c>, also when a
/// database is unreachable or refuses the password.
/// </summary>
public sealed class SecretsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Canary = "CANARY-5b1d-sec";
    private const string CapturePassword = "Pw-capture-9f41e7";
    private const string SinkPassword = "Pw-sink-03ad2c";
    private const string ReconcilerPassword = "Pw-reconciler-77b0";

    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task passwords_and_a_canary_appear_in_no_log_line_parked_row_dead_letter_or_parked_list()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("sec_src");
        var target = await SharedPostgres.CreateDatabaseAsync("sec_dst");
        await SharedPostgres.ExecuteAsync(source, $"""
            CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL);
            CREATE TABLE secrets (id bigint PRIMARY KEY, name text NOT NULL, value text);
            INSERT INTO items SELECT g, g FROM generate_series(1, 20) g;
            INSERT INTO secrets VALUES (1, 'snapshotted', '{Canary}-1');
            """);
        // A target table that refuses one row: it is parked, with its sensitive value in the parked payload's reach.
        await SharedPostgres.ExecuteAsync(target, "CREATE SCHEMA sec_app; CREATE TABLE sec_app.secrets (id bigint PRIMARY KEY, name text NOT NULL, value text, CHECK (name <> 'refused'))");
        await LeastPrivilege.RunScriptAsync(source, "least-privilege-source.sql", output,
            ("source", "sec"), ("tables", "public.items, public.secrets"), ("capture_role", "sec_capture"), ("reconciler_role", "sec_reconciler"),
            ("capture_password", CapturePassword), ("reconciler_password", ReconcilerPassword));
        await LeastPrivilege.RunScriptAsync(target, "least-privilege-target.sql", output,
            ("schemas", "sec_app"), ("sink_role", "sec_sink"), ("reconciler_role", "sec_reconciler"), ("sink_password", SinkPassword));
        await PasswordAuth.RequireAsync(source, "sec_capture", "sec_sink", "sec_reconciler");

        var options = PipelineHarness.Identity("sec", LeastPrivilege.As(source, "sec_capture", CapturePassword), LeastPrivilege.As(target, "sec_sink", SinkPassword),
            _kafka.BootstrapServers, "items", "secrets");
        options.Targets[0].Name = "sec_target";
        options.Sources[0].Target = "sec_target";
        options.Sources[0].TargetSchema = "sec_app";
        options.Sources[0].CreateReplicationObjects = false;
        options.Sources[0].SensitiveColumns = ["secrets.value"];
        // No sealing key (this pipeline sets none, and no test sets the process-wide variable): sensitive values are
        // left out of the events and rows that need them parked. The sealed path: Capture/StreamingTests.
        Assert.True(string.IsNullOrEmpty(Environment.GetEnvironmentVariable(PipelineOptions.SealKeyVariable)),
            $"{PipelineOptions.SealKeyVariable} is set in the test process: tests set PipelineOptions.SealKey instead");
        var logs = new LogCapture();
        var raw = Topics.Raw(options.Kafka.TopicPrefix, "sec");
        var unified = Topics.Unified(options.Kafka.TopicPrefix, "sec_target");
        try
        {
            await using var pipeline = new PipelineHarness(options, _kafka, output) { Capture = logs };
            await pipeline.StartAsync();
            await SharedPostgres.ExecuteAsync(source, $"""
                INSERT INTO secrets VALUES (2, 'streamed', '{Canary}-2');
                INSERT INTO secrets VALUES (3, 'refused', '{Canary}-3');
                UPDATE secrets SET value = '{Canary}-4', name = 'changed' WHERE id = 1;
                UPDATE items SET v = -v WHERE id <= 5;
                """);
            await pipeline.DrainAsync();
            Assert.True(await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows WHERE source_table = 'public.secrets'") > 0);

            // A copy of a real event of the sensitive table, cut short, on the raw topic and on the unified topic: both
            // unreadable, both copied to a dead-letter topic as they are.
            var secretEvent = CaptureProbe.ReadAll(_kafka, raw).First(m => Encoding.UTF8.GetString(m.Value).Contains("\"secrets\"", StringComparison.Ordinal));
            var secretOp = CaptureProbe.ReadAll(_kafka, unified).First(m => Encoding.UTF8.GetString(m.Value).Contains("secrets", StringComparison.Ordinal));
            using (var producer = new ProducerBuilder<byte[], byte[]>(_kafka.Endpoint.ProducerConfig("sec-probe")).Build())
            {
                await producer.ProduceAsync(raw, new Message<byte[], byte[]> { Key = secretEvent.Key, Value = secretEvent.Value[..^7] });
                await producer.ProduceAsync(new TopicPartition(unified, new Partition(0)), new Message<byte[], byte[]> { Key = secretOp.Key, Value = secretOp.Value[..^7] });
            }

            await Wait.ForAsync(() => DeadLetters(options.Kafka.TopicPrefix).Count >= 2, "both cut events on a dead-letter topic", 60);
            await SharedPostgres.ExecuteAsync(source, "INSERT INTO items VALUES (100, 100)");
            await pipeline.DrainAsync();
        }
        finally
        {
            await SharedPostgres.ExecuteAsync(source, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'peeq_cdc_sec' AND NOT active");
        }

        Assert.Equal(await TableComparer.DumpAsync(source, TableId.Parse("items")), await TableComparer.DumpAsync(target, TableId.Parse("sec_app.items")));
        Assert.True(logs.Lines.Count > 50, $"only {logs.Lines.Count} log lines were captured");
        Assert.Contains(logs.Lines, l => l.StartsWith("Debug", StringComparison.Ordinal) || l.StartsWith("Trace", StringComparison.Ordinal));
        AssertNoSecret(logs.Lines, "a log line");
        AssertNoSecret(await TableComparer.DumpAsync(target, new TableId("peeq_cdc", "parked_rows")), "peeq_cdc.parked_rows");
        foreach (var m in DeadLetters(options.Kafka.TopicPrefix))
        {
            AssertNoSecret([Encoding.UTF8.GetString(m.Value), .. (m.Headers ?? []).Select(h => Encoding.UTF8.GetString(h.GetValueBytes()))], "a dead letter");
        }

        // Every table of the pipeline's schema (parked rows, shadowed claims, lineage, positions, ...) and every topic of
        // this pipeline (raw, unified, both dead-letter topics), whatever is added to them later.
        var pipelineTables = new List<string>();
        await using (var conn = new Npgsql.NpgsqlConnection(target))
        {
            await conn.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT tablename FROM pg_tables WHERE schemaname = 'peeq_cdc' ORDER BY 1", conn);
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
                pipelineTables.Add(r.GetString(0));
            }
        }

        Assert.Contains("parked_rows", pipelineTables);
        foreach (var table in pipelineTables)
        {
            AssertNoSecret(await TableComparer.DumpAsync(target, new TableId("peeq_cdc", table)), $"peeq_cdc.{table}");
        }

        List<string> topics;
        using (var admin = new AdminClientBuilder(_kafka.Endpoint.AdminConfig()).Build())
        {
            topics = admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Select(t => t.Topic)
                .Where(t => t.StartsWith(options.Kafka.TopicPrefix + ".", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        }

        output.WriteLine($"searched {pipelineTables.Count} tables of peeq_cdc and the topics {string.Join(", ", topics)}");
        Assert.Superset(new HashSet<string> { raw, unified, $"{options.Kafka.TopicPrefix}.dlq.transform", $"{options.Kafka.TopicPrefix}.dlq.sink" }, topics.ToHashSet());
        foreach (var topic in topics)
        {
            foreach (var m in CaptureProbe.ReadAll(_kafka, topic))
            {
                AssertNoSecret([Encoding.UTF8.GetString(m.Value), m.Key is null ? "" : Encoding.UTF8.GetString(m.Key), .. (m.Headers ?? []).Select(h => Encoding.UTF8.GetString(h.GetValueBytes()))], topic);
            }
        }

        var config = PipelineHarness.WriteConfig(options, Path.Combine(Path.GetTempPath(), $"peeq-sec-{Guid.NewGuid():N}.yaml"));
        var (exit, printed, _) = await PipelineProcess.RunAsync(TimeSpan.FromSeconds(60), "parked", "list", "--config", config, "--status", "all");
        output.WriteLine(printed);
        Assert.Equal(0, exit);
        Assert.Contains("public.secrets", printed, StringComparison.Ordinal);
        AssertNoSecret([printed], "the output of parked list");
        // Without a key the target never holds them.
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, $"SELECT count(*) FROM sec_app.secrets WHERE value LIKE '{Canary}%'"));
    }

    [Fact]
    public async Task an_unreachable_database_and_a_refused_password_are_reported_without_the_password_in_logs_or_status()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("sec_fail_src");
        var target = await SharedPostgres.CreateDatabaseAsync("sec_fail_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO items SELECT g, g FROM generate_series(1, 10) g");
        await LeastPrivilege.RunScriptAsync(source, "least-privilege-source.sql", output,
            ("source", "secfail"), ("tables", "public.items"), ("capture_role", "sec_capture"), ("reconciler_role", "sec_reconciler"),
            ("capture_password", CapturePassword), ("reconciler_password", ReconcilerPassword));
        await PasswordAuth.RequireAsync(source, "sec_capture", "sec_reconciler");

        // secgone: nothing listens on its port. secwrong: the server asks for the password and refuses this one.
        var closedPort = EmbeddedPostgres.FreePort();
        var unreachable = new Npgsql.NpgsqlConnectionStringBuilder(LeastPrivilege.As(source, "sec_capture", CapturePassword)) { Port = closedPort, Timeout = 3 }.ConnectionString;
        var refused = LeastPrivilege.As(source, "sec_capture", "Pw-wrong-e3c1");
        var options = PipelineHarness.Identity("secgone", unreachable, target, _kafka.BootstrapServers, "items");
        options.Targets[0].Name = "secfail_target";
        options.Sources[0].Target = "secfail_target";
        options.Sources[0].CreateReplicationObjects = false;
        options.Sources.Add(new Peeq.Cdc.Configuration.SourceOptions
        {
            Name = "secwrong", ConnectionString = refused, Target = "secfail_target", Tables = ["items"], CreateReplicationObjects = false, TargetSchema = "secwrong",
        });
        var logs = new LogCapture();
        await using (var pipeline = new PipelineHarness(options, _kafka, output) { Capture = logs })
        {
            await pipeline.StartAsync();
            await Wait.ForAsync(() => logs.Lines.Any(l => l.Contains("secwrong", StringComparison.Ordinal) && l.Contains("password authentication failed", StringComparison.Ordinal)),
                "the refused password reported for secwrong", 60);
            await Wait.ForAsync(() => logs.Lines.Any(l => l.Contains("secgone", StringComparison.Ordinal) && l.Contains("refused", StringComparison.OrdinalIgnoreCase)),
                "the unreachable database reported for secgone", 60);

            var config = PipelineHarness.WriteConfig(options, Path.Combine(Path.GetTempPath(), $"peeq-secfail-{Guid.NewGuid():N}.yaml"));
            foreach (var args in new[] { new[] { "status", "--config", config }, ["status", "--config", config, "--json"], ["config", "check", "--config", config] })
            {
                var (exit, printed, _) = await PipelineProcess.RunAsync(TimeSpan.FromSeconds(90), args);
                output.WriteLine($"peeq-cdc {string.Join(' ', args.Take(2))}: exit {exit}\n{printed}");
                Assert.NotEqual(0, exit);
                Assert.Contains("secwrong", printed, StringComparison.Ordinal);
                Assert.Contains("secgone", printed, StringComparison.Ordinal);
                AssertNoSecret([printed], $"the output of peeq-cdc {string.Join(' ', args.Take(2))}");
            }
        }

        AssertNoSecret(logs.Lines, "a log line");
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(source, "SELECT count(*) FROM pg_replication_slots WHERE slot_name IN ('peeq_cdc_secgone', 'peeq_cdc_secwrong')"));
    }

    private List<Message<byte[], byte[]>> DeadLetters(string prefix)
    {
        var all = new List<Message<byte[], byte[]>>();
        foreach (var topic in new[] { $"{prefix}.dlq.transform", $"{prefix}.dlq.sink" })
        {
            all.AddRange(CaptureProbe.ReadAll(_kafka, topic));
        }

        return all;
    }

    private static void AssertNoSecret(IEnumerable<string> texts, string where)
    {
        foreach (var text in texts)
        {
            foreach (var secret in new[] { Canary, CapturePassword, SinkPassword, ReconcilerPassword, "Pw-wrong-e3c1" })
            {
                Assert.False(text.Contains(secret, StringComparison.Ordinal), $"{secret} is in {where}: {text}");
            }
        }
    }
}
