using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Cutover;
using Peeq.Cdc.Cutover.Grants;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Tests.Integration.Infrastructure;
using Peeq.Cdc.Cli.Hosting;

namespace Peeq.Cdc.Tests.Integration.Security;

/// <summary>
/// The pipeline under the roles deploy/sql/least-privilege-*.sql makes (docs/security.md): Capture as a REPLICATION
/// role that is no superuser, the Sink as the owner of its schemas only, the reconciler read-only, a service role
/// unable to write the target until the cutover's grant switch.
/// </summary>
public sealed class LeastPrivilegeTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task pipeline_runs_under_least_privilege_roles_and_the_sink_cannot_write_outside_its_schemas()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("lp_src");
        var target = await SharedPostgres.CreateDatabaseAsync("lp_dst");
        await SharedPostgres.ExecuteAsync(source, """
            CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text);
            CREATE TABLE audit (at timestamptz NOT NULL, what text);
            CREATE TABLE other (id int PRIMARY KEY, v int);
            INSERT INTO items SELECT g, g, 'n' || g FROM generate_series(1, 200) g;
            INSERT INTO audit SELECT now(), 'a' || g FROM generate_series(1, 20) g;
            INSERT INTO other SELECT g, g FROM generate_series(1, 5) g;
            """);
        // A schema of the target the Sink has no business in: a DBA made it, with a table of the same shape.
        await SharedPostgres.ExecuteAsync(target, "CREATE SCHEMA lp_locked; CREATE TABLE lp_locked.other (id int PRIMARY KEY, v int)");
        await SharedPostgres.ExecuteAsync(target, "CREATE ROLE lp_service LOGIN");
        var readLocked = "GRANT USAGE ON SCHEMA lp_locked TO lp_reconciler; GRANT SELECT ON lp_locked.other TO lp_reconciler";

        await LeastPrivilege.RunScriptAsync(source, "least-privilege-source.sql", output,
            ("source", "lpok"), ("tables", "public.items, public.audit"), ("capture_role", "lp_capture"), ("reconciler_role", "lp_reconciler"));
        await LeastPrivilege.RunScriptAsync(source, "least-privilege-source.sql", output,
            ("source", "lpbad"), ("tables", "public.other"), ("capture_role", "lp_capture"), ("reconciler_role", "lp_reconciler"));
        await LeastPrivilege.RunScriptAsync(target, "least-privilege-target.sql", output,
            ("schemas", "lp_app"), ("sink_role", "lp_sink"), ("reconciler_role", "lp_reconciler"), ("service_roles", "lp_service"));
        // The reconciler reads every table the pipeline registered in the target, this DBA's one too.
        await SharedPostgres.ExecuteAsync(target, readLocked);
        Assert.False(await SharedPostgres.ScalarAsync<bool>(source, "SELECT rolsuper FROM pg_roles WHERE rolname = 'lp_capture'"));

        var captureCs = LeastPrivilege.As(source, "lp_capture");
        var sinkCs = LeastPrivilege.As(target, "lp_sink");
        var options = PipelineHarness.Identity("lpok", captureCs, sinkCs, _kafka.BootstrapServers, "items", "audit");
        options.Targets[0].Name = "lp_target";
        options.Sources[0].Target = "lp_target";
        options.Sources[0].TargetSchema = "lp_app";
        options.Sources[0].CreateReplicationObjects = false;
        options.Sources.Add(new SourceOptions
        {
            Name = "lpbad", ConnectionString = captureCs, Target = "lp_target", Tables = ["other"], TargetSchema = "lp_locked", CreateReplicationObjects = false,
        });
        var logs = new LogCapture();
        try
        {
            await using var pipeline = new PipelineHarness(options, _kafka, output) { Capture = logs };
            await pipeline.StartAsync();
            await SharedPostgres.ExecuteAsync(source, """
                INSERT INTO items SELECT g, g, 'streamed' FROM generate_series(201, 300) g;
                UPDATE items SET v = -v WHERE id % 7 = 0;
                DELETE FROM items WHERE id % 11 = 0;
                INSERT INTO audit VALUES (now(), 'streamed');
                UPDATE other SET v = 100 WHERE id = 1;
                """);
            var ok = new PipelineOptions { Kafka = options.Kafka, Sources = [options.Sources[0]], Targets = options.Targets };
            Assert.True(await Peeq.Cdc.Postgres.PipelineProgress.WaitForDrainAsync(ok, TimeSpan.FromSeconds(90), CancellationToken.None), "source lpok did not drain");

            Assert.Equal(await TableComparer.DumpAsync(source, TableId.Parse("items")), await TableComparer.DumpAsync(target, TableId.Parse("lp_app.items")));
            Assert.Equal(await TableComparer.DumpAsync(source, TableId.Parse("audit")), await TableComparer.DumpAsync(target, TableId.Parse("lp_app.audit")));

            // The other source's target schema is not the Sink's: a precise permission error for that source, retried,
            // and nothing written there; lpok above flowed regardless.
            await Wait.ForAsync(() => logs.Lines.Any(l => l.Contains("lpbad", StringComparison.Ordinal) && l.Contains("permission denied for schema lp_locked", StringComparison.Ordinal)
                && l.Contains("42501", StringComparison.Ordinal)), "the Sink's permission error for lpbad", 60);
            Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM lp_locked.other"));

            // The reconciler, read-only on both sides, finds the target equal to the source.
            var reconcileOptions = new PipelineOptions
            {
                Kafka = options.Kafka,
                Sources = [new SourceOptions { Name = "lpok", ConnectionString = LeastPrivilege.As(source, "lp_reconciler"), Target = "lp_target", Tables = ["items", "audit"], TargetSchema = "lp_app" }],
                Targets = [new TargetOptions { Name = "lp_target", ConnectionString = LeastPrivilege.As(target, "lp_reconciler") }],
            };
            var config = PipelineConfig.FromOptions(reconcileOptions);
            var report = await ReconcileRunner.RunAsync(config, Mappings.Load(config), Path.Combine(Path.GetTempPath(), "peeq-lp-" + Guid.NewGuid().ToString("N")[..6]),
                new TestOutputLoggerProvider(output).CreateLogger("reconcile"), CancellationToken.None);
            output.WriteLine($"reconcile: {report.Summary}; errors: {string.Join("; ", report.Errors)}");
            Assert.Equal(Verdict.Clean, report.Verdict);
            Assert.Empty(report.Errors);
            var writeAsReconciler = await Assert.ThrowsAsync<PostgresException>(() => SharedPostgres.ExecuteAsync(LeastPrivilege.As(target, "lp_reconciler"), "DELETE FROM lp_app.items"));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, writeAsReconciler.SqlState);
        }
        finally
        {
            await SharedPostgres.ExecuteAsync(source, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('peeq_cdc_lpok', 'peeq_cdc_lpbad') AND NOT active");
        }

        // The Sink's role cannot make a schema, nor write one it does not own.
        var denied = await Assert.ThrowsAsync<PostgresException>(() => SharedPostgres.ExecuteAsync(sinkCs, "CREATE SCHEMA lp_elsewhere"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, denied.SqlState);
        denied = await Assert.ThrowsAsync<PostgresException>(() => SharedPostgres.ExecuteAsync(sinkCs, "INSERT INTO lp_locked.other VALUES (99, 99)"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, denied.SqlState);

        // Before cutover the service cannot write what the pipeline wrote; the cutover's grant switch, run with the
        // Sink's role on the target (it owns the tables) and the tables' owner on the source, lets it.
        var asService = LeastPrivilege.As(target, "lp_service");
        var serviceDenied = await Assert.ThrowsAsync<PostgresException>(() => SharedPostgres.ExecuteAsync(asService, "INSERT INTO lp_app.items VALUES (1000, 1, 'svc')"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, serviceDenied.SqlState);
        await SharedPostgres.ExecuteAsync(source, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lp_service') THEN CREATE ROLE lp_service LOGIN; END IF; END $$");
        var cutoverOptions = new PipelineOptions
        {
            Kafka = options.Kafka,
            Sources = [new SourceOptions { Name = "lpok", ConnectionString = source, Target = "lp_target", Tables = ["items", "audit"], TargetSchema = "lp_app" }],
            Targets = [new TargetOptions { Name = "lp_target", ConnectionString = sinkCs }],
        };
        // lpbad registered its table in the DBA's schema but never wrote it; the domain cut over here is lpok's.
        await SharedPostgres.ExecuteAsync(target, "DELETE FROM peeq_cdc.lineage_tables WHERE target_table LIKE 'lp_locked.%'");
        var noForeignKeys = Path.Combine(Path.GetTempPath(), $"peeq-lp-fk-{Guid.NewGuid():N}.sql");
        await File.WriteAllTextAsync(noForeignKeys, "-- none\n");
        var domain = CutoverDomain.Resolve(PipelineConfig.FromOptions(cutoverOptions), "lp_target", noForeignKeys);
        await using (var conn = new NpgsqlConnection(sinkCs))
        {
            await conn.OpenAsync();
            await GrantSwitch.ApplyAsync(domain, ["lp_service"], conn, CancellationToken.None);
        }

        await SharedPostgres.ExecuteAsync(asService, "INSERT INTO lp_app.items VALUES (1000, 1, 'svc')");
    }
}
