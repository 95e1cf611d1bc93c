using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Capture;
using Peeq.Cdc.Cli.Commands;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Reconciler.Counts;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Sink;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Peeq.Cdc.Cli.Demo;

/// <summary>
/// The embedded default: a legacy PostgreSQL and a target PostgreSQL started from the machine's
/// binaries, the in-memory Kafka-protocol broker, a seeded source under a live workload, the whole
/// pipeline in this process, and a reconciliation at the end.
/// </summary>
public sealed class DemoRunner(TimeSpan duration, string outDir, double rate, string? http, LogLevel logLevel)
{
    public async Task<int> RunAsync(CancellationToken ct)
    {
        var total = Stopwatch.StartNew();
        Directory.CreateDirectory(outDir);
        Console.WriteLine("demo: starting PostgreSQL (legacy and target) and the embedded Kafka broker...");
        await using var legacy = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "legacy" }, ct);
        await using var targetPg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "target" }, ct);
        using var kafka = EmbeddedKafka.Start();
        Console.WriteLine($"demo: legacy PostgreSQL on port {legacy.Port}, target on port {targetPg.Port}, Kafka at {kafka.BootstrapServers}");

        const int customers = 2000;
        var sourceCs = await legacy.CreateDatabaseAsync("shop", ct);
        var targetCs = await targetPg.CreateDatabaseAsync("shop_consolidated", ct);
        await using (var conn = await legacy.OpenAsync("shop", ct))
        {
            await SampleShop.CreateAsync(conn, customers, ct);
        }

        var options = new PipelineOptions
        {
            Kafka = new KafkaOptions { BootstrapServers = kafka.BootstrapServers, TopicPrefix = "peeq-demo" },
            Sources = [new SourceOptions { Name = "shop", ConnectionString = sourceCs, Target = "consolidated", Tables = [.. SampleShop.Tables] }],
            Targets = [new TargetOptions { Name = "consolidated", ConnectionString = targetCs }],
            Capture = new CaptureOptions { HeartbeatInterval = TimeSpan.FromSeconds(1), AckInterval = TimeSpan.FromMilliseconds(100) },
            Http = new HttpOptions { Urls = http ?? "http://127.0.0.1:0" },
        };
        var config = PipelineConfig.FromOptions(options);
        var app = PipelineHost.Build(config, kafka.Endpoint, Stages.All, options.Http.Urls, logLevel, dashboard: true, reportsDirectory: outDir);
        await app.StartAsync(ct);

        // Written once the port is known: `peeq-cdc status --config <out>/peeq-cdc.yaml` reads this running demo.
        options.Dashboard.Metrics = [.. app.Urls.Select(u => u.TrimEnd('/') + "/metrics")];
        await File.WriteAllTextAsync(Path.Combine(outDir, "peeq-cdc.yaml"), DescribeConfig(options), ct);
        Console.WriteLine($"demo: pipeline running; dashboard at {Operations.Dashboard.DashboardEndpoints.PageUrl(app.Urls)} (metrics at /metrics); workload {rate} tx/s for {duration.TotalSeconds:0} s");
        Console.WriteLine($"demo: while it runs: peeq-cdc status --config {Path.Combine(Path.GetFullPath(outDir), "peeq-cdc.yaml")}");

        var workload = new SampleWorkload(sourceCs, customers);
        using var workloadCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var workloadTask = workload.RunAsync(rate, workloadCts.Token);
        var until = DateTime.UtcNow + duration;
        while (DateTime.UtcNow < until && !ct.IsCancellationRequested)
        {
            await Task.Delay(1000, ct);
            await PrintProgressAsync(options, workload, ct);
        }

        await workloadCts.CancelAsync();
        try
        {
            await workloadTask;
        }
        catch (OperationCanceledException)
        {
        }

        Console.WriteLine($"demo: workload stopped after {workload.Transactions} transactions; draining...");
        var drained = await PipelineProgress.WaitForDrainAsync(options, TimeSpan.FromSeconds(120), ct);
        await PrintProgressAsync(options, workload, ct);
        var report = await new CountReconciler(options).RunAsync(ct);
        await report.WriteAsync(outDir, ct);
        Operations.Status.ReconciliationMetrics.Record(report);
        await Operations.Notifications.NotificationsSetup.PublishReconciliationAsync(app.Services, report, Path.Combine(Path.GetFullPath(outDir), "reconciliation.json"), ct);
        await app.StopAsync(CancellationToken.None);
        Console.WriteLine();
        ReconcileCommand.Print(report);
        Console.WriteLine($"demo: report written to {Path.Combine(Path.GetFullPath(outDir), "reconciliation.json")} ({total.Elapsed.TotalSeconds:0} s in all)");
        if (!drained)
        {
            Console.WriteLine("demo: the pipeline did not drain within 120 s");
            return 1;
        }

        return report.Verdict == Verdict.Clean ? 0 : 1;
    }

    private static async Task PrintProgressAsync(PipelineOptions options, SampleWorkload workload, CancellationToken ct)
    {
        var sources = await PipelineProgress.SourcePositionsAsync(options, ct);
        var applied = await PipelineProgress.AppliedAsync(options, ct);
        var lag = sources.Sum(s => (double)Contracts.Lsn.Distance(s.Value, applied.TryGetValue(s.Key, out var a) ? a.EndLsn : Contracts.Lsn.Zero));
        var captured = CaptureMetrics.Events.GetAllLabelValues().Sum(l => CaptureMetrics.Events.WithLabels(l).Value);
        var appliedTx = SinkMetrics.Transactions.GetAllLabelValues().Sum(l => SinkMetrics.Transactions.WithLabels(l).Value);
        Console.WriteLine($"progress: source tx {workload.Transactions,7} | captured events {captured,8:0} | applied tx {appliedTx,7:0} | lag {lag / 1024,8:0.0} KiB");
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
