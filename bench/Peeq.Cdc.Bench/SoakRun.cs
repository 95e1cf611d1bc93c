using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Peeq.Cdc.Capture;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Workload;
using Peeq.Cdc.Workload.Live;
using Peeq.Cdc.Workload.Seeding;

namespace Peeq.Cdc.Bench;

/// <summary>
/// <c>bench/soak [minutes]</c>: the demo's world (the 22 legacy databases seeded, identity-mapped into the 6
/// targets) with <c>peeq-cdc capture</c>, <c>transform</c> and <c>sink</c> as three child processes and the
/// live workload writing for <c>minutes</c> (default 10); every 30 s one worker, picked at random, is killed
/// with SIGKILL and started again. Then the workload stops, the pipeline drains, and the reconciler runs:
/// zero rows lost, zero duplicated, its verdict clean. The result goes to bench/results/.
/// </summary>
public static class SoakRun
{
    private static readonly string[] Workers = ["capture", "transform", "sink"];

    public static async Task<int> RunAsync(string[] args)
    {
        var minutes = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        var resultsDir = args.Length > 1 ? args[1] : Path.Combine("bench", "results");
        var killEvery = TimeSpan.FromSeconds(Env("PEEQ_SOAK_KILL_EVERY", 30));
        var rate = Env("PEEQ_SOAK_RATE", 50);
        var scale = Env("PEEQ_SOAK_SCALE", 0.01);
        var seed = (long)Env("PEEQ_SOAK_SEED", 1);
        var stamp = DateTime.UtcNow.ToString("yyyy-MM-dd-HHmm", CultureInfo.InvariantCulture);
        var work = Path.Combine(Path.GetTempPath(), $"peeq-soak-{stamp}-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        Directory.CreateDirectory(resultsDir);
        var total = Stopwatch.StartNew();
        Console.WriteLine($"soak: {minutes} min, a random worker killed every {killEvery.TotalSeconds:0} s, workload {rate} ops/s, seed-data scale {scale}; work dir {work}");

        await using var legacy = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "soak-legacy" });
        await using var targetPg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "soak-target" });
        using var kafka = EmbeddedKafka.Start();
        var world = LegacyWorld.OnOneServer(legacy.ConnectionString());
        var seeded = await new LegacySeeder(world, new SeedOptions { Scale = scale, Seed = seed, Recreate = true }, progressOutput: null).RunAsync(CancellationToken.None);
        Console.WriteLine($"soak: seeded {seeded.TotalRows:N0} rows in {seeded.Databases.Count} databases");

        var targets = new List<TargetOptions>();
        foreach (var domain in LegacyCatalog.Domains)
        {
            targets.Add(new TargetOptions { Name = "peeq_" + domain, ConnectionString = await targetPg.CreateDatabaseAsync("peeq_" + domain) });
        }

        var options = new PipelineOptions
        {
            Kafka = new KafkaOptions { BootstrapServers = kafka.BootstrapServers, TopicPrefix = "peeq-soak" },
            Sources = world.Databases.Select(db => new SourceOptions
            {
                Name = db.Key,
                ConnectionString = world.ConnectionString(db),
                Target = db.TargetDatabase,
                TargetSchema = db.DatabaseName(world.Prefix),
                Tables = [.. db.Tables],
                FinancialTables = [.. db.FinancialTables],
                SensitiveColumns = [.. db.SensitiveColumns],
            }).ToList(),
            Targets = targets,
            Capture = new CaptureOptions { HeartbeatInterval = TimeSpan.FromSeconds(1), AckInterval = TimeSpan.FromMilliseconds(100) },
            Http = new HttpOptions { Urls = "" },
        };
        var configPath = Path.Combine(work, "peeq-cdc.yaml");
        await WorkerProcess.WriteConfigAsync(options, configPath);
        await Kafka.PipelineTopics.EnsureAllAsync(kafka, options, CancellationToken.None);
        // Capture seals, the Sink unseals: both processes need the same key (it lives as long as the soak).
        var sealKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

        var running = Workers.ToDictionary(w => w, w => WorkerProcess.Start(w, configPath, sealKey, work));
        var kills = new List<KillRecord>();
        var random = new Random((int)seed);
        var workload = new LegacyWorkload(world, new WorkloadOptions { Seed = seed, Rate = rate });
        using var stopWorkload = new CancellationTokenSource();
        var workloadTask = workload.RunAsync(stopWorkload.Token);
        var until = DateTime.UtcNow + TimeSpan.FromMinutes(minutes);
        var nextKill = DateTime.UtcNow + killEvery;
        while (DateTime.UtcNow < until && !workloadTask.IsCompleted)
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            foreach (var (name, w) in running.ToList())
            {
                if (w.HasExited)
                {
                    // A worker that stopped on its own is a finding: recorded, and started again.
                    Console.WriteLine($"soak: {name} exited by itself (code {w.ExitCode}); restarting");
                    kills.Add(new KillRecord(Math.Round(total.Elapsed.TotalSeconds), name, "exited by itself", w.ExitCode));
                    running[name] = WorkerProcess.Start(name, configPath, sealKey, work);
                }
            }

            if (DateTime.UtcNow >= nextKill)
            {
                nextKill = DateTime.UtcNow + killEvery;
                var victim = Workers[random.Next(Workers.Length)];
                running[victim].Kill9();
                kills.Add(new KillRecord(Math.Round(total.Elapsed.TotalSeconds), victim, "SIGKILL", null));
                Console.WriteLine($"soak: {total.Elapsed:mm\\:ss} killed {victim} with SIGKILL (kill {kills.Count(k => k.How == "SIGKILL")}); workload at {workload.Operations:N0} operations");
                running[victim] = WorkerProcess.Start(victim, configPath, sealKey, work);
            }
        }

        await stopWorkload.CancelAsync();
        var done = await workloadTask;
        await workload.DisposeAsync();
        Console.WriteLine($"soak: workload stopped after {done.Operations:N0} operations; draining...");
        var drainClock = Stopwatch.StartNew();
        var drained = await PipelineProgress.WaitForDrainAsync(options, TimeSpan.FromMinutes(5), CancellationToken.None);
        var drainSeconds = drainClock.Elapsed.TotalSeconds;
        var config = PipelineConfig.FromOptions(options);
        var reportDir = Path.Combine(work, "reconciliation");
        var report = await ReconcileRunner.RunAsync(config, Mappings.Load(config), reportDir, NullLogger.Instance, CancellationToken.None);
        foreach (var w in running.Values)
        {
            w.Kill9();
        }

        var result = SoakResult.From(minutes, killEvery, rate, scale, seed, done, kills, drained, drainSeconds, report, total.Elapsed);
        var md = result.Markdown();
        Console.WriteLine(md);
        await File.WriteAllTextAsync(Path.Combine(resultsDir, $"{stamp}-soak.md"), md + "\n");
        await File.WriteAllTextAsync(Path.Combine(resultsDir, $"{stamp}-soak.json"), JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"soak: results in {Path.Combine(resultsDir, stamp)}-soak.md/.json; reconciliation report and worker logs in {work}");
        return result.Passed ? 0 : 1;
    }

    private static double Env(string name, double fallback) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
}

public sealed record KillRecord(double AtSeconds, string Worker, string How, int? ExitCode);

/// <summary>What a soak run found: lost and duplicated rows come from the reconciler's per-mapping counts and checksums.</summary>
public sealed record SoakResult(
    double Minutes,
    double KillEverySeconds,
    double Rate,
    double Scale,
    long Seed,
    long Operations,
    long Transactions,
    IReadOnlyList<KillRecord> Kills,
    bool Drained,
    double DrainSeconds,
    string Verdict,
    string ReconcilerSummary,
    int TablePairs,
    int TablePairsClean,
    long RowsExpected,
    long RowsInTarget,
    long RowsLost,
    long RowsDuplicated,
    long RowsChanged,
    long Unresolved,
    long Parked,
    IReadOnlyList<string> ParkedReasons,
    IReadOnlyList<string> Errors,
    double TotalSeconds)
{
    /// <summary>Zero lost, zero duplicated, zero changed, drained, and the reconciler's verdict clean.</summary>
    public bool Passed => Drained && RowsLost == 0 && RowsDuplicated == 0 && RowsChanged == 0 && Verdict == nameof(Reconciler.Reports.Verdict.Clean);

    public static SoakResult From(double minutes, TimeSpan killEvery, double rate, double scale, long seed, WorkloadSummary done, List<KillRecord> kills,
        bool drained, double drainSeconds, ReconciliationReport report, TimeSpan total)
    {
        // Lost: a key the source has and the target lacks, or fewer rows than the source (append-only tables
        // are compared by count); duplicated: a key the target has that the source does not, or more rows.
        var lost = report.Checksums.Sum(c => c.Missing) + report.Counts.Where(c => !report.Checksums.Any(k => Same(k, c))).Sum(c => Math.Max(0, c.SourceRows - c.TargetRows));
        var duplicated = report.Checksums.Sum(c => c.Extra) + report.Counts.Where(c => !report.Checksums.Any(k => Same(k, c))).Sum(c => Math.Max(0, c.TargetRows - c.SourceRows));
        return new SoakResult(minutes, killEvery.TotalSeconds, rate, scale, seed, done.Operations, done.TransactionsByDatabase.Values.Sum(), kills, drained,
            Math.Round(drainSeconds, 1), report.Verdict.ToString(), report.Summary, report.Totals.TablePairs, report.Totals.TablePairsClean,
            report.Totals.RowsExpected, report.Totals.RowsInTarget, lost, duplicated, report.Checksums.Sum(c => c.Changed), report.Totals.Unresolved,
            report.Totals.Parked, report.Parked.Select(p => $"{p.Source}.{p.SourceTable}: {p.Reason}").Distinct().Take(20).ToList(), report.Errors,
            Math.Round(total.TotalSeconds));
    }

    private static bool Same(ChecksumCheck k, CountCheck c) =>
        k.Source == c.Source && k.SourceTable == c.SourceTable && k.Target == c.Target && k.TargetTable == c.TargetTable;

    public string Markdown() => $"""
        # Soak, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC: {(Passed ? "PASSED" : "FAILED")}

        The 22 legacy databases (seed-data scale {Scale}, seed {Seed}) identity-mapped into the 6 targets; `peeq-cdc capture`,
        `transform` and `sink` as three child processes; the live workload at {Rate} operations/s for {Minutes} min with one
        worker, picked at random, killed with SIGKILL and restarted every {KillEverySeconds:0} s; then the workload stopped, the
        pipeline drained and the reconciler compared every table pair. {Environment.ProcessorCount} cores, shared; load average
        at the end {LoadAverage()}.

        | figure | value |
        |---|---|
        | workload operations / transactions | {Operations:N0} / {Transactions:N0} |
        | workers killed with SIGKILL (capture / transform / sink) | {Kills.Count(k => k.How == "SIGKILL")} ({Kills.Count(k => k.How == "SIGKILL" && k.Worker == "capture")} / {Kills.Count(k => k.How == "SIGKILL" && k.Worker == "transform")} / {Kills.Count(k => k.How == "SIGKILL" && k.Worker == "sink")}) |
        | workers that exited by themselves | {Kills.Count(k => k.How != "SIGKILL")} |
        | drained after the workload stopped | {(Drained ? "yes" : "NO")}, {DrainSeconds:0.0} s |
        | table pairs clean | {TablePairsClean} / {TablePairs} |
        | rows expected / in target | {RowsExpected:N0} / {RowsInTarget:N0} |
        | rows lost{(Drained ? "" : " (rows missing from the target; the run did not drain, so this is not a loss count)")} | {RowsLost} |
        | rows duplicated | {RowsDuplicated} |
        | rows with a changed value | {RowsChanged} |
        | unresolved / parked | {Unresolved} / {Parked} |
        | reconciler verdict | {Verdict} |
        | reconciler summary | {ReconcilerSummary} |
        | total time | {TotalSeconds:0} s |
        {(ParkedReasons.Count > 0 ? "\nParked (source table: reason):\n" + string.Join("\n", ParkedReasons.Select(r => "- " + r)) : "")}
        {(Errors.Count > 0 ? "\nReconciler errors:\n" + string.Join("\n", Errors.Select(e => "- " + e)) : "")}
        """;

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
