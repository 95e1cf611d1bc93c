using System.Diagnostics;
using System.Security.Cryptography;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;
using static Peeq.Cdc.Bench.BenchRig;

namespace Peeq.Cdc.Bench;

/// <summary>
/// Each worker's memory against transaction size, the way they run in production: <c>peeq-cdc capture</c>,
/// <c>transform</c> and <c>sink</c> as three child processes, each with its own peak RSS (the kernel's
/// <c>VmHWM</c> of that process), the embedded broker in the bench process and reported on its own. The same
/// pipeline runs three times, on fresh sources: one 10-row source transaction, one of N/10 rows and one of N
/// rows (default 1,000,000); each committed after the workers have started and drained their (empty)
/// snapshot, each ends when the target has applied it. The target: every worker's peak with the
/// N-row transaction within 1.5× of its peak with the 10-row one. The N/10 run shows whether what a worker
/// holds beyond its idle size still grows with the transaction (it should not: N vs N/10 near 1×) or is a
/// fixed working set (buffers, batches, the broker client's queues). A fourth run preloads N rows, so they
/// arrive as the table's initial snapshot: each worker's peak against the table's size (the issue's "bounded
/// independently of transaction and table size"). Every run also records the CPU time of every process — the
/// three workers, the bench process (broker), both servers — so the table says where the 2 cores went.
/// </summary>
public sealed class MemoryBenchmark(int rows)
{
    private static readonly string[] Stages = ["capture", "transform", "sink"];

    public const int SmallRows = 10;

    public async Task<MemoryBenchResult> RunAsync()
    {
        await using var legacy = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "bench-memory-legacy" });
        await using var targetPg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "bench-memory-target" });
        using var kafka = EmbeddedKafka.Start();
        var work = Path.Combine(Path.GetTempPath(), $"peeq-bench-memory-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        var small = await RunOnceAsync(legacy, targetPg, kafka, "small", SmallRows, work);
        var middle = await RunOnceAsync(legacy, targetPg, kafka, "middle", Math.Max(SmallRows, rows / 10), work);
        var large = await RunOnceAsync(legacy, targetPg, kafka, "large", rows, work);
        var snapshot = await RunOnceAsync(legacy, targetPg, kafka, "snapshot", rows, work, small.StartupCpuSeconds);
        return new MemoryBenchResult(rows, small, middle, large, snapshot);
    }

    /// <summary>
    /// One run on fresh databases. With <paramref name="startupCpu"/> (the small run's start-up CPU by process) the
    /// <paramref name="rows"/> are in the table before the workers start, so they arrive as its initial snapshot; the
    /// run ends when the Sink records the snapshot done, and its CPU is the start-up's excess over the small run's.
    /// Otherwise they are one source transaction committed once the workers have drained.
    /// </summary>
    private static async Task<MemoryRun> RunOnceAsync(EmbeddedPostgres legacy, EmbeddedPostgres targetPg, EmbeddedKafka kafka, string name, int rows, string work,
        IReadOnlyDictionary<string, double>? startupCpu = null)
    {
        var snapshot = startupCpu is not null;
        var sourceCs = await legacy.CreateDatabaseAsync("memory_" + name);
        var targetCs = await targetPg.CreateDatabaseAsync("memory_" + name + "_target");
        await Exec(sourceCs, Table);
        if (snapshot)
        {
            await Exec(sourceCs, InsertRows(rows));
        }

        var source = "memory_" + name;
        var options = RowsPipeline(kafka.BootstrapServers, "bench-memory-" + name, source, sourceCs, targetCs);
        var dir = Path.Combine(work, name);
        Directory.CreateDirectory(dir);
        var configPath = Path.Combine(dir, "peeq-cdc.yaml");
        await WorkerProcess.WriteConfigAsync(options, configPath);
        await Kafka.PipelineTopics.EnsureAllAsync(kafka, options, CancellationToken.None);
        var sealKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

        GC.Collect();
        ResetPeakRss();
        var start = Cpu(legacy, targetPg);
        var workers = Stages.ToDictionary(s => s, s => WorkerProcess.Start(s, configPath, sealKey, dir));
        try
        {
            var clock = Stopwatch.StartNew();
            if (snapshot)
            {
                await WaitAsync(name, rows, workers, dir, () => SnapshotDoneAsync(targetCs, source));
            }

            if (!await PipelineProgress.WaitForDrainAsync(options, TimeSpan.FromMinutes(2), CancellationToken.None))
            {
                throw new InvalidOperationException($"memory bench ({name}): the pipeline did not start and drain within 2 minutes (worker logs in {dir})");
            }

            var drained = Cpu(legacy, targetPg, workers);
            var startup = drained.ToDictionary(c => c.Key, c => (c.Value - start.GetValueOrDefault(c.Key)).TotalSeconds);
            if (snapshot)
            {
                clock.Stop();
                var used = startup.ToDictionary(c => c.Key, c => Math.Max(0, c.Value - startupCpu![c.Key]));
                var snapPeaks = Stages.ToDictionary(s => s, s => workers[s].PeakRssBytes() ?? 0);
                var loaded = await Scalar<long>(targetCs, "SELECT count(*) FROM rows");
                Console.Error.WriteLine($"bench: memory ({rows:N0}-row initial snapshot) done in {clock.Elapsed.TotalSeconds:0.0} s; peak RSS MiB "
                    + string.Join(", ", Stages.Select(s => $"{s} {snapPeaks[s] / 1048576.0:0}")) + $"; CPU seconds beyond the small run's start-up: "
                    + string.Join(", ", used.Select(c => $"{c.Key} {c.Value:0.00}")));
                return new MemoryRun(rows, clock.Elapsed.TotalSeconds, snapPeaks, snapPeaks, PeakRssBytes(), loaded == rows, used, startup);
            }

            var idle = Stages.ToDictionary(s => s, s => workers[s].PeakRssBytes() ?? 0);
            var cpu0 = drained;
            clock.Restart();
            await Exec(sourceCs, InsertRows(rows));
            var goal = Lsn.Parse(await Scalar<string>(sourceCs, "SELECT pg_current_wal_lsn()::text"));
            await WaitAsync(name, rows, workers, dir, async () =>
                (await PipelineProgress.AppliedAsync(options, CancellationToken.None)).TryGetValue(source, out var a) && a.EndLsn >= goal);
            clock.Stop();
            var cpu1 = Cpu(legacy, targetPg, workers);
            var cpu = cpu1.ToDictionary(c => c.Key, c => (cpu1[c.Key] - cpu0[c.Key]).TotalSeconds);
            var peaks = Stages.ToDictionary(s => s, s => workers[s].PeakRssBytes() ?? 0);
            var count = await Scalar<long>(targetCs, "SELECT count(*) FROM rows");
            Console.Error.WriteLine($"bench: memory ({rows:N0}-row transaction) applied in {clock.Elapsed.TotalSeconds:0.0} s; peak RSS MiB "
                + string.Join(", ", Stages.Select(s => $"{s} {peaks[s] / 1048576.0:0}")) + $", broker (bench process) {PeakRssBytes() / 1048576.0:0}");
            Console.Error.WriteLine($"bench: memory ({rows:N0}-row transaction) CPU seconds from commit to applied: "
                + string.Join(", ", cpu.Select(c => $"{c.Key} {c.Value:0.00}")));
            return new MemoryRun(rows, clock.Elapsed.TotalSeconds, idle, peaks, PeakRssBytes(), count == rows, cpu, startup);
        }
        finally
        {
            foreach (var w in workers.Values)
            {
                w.Kill9();
            }
        }
    }

    /// <summary>Waits up to 30 minutes for <paramref name="done"/>, failing at once if a worker exits.</summary>
    private static async Task WaitAsync(string name, int rows, Dictionary<string, WorkerProcess> workers, string dir, Func<Task<bool>> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(30);
        while (!await done())
        {
            if (workers.FirstOrDefault(w => w.Value.HasExited) is { Value: not null } dead)
            {
                throw new InvalidOperationException($"memory bench ({name}): {dead.Key} exited with code {dead.Value.ExitCode} (log in {dir})");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"memory bench ({name}): {rows:N0} rows were not applied within 30 minutes (worker logs in {dir})");
            }

            await Task.Delay(100);
        }
    }

    private static async Task<bool> SnapshotDoneAsync(string targetCs, string source)
    {
        try
        {
            return await Scalar<object>(targetCs,
                $"SELECT count(*) FILTER (WHERE snapshot_state = 'done') = 1 AND count(*) = 1 FROM peeq_cdc.source_table_state WHERE source = '{source}'") is true;
        }
        catch (Npgsql.PostgresException e) when (e.SqlState == Npgsql.PostgresErrorCodes.UndefinedTable)
        {
            return false;
        }
    }

    /// <summary>
    /// CPU time so far of every process the pipeline runs on: the three workers, the bench process (the embedded broker,
    /// plus this benchmark's progress polling), the source and the target PostgreSQL server.
    /// </summary>
    private static Dictionary<string, TimeSpan> Cpu(EmbeddedPostgres legacy, EmbeddedPostgres targetPg, Dictionary<string, WorkerProcess>? workers = null)
    {
        var cpu = workers is null ? [] : Stages.ToDictionary(s => s, s => workers[s].CpuTime()
            ?? throw new InvalidOperationException($"memory bench: the {s} worker exited (code {workers[s].ExitCode})"));
        cpu["broker"] = Process.GetCurrentProcess().TotalProcessorTime;
        cpu["source server"] = ProcessCpu.Server(legacy.DataDirectory);
        cpu["target server"] = ProcessCpu.Server(targetPg.DataDirectory);
        return cpu;
    }
}

/// <summary>
/// One run: each worker's peak RSS after start-up (idle) and after the transaction was applied, and the CPU seconds
/// each process spent from the transaction's commit until the target applied it.
/// </summary>
public sealed record MemoryRun(int Rows, double Seconds, IReadOnlyDictionary<string, long> IdlePeakRss, IReadOnlyDictionary<string, long> PeakRss,
    long BrokerPeakRss, bool TargetComplete, IReadOnlyDictionary<string, double> CpuSeconds, IReadOnlyDictionary<string, double> StartupCpuSeconds);

public sealed record MemoryBenchResult(int Rows, MemoryRun Small, MemoryRun Middle, MemoryRun Large, MemoryRun Snapshot)
{
    /// <summary>Each worker's peak during an N-row table's initial snapshot over its peak with the small transaction.</summary>
    public IReadOnlyDictionary<string, double> SnapshotRatios => Small.PeakRss.Keys.ToDictionary(s => s, s => (double)Snapshot.PeakRss[s] / Math.Max(1, Small.PeakRss[s]));

    /// <summary>Each worker's peak with the large transaction over its peak with the small one.</summary>
    public IReadOnlyDictionary<string, double> Ratios => Small.PeakRss.Keys.ToDictionary(s => s, s => (double)Large.PeakRss[s] / Math.Max(1, Small.PeakRss[s]));

    /// <summary>Each worker's peak with the large transaction over its peak with one a tenth of its size.</summary>
    public IReadOnlyDictionary<string, double> GrowthRatios => Small.PeakRss.Keys.ToDictionary(s => s, s => (double)Large.PeakRss[s] / Math.Max(1, Middle.PeakRss[s]));

    public bool Bounded => Ratios.Values.All(r => r <= 1.5) && SnapshotRatios.Values.All(r => r <= 1.5);
}
