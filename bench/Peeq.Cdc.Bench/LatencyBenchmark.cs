using System.Diagnostics;
using Npgsql;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Bench;

/// <summary>
/// Latency from source commit to target commit at a steady rate: single-row insert transactions at
/// <c>rate</c> per second for <c>seconds</c>, with the whole pipeline running. Both servers track commit
/// timestamps, so each row's latency is the target transaction's commit time minus the source
/// transaction's commit time, read from the servers (same machine, same clock) after the run.
/// </summary>
public sealed class LatencyBenchmark(int seconds, int rate = 1000)
{
    private const int Writers = 4;

    public async Task<LatencyBenchResult> RunAsync()
    {
        await using var rig = await BenchRig.StartAsync("latency");
        await rig.PrepareAsync();
        BenchRig.ResetPeakRss();
        var app = await rig.StartPipelineAsync(Stages.All);
        await Peeq.Cdc.Postgres.PipelineProgress.WaitForDrainAsync(rig.Options, TimeSpan.FromSeconds(60), CancellationToken.None);

        // The load: transaction i is due at start + i / rate; a few connections share the schedule. The first
        // WarmupSeconds of it are not counted: a freshly started pipeline (JIT tier-up, connections, staging
        // tables, the first batches) falls behind and then catches up at its spare rate, which at 1,000 tx/s
        // on a shared 2-core machine takes seconds; the figure is the steady state. The table also gives the
        // figures with the warm-up included.
        var warmup = WarmupSeconds(seconds) * rate;
        var total = warmup + seconds * rate;
        var next = 0;
        var sw = Stopwatch.StartNew();
        var late = 0L;
        var roundTrips = new System.Collections.Concurrent.ConcurrentBag<double>();
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(async _ =>
        {
            await using var conn = new NpgsqlConnection(rig.SourceCs);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("INSERT INTO rows VALUES (@id, md5(@id::text)::uuid, 1.00, 'latency', clock_timestamp())", conn);
            var id = new NpgsqlParameter<long>("id", NpgsqlTypes.NpgsqlDbType.Bigint);
            cmd.Parameters.Add(id);
            await cmd.PrepareAsync();
            while (true)
            {
                var i = Interlocked.Increment(ref next);
                if (i > total)
                {
                    return;
                }

                var due = TimeSpan.FromSeconds((i - 1) / (double)rate);
                var wait = due - sw.Elapsed;
                if (wait > TimeSpan.FromMilliseconds(1))
                {
                    await Task.Delay(wait);
                }
                else if (wait < TimeSpan.FromMilliseconds(-50) && i > warmup)
                {
                    Interlocked.Increment(ref late);
                }

                id.TypedValue = i;
                var started = Stopwatch.GetTimestamp();
                await cmd.ExecuteNonQueryAsync();
                if (i > warmup)
                {
                    roundTrips.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }
        }));
        var writeSeconds = sw.Elapsed.TotalSeconds - WarmupSeconds(seconds);
        var endLsn = await BenchRig.Scalar<string>(rig.SourceCs, "SELECT pg_current_wal_lsn()::text");
        await rig.WaitAppliedAsync(Lsn.Parse(endLsn), TimeSpan.FromMinutes(5));
        var peak = BenchRig.PeakRssBytes();
        await app.StopAsync();
        await app.DisposeAsync();

        var source = await CommitTimesAsync(rig.SourceCs);
        var target = await CommitTimesAsync(rig.TargetCs);
        var measured = source.Where(kv => kv.Key > warmup).ToDictionary(kv => kv.Key, kv => kv.Value);
        var stages = await StageBreakdown.MeasureAsync(rig, measured);
        await StatementProfile.ReportAsync(rig.TargetCs, TimeSpan.FromSeconds(writeSeconds), rig.TargetServer.LogFile);
        PrintSeries(source, target);
        var inserts = roundTrips.Order().ToArray();
        double[] Latencies(Dictionary<long, DateTime> of) => of.Where(kv => target.ContainsKey(kv.Key))
            .Select(kv => (target[kv.Key] - kv.Value).TotalMilliseconds)
            .Order()
            .ToArray();
        var all = Latencies(source);
        if (all.Length != total)
        {
            throw new InvalidOperationException($"the target holds {all.Length} of {total} rows");
        }

        var latencies = Latencies(measured);
        var count = total - warmup;
        return new LatencyBenchResult(count, rate, count / writeSeconds, late, Percentile(latencies, 0.50), Percentile(latencies, 0.99), latencies[^1],
            latencies.Average(), peak)
        {
            WarmupSeconds = WarmupSeconds(seconds),
            WithWarmupP50Ms = Percentile(all, 0.50),
            WithWarmupP99Ms = Percentile(all, 0.99),
            WithWarmupMaxMs = all[^1],
            InsertP50Ms = Percentile(inserts, 0.50),
            InsertP99Ms = Percentile(inserts, 0.99),
            Stages = stages,
        };
    }

    /// <summary>Seconds of load before the measured period: half the measured time, 3 to 10 (<c>PEEQ_BENCH_WARMUP</c> seconds when set, 0 to compare with runs that had none).</summary>
    public static int WarmupSeconds(int seconds) =>
        int.TryParse(Environment.GetEnvironmentVariable("PEEQ_BENCH_WARMUP"), System.Globalization.CultureInfo.InvariantCulture, out var w) && w >= 0
            ? w
            : Math.Clamp(seconds / 2, 3, 10);

    /// <summary>Latency by second of the run (stderr): whether the tail comes from a warm-up, a pause, or the whole run.</summary>
    private static void PrintSeries(Dictionary<long, DateTime> source, Dictionary<long, DateTime> target)
    {
        if (source.Count == 0)
        {
            return;
        }

        var start = source.Values.Min();
        foreach (var second in source.Where(kv => target.ContainsKey(kv.Key))
            .GroupBy(kv => (int)(kv.Value - start).TotalSeconds, kv => (target[kv.Key] - kv.Value).TotalMilliseconds)
            .OrderBy(g => g.Key))
        {
            var sorted = second.Order().ToArray();
            Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"bench: latency second {second.Key,3}: {sorted.Length,5} tx, p50 {Percentile(sorted, 0.5),7:0.0} ms, p99 {Percentile(sorted, 0.99),7:0.0} ms, max {sorted[^1],7:0.0} ms"));
        }
    }

    internal static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static async Task<Dictionary<long, DateTime>> CommitTimesAsync(string cs)
    {
        var result = new Dictionary<long, DateTime>();
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT id, pg_xact_commit_timestamp(xmin) FROM rows", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            result[r.GetInt64(0)] = r.GetFieldValue<DateTime>(1);
        }

        return result;
    }
}

public sealed record LatencyBenchResult(int Transactions, int TargetRate, double AchievedRate, long LateTransactions, double P50Ms, double P99Ms, double MaxMs, double MeanMs, long PeakRssBytes)
{
    /// <summary>Seconds of the same load before the measured period (not counted), and the figures with them counted.</summary>
    public int WarmupSeconds { get; init; }

    public double WithWarmupP50Ms { get; init; }

    public double WithWarmupP99Ms { get; init; }

    public double WithWarmupMaxMs { get; init; }

    /// <summary>The load generator's own INSERT round trip (its commit included), p50 and p99.</summary>
    public double InsertP50Ms { get; init; }

    public double InsertP99Ms { get; init; }

    /// <summary>Where the latency goes, stage by stage (null when it could not be measured).</summary>
    public StageBreakdown? Stages { get; init; }
}
