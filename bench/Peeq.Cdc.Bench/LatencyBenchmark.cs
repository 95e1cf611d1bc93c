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

        // The load: transaction i is due at start + i / rate; a few connections share the schedule.
        var total = seconds * rate;
        var next = 0;
        var sw = Stopwatch.StartNew();
        var late = 0L;
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
                else if (wait < TimeSpan.FromMilliseconds(-50))
                {
                    Interlocked.Increment(ref late);
                }

                id.TypedValue = i;
                await cmd.ExecuteNonQueryAsync();
            }
        }));
        var writeSeconds = sw.Elapsed.TotalSeconds;
        var endLsn = await BenchRig.Scalar<string>(rig.SourceCs, "SELECT pg_current_wal_lsn()::text");
        await rig.WaitAppliedAsync(Lsn.Parse(endLsn), TimeSpan.FromMinutes(5));
        var peak = BenchRig.PeakRssBytes();
        await app.StopAsync();
        await app.DisposeAsync();

        var source = await CommitTimesAsync(rig.SourceCs);
        var target = await CommitTimesAsync(rig.TargetCs);
        var latencies = source.Where(kv => target.ContainsKey(kv.Key))
            .Select(kv => (target[kv.Key] - kv.Value).TotalMilliseconds)
            .Order()
            .ToArray();
        if (latencies.Length != total)
        {
            throw new InvalidOperationException($"the target holds {latencies.Length} of {total} rows");
        }

        return new LatencyBenchResult(total, rate, total / writeSeconds, late, Percentile(latencies, 0.50), Percentile(latencies, 0.99), latencies[^1],
            latencies.Average(), peak);
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

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

public sealed record LatencyBenchResult(int Transactions, int TargetRate, double AchievedRate, long LateTransactions, double P50Ms, double P99Ms, double MaxMs, double MeanMs, long PeakRssBytes);
