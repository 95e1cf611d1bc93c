using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Capture;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;
using static Peeq.Cdc.Bench.BenchRig;

namespace Peeq.Cdc.Bench;

/// <summary>
/// One source transaction of N rows (default 1,000,000) committed while the pipeline is stopped, then
/// timed from start until the target has applied it. What it shows is memory: Capture produces the
/// transaction row by row inside its in-flight window, so the process's peak RSS and Capture's peak
/// in-flight bytes stay bounded whatever N is. Baseline in the same run: pg_recvlogical decoding the
/// same WAL with pgoutput and the same publication.
/// </summary>
public sealed class LargeTransactionBenchmark(int rows)
{
    public async Task<LargeTransactionBenchResult> RunAsync()
    {
        await using var legacy = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "bench-capture-legacy" });
        await using var targetPg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "bench-capture-target" });
        using var kafka = EmbeddedKafka.Start();
        var sourceCs = await legacy.CreateDatabaseAsync("bench");
        var targetCs = await targetPg.CreateDatabaseAsync("bench_target");
        await Exec(sourceCs, Table);
        var options = RowsPipeline(kafka.BootstrapServers, "bench", "bigtx", sourceCs, targetCs);
        var config = PipelineConfig.FromOptions(options);

        var app = PipelineHost.Build(config, kafka.Endpoint, Stages.All, null, LogLevel.Warning);
        await app.StartAsync();
        await PipelineProgress.WaitForDrainAsync(options, TimeSpan.FromSeconds(60), CancellationToken.None);
        await app.StopAsync();
        await app.DisposeAsync();
        await MockGroupsSettledAsync();
        await Exec(sourceCs, "SELECT pg_create_logical_replication_slot('bench_recvlogical', 'pgoutput')");

        var sw = Stopwatch.StartNew();
        await Exec(sourceCs, InsertRows(rows));
        var endLsn = await Scalar<string>(sourceCs, "SELECT pg_current_wal_lsn()::text");
        Console.Error.WriteLine($"bench: one transaction of {rows} rows committed in {sw.Elapsed.TotalSeconds:0.0} s; WAL end {endLsn}");

        var recv = Stopwatch.StartNew();
        await RunProcessAsync(Path.Combine(legacy.BinDirectory, "pg_recvlogical"),
            "-h", legacy.Host, "-p", legacy.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres", "-d", "bench",
            "--slot", "bench_recvlogical", "--start", "--endpos", endLsn, "--no-loop",
            "-o", "proto_version=1", "-o", "publication_names=peeq_cdc_bigtx", "-f", "/dev/null");
        recv.Stop();
        await Exec(sourceCs, "SELECT pg_drop_replication_slot('bench_recvlogical')");

        GC.Collect();
        ResetPeakRss();
        var rssBefore = CurrentRssBytes();
        var peakBefore = PeakRssBytes();
        var pipe = Stopwatch.StartNew();
        app = PipelineHost.Build(config, kafka.Endpoint, Stages.All, null, LogLevel.Warning);
        await app.StartAsync();
        var goal = Lsn.Parse(endLsn);
        while (true)
        {
            var applied = await PipelineProgress.AppliedAsync(options, CancellationToken.None);
            if (applied.TryGetValue("bigtx", out var a) && a.EndLsn >= goal)
            {
                break;
            }

            await Task.Delay(50);
        }

        pipe.Stop();
        await app.StopAsync();
        await app.DisposeAsync();
        var peak = PeakRssBytes();
        var inFlightPeak = (long)CaptureMetrics.InFlightPeakBytes.WithLabels("bigtx").Value;
        var produced = (long)CaptureMetrics.Bytes.WithLabels("bigtx").Value;
        var count = await Scalar<long>(targetCs, "SELECT count(*) FROM rows");
        var equal = count == rows && await Scalar<long>(targetCs, $"SELECT count(*) FROM rows WHERE id BETWEEN 1 AND {rows} AND note = 'row ' || id") == rows;
        return new LargeTransactionBenchResult(rows, pipe.Elapsed, recv.Elapsed, produced, inFlightPeak, options.Capture.InFlightBytes, rssBefore, peakBefore, peak, equal);
    }

    private static long CurrentRssBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }
}

public sealed record LargeTransactionBenchResult(int Rows, TimeSpan Pipeline, TimeSpan RecvLogical, long ProducedBytes, long InFlightPeakBytes, long InFlightLimitBytes,
    long RssBeforePipeline, long PeakRssBeforePipeline, long PeakRss, bool TargetComplete)
{
    public double PipelineRowsPerSecond => Rows / Pipeline.TotalSeconds;

    public double Ratio => Pipeline.TotalSeconds / RecvLogical.TotalSeconds;
}
