using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Capture;
using Peeq.Cdc.Cli.Commands;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Sink;
using Peeq.Cdc.Sink.Apply;
using Peeq.Cdc.Workload;
using Peeq.Cdc.Workload.Live;
using Peeq.Cdc.Workload.Seeding;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Peeq.Cdc.Cli.Demo;

/// <summary>What the demo runs: how long, how much data, how busy.</summary>
public sealed record DemoOptions
{
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(30);

    public string OutDir { get; init; } = "out/demo";

    /// <summary>Workload operations per second.</summary>
    public double Rate { get; init; } = 50;

    /// <summary>seed-data scale of the 22 legacy databases.</summary>
    public double Scale { get; init; } = 0.01;

    public long Seed { get; init; } = 1;

    /// <summary>
    /// <c>consolidation</c> (default): through mappings/ into the seed's unified target schemas; <c>identity</c>:
    /// each legacy database into its domain's target, one schema per database (<c>targetSchema</c>).
    /// </summary>
    public string Mapping { get; init; } = "consolidation";

    public string? Http { get; init; }

    public LogLevel LogLevel { get; init; } = LogLevel.Warning;
}

/// <summary>
/// The embedded default: a legacy PostgreSQL holding the 22 legacy databases (seed-data), a target
/// PostgreSQL holding the 6 domain databases, the in-memory Kafka-protocol broker, the whole pipeline in
/// this process with all 22 databases as sources, the live workload writing to them, and a
/// reconciliation at the end. The 22 sources are consolidated into the 6 targets through the mapping files
/// of mappings/ (embedded; written to the output folder beside the configuration they are run with).
/// </summary>
public sealed class DemoRunner(DemoOptions demo)
{
    public async Task<int> RunAsync(CancellationToken ct)
    {
        var total = Stopwatch.StartNew();
        var outDir = demo.OutDir;
        Directory.CreateDirectory(outDir);
        Console.WriteLine("demo: starting PostgreSQL (legacy and target) and the embedded Kafka broker...");
        await using var legacy = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "legacy" }, ct);
        await using var targetPg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "target" }, ct);
        using var kafka = EmbeddedKafka.Start();
        Console.WriteLine($"demo: legacy PostgreSQL on port {legacy.Port}, target on port {targetPg.Port}, Kafka at {kafka.BootstrapServers}");

        var world = LegacyWorld.OnOneServer(legacy.ConnectionString());
        Console.WriteLine($"demo: seed-data --scale {demo.Scale} --seed {demo.Seed}: the 22 legacy databases...");
        var seeded = await new LegacySeeder(world, new SeedOptions { Scale = demo.Scale, Seed = demo.Seed, Recreate = true }, progressOutput: null).RunAsync(ct);
        Console.WriteLine($"demo: seeded {seeded.TotalRows:N0} rows in {seeded.Databases.Count} databases ({seeded.ElapsedSeconds:0.0} s), "
                          + $"{seeded.Anomalies.Sum(a => a.Count):N0} planted anomalies of {seeded.Anomalies.Count} kinds");

        // The 6 targets with the seed's schemas, filled through the consolidation mappings (written beside the
        // configuration, which names them relative to itself).
        var consolidate = demo.Mapping == "consolidation";
        var targets = new List<TargetOptions>();
        Directory.CreateDirectory(Path.Combine(outDir, "mappings"));
        foreach (var domain in LegacyCatalog.Domains)
        {
            var name = "peeq_" + domain;
            var cs = await targetPg.CreateDatabaseAsync(name, ct);
            if (!consolidate)
            {
                // Identity: every legacy table into its domain's target, in a schema named after its database.
                targets.Add(new TargetOptions { Name = name, ConnectionString = cs });
                continue;
            }

            await using (var conn = new Npgsql.NpgsqlConnection(cs))
            {
                await conn.OpenAsync(ct);
                await using var ddl = new Npgsql.NpgsqlCommand(Resource($"target/{name}.sql"), conn);
                await ddl.ExecuteNonQueryAsync(ct);
            }

            var mapping = Path.Combine(Path.GetFullPath(outDir), "mappings", name + ".yaml");
            await File.WriteAllTextAsync(mapping, Resource($"mappings/{name}.yaml"), ct);
            targets.Add(new TargetOptions { Name = name, ConnectionString = cs, Mapping = mapping });
        }

        var options = new PipelineOptions
        {
            Kafka = new KafkaOptions { BootstrapServers = kafka.BootstrapServers, TopicPrefix = "peeq-demo" },
            Sources = world.Databases.Select(db => new SourceOptions
            {
                Name = db.Key,
                ConnectionString = world.ConnectionString(db),
                Target = db.TargetDatabase,
                TargetSchema = consolidate ? null : db.DatabaseName(world.Prefix),
                Tables = [.. db.Tables],
                FinancialTables = [.. db.FinancialTables],
                SensitiveColumns = [.. db.SensitiveColumns],
            }).ToList(),
            Targets = targets,
            Capture = new CaptureOptions { HeartbeatInterval = TimeSpan.FromSeconds(1), AckInterval = TimeSpan.FromMilliseconds(100) },
            // The sweep fills in lookups into another target (shoutout-db's item ids, registered in peeq_commerce):
            // every 5 s rather than every 30 s, so the drain below does not wait on it for long.
            Sink = new SinkOptions { MaintenanceInterval = TimeSpan.FromSeconds(5) },
            Http = new HttpOptions { Urls = demo.Http == "off" ? "" : demo.Http ?? "http://127.0.0.1:0" },
        };
        if (Environment.GetEnvironmentVariable(CaptureService.SealKeyVariable) is not { Length: > 0 })
        {
            // Vault private keys and secret values travel sealed; this key lives only as long as the demo.
            Environment.SetEnvironmentVariable(CaptureService.SealKeyVariable, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
            Console.WriteLine("demo: sensitive columns are sealed with a throwaway key (PEEQ_CDC_SEAL_KEY)");
        }

        // Every table of every source is captured, as a real deployment would: a table a mapping excludes (with its
        // reason; docs/mappings.md) streams to the Transform and stops there, and its stretches of dropped rows
        // reach the Sink as progress markers, so they never hold Capture's in-flight window (docs/contracts.md).
        var config = PipelineConfig.FromOptions(options);
        await File.WriteAllTextAsync(Path.Combine(outDir, "peeq-cdc.yaml"), DescribeConfig(options), ct);
        var served = options.Http.Urls.Length > 0;
        var app = PipelineHost.Build(config, kafka.Endpoint, Stages.All, served ? options.Http.Urls : null, demo.LogLevel, dashboard: served, reportsDirectory: outDir);
        await app.StartAsync(ct);

        // Written again once the port is known: `peeq-cdc status --config <out>/peeq-cdc.yaml` reads this running demo.
        options.Dashboard.Metrics = served ? [.. app.Urls.Select(u => u.TrimEnd('/') + "/metrics")] : [];
        await File.WriteAllTextAsync(Path.Combine(outDir, "peeq-cdc.yaml"), DescribeConfig(options), ct);
        Console.WriteLine(served
            ? $"demo: pipeline running with {options.Sources.Count} sources into {options.Targets.Count} targets; dashboard at {Operations.Dashboard.DashboardEndpoints.PageUrl(app.Urls)} (metrics at /metrics)"
            : $"demo: pipeline running with {options.Sources.Count} sources into {options.Targets.Count} targets; dashboard off (--http off)");
        Console.WriteLine($"demo: workload at {demo.Rate} operations/s for {demo.Duration.TotalSeconds:0} s");
        Console.WriteLine($"demo: while it runs: peeq-cdc status --config {Path.Combine(Path.GetFullPath(outDir), "peeq-cdc.yaml")}");

        await using var workload = new LegacyWorkload(world, new WorkloadOptions { Seed = demo.Seed, Rate = demo.Rate });
        using var workloadCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var workloadTask = workload.RunAsync(workloadCts.Token);
        var until = DateTime.UtcNow + demo.Duration;
        while (DateTime.UtcNow < until && !ct.IsCancellationRequested && !workloadTask.IsCompleted)
        {
            await Task.Delay(1000, ct);
            await PrintProgressAsync(options, workload, ct);
        }

        await workloadCts.CancelAsync();
        var done = await workloadTask;
        Console.WriteLine($"demo: workload stopped after {done.Operations:N0} operations ({done.Transactions:N0} transactions; wallets net {done.Money.Net}, transfers {done.Money.Transfers}); draining...");
        // Drained when every source is applied up to where its WAL was when the workload stopped, every snapshot is
        // complete and no pending lookup has an identity waiting for it; the wait lasts as long as that moves
        // (22 sources on 2 cores take minutes; a replay after a deadlock shows no progress for minutes on a loaded
        // machine), and gives up after 300 s without progress.
        var drainClock = Stopwatch.StartNew();
        var drain = await PipelineProgress.WaitForDrainAsync(options, new DrainWait
        {
            Stall = TimeSpan.FromSeconds(300),
            AlsoPending = c => Lookups.AnswerableAsync(options.Targets, c),
            Progress = s => Console.WriteLine($"drain: {drainClock.Elapsed.TotalSeconds,5:0} s: {s}"),
        }, ct);
        Console.WriteLine(drain.Drained
            ? $"demo: drained in {drain.Waited.TotalSeconds:0} s"
            : $"demo: the pipeline did not drain: {drain.Reason}");
        await PrintProgressAsync(options, workload, ct);
        var report = await ReconcileRunner.RunAsync(config, Mappings.Load(config), outDir, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, ct);
        await File.WriteAllTextAsync(Path.Combine(outDir, "seed-summary.json"), seeded.ToJson(), ct);
        await File.WriteAllTextAsync(Path.Combine(outDir, "workload-summary.json"), done.ToJson(), ct);
        await Operations.Notifications.NotificationsSetup.PublishReconciliationAsync(app.Services, report, Path.Combine(Path.GetFullPath(outDir), "reconciliation.json"), ct);
        await app.StopAsync(CancellationToken.None);
        Console.WriteLine();
        ReconcileCommand.Print(report);
        Console.WriteLine($"demo: reports written to {Path.Combine(Path.GetFullPath(outDir), "reconciliation.html")} and .json (seed and workload summaries beside them; {total.Elapsed.TotalSeconds:0} s in all)");
        if (!drain.Drained)
        {
            Console.WriteLine($"demo: the pipeline did not drain ({drain.Reason})");
            return 1;
        }

        return report.Verdict == Verdict.Clean ? 0 : 1;
    }

    private static string Resource(string name)
    {
        using var stream = typeof(DemoRunner).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static async Task PrintProgressAsync(PipelineOptions options, LegacyWorkload workload, CancellationToken ct)
    {
        var sources = await PipelineProgress.SourcePositionsAsync(options, ct);
        var applied = await PipelineProgress.AppliedAsync(options, ct);
        var lag = sources.Max(s => (double)Contracts.Lsn.Distance(s.Value, applied.TryGetValue(s.Key, out var a) ? a.EndLsn : Contracts.Lsn.Zero));
        var captured = CaptureMetrics.Events.GetAllLabelValues().Sum(l => CaptureMetrics.Events.WithLabels(l).Value);
        var appliedTx = SinkMetrics.Transactions.GetAllLabelValues().Sum(l => SinkMetrics.Transactions.WithLabels(l).Value);
        Console.WriteLine($"progress: workload ops {workload.Operations,7} tx {workload.Transactions,7} | captured events {captured,8:0} | applied tx {appliedTx,7:0} | max lag {lag / 1024,8:0.0} KiB");
    }

    private static string DescribeConfig(PipelineOptions options) =>
        "# The configuration this demo runs with; `peeq-cdc status --config` on this file reads the running demo\n"
        + "# (its databases and broker are gone when the demo ends).\n"
        + new SerializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).WithTypeConverter(new TimeSpanYaml()).Build().Serialize(options);

    /// <summary>TimeSpans as the config file reads them (hh:mm:ss.fff), not as an object of their properties.</summary>
    private sealed class TimeSpanYaml : IYamlTypeConverter
    {
        public bool Accepts(Type type) => type == typeof(TimeSpan);

        public object? ReadYaml(YamlDotNet.Core.IParser parser, Type type, ObjectDeserializer rootDeserializer) => throw new NotSupportedException();

        public void WriteYaml(YamlDotNet.Core.IEmitter emitter, object? value, Type type, ObjectSerializer serializer) =>
            emitter.Emit(new YamlDotNet.Core.Events.Scalar(((TimeSpan)value!).ToString("c", System.Globalization.CultureInfo.InvariantCulture)));
    }
}
