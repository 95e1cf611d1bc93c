using System.Diagnostics;
using Peeq.Cdc.Capture;
using Peeq.Cdc.Cli.Hosting;

namespace Peeq.Cdc.Bench;

/// <summary>
/// Capture alone against pg_recvlogical on the same WAL: N row changes (half inserts, half updates, in
/// transactions of 1–100 rows) committed while nothing runs; then pg_recvlogical decodes them from its own
/// pgoutput slot with the pipeline's publication, and Capture (the only stage running, its in-flight
/// window opened wide because no Sink drains it) turns them into raw events on the broker. Capture is
/// timed from start until it has produced the commit of the last transaction.
/// </summary>
public sealed class CaptureBenchmark(int changes)
{
    public async Task<CaptureBenchResult> RunAsync()
    {
        await using var rig = await BenchRig.StartAsync("capture");
        await rig.PrepareAsync();
        await BenchRig.Exec(rig.SourceCs, "SELECT pg_create_logical_replication_slot('bench_recvlogical', 'pgoutput')");
        var (endLsn, transactions) = await rig.WriteBacklogAsync(changes);
        var recv = await rig.RecvLogicalAsync("bench_recvlogical", endLsn);

        // No Sink drains the window here: let Capture run ahead (the broker drops what it cannot hold, which
        // does not matter for a rate measured at the producer).
        rig.Options.Capture.InFlightBytes = long.MaxValue / 4;
        var produced = CaptureMetrics.Transactions.WithLabels("bench", "transaction");
        var start = produced.Value;
        BenchRig.ResetPeakRss();
        var cpu0 = ThreadCpu.Take();
        var gc0 = GcCounts.Take();
        var sw = Stopwatch.StartNew();
        var app = await rig.StartPipelineAsync(Stages.Capture);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(30);
        while (produced.Value - start < transactions)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Capture produced {produced.Value - start} of {transactions} transactions");
            }

            await Task.Delay(5);
        }

        sw.Stop();
        var cpu1 = ThreadCpu.Take();
        var gc1 = GcCounts.Take();
        var peak = BenchRig.PeakRssBytes();

        // The walsender serving Capture (its whole life is this run): the server's share of the decode.
        var walsender = await WalsenderCpuSecondsAsync(rig.SourceCs);
        await app.StopAsync();
        await app.DisposeAsync();
        return new CaptureBenchResult(changes, transactions, sw.Elapsed.TotalSeconds, recv.TotalSeconds, peak)
        {
            ProcessCpuSeconds = cpu1.ProcessSecondsSince(cpu0),
            CpuByThread = cpu1.GroupsSince(cpu0),
            WalsenderCpuSeconds = walsender,
            AllocatedBytes = gc1.Allocated - gc0.Allocated,
            Collections = [gc1.Gen0 - gc0.Gen0, gc1.Gen1 - gc0.Gen1, gc1.Gen2 - gc0.Gen2],
        };
    }

    private static async Task<double?> WalsenderCpuSecondsAsync(string sourceCs)
    {
        var pid = await BenchRig.Scalar<int?>(sourceCs,
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walsender' AND application_name LIKE 'peeq-cdc capture%' ORDER BY backend_start DESC LIMIT 1");
        if (pid is null)
        {
            return null;
        }

        return ProcessCpu.Of(pid.Value)?.TotalSeconds;
    }
}

public sealed record CaptureBenchResult(int Changes, int Transactions, double CaptureSeconds, double RecvLogicalSeconds, long PeakRssBytes)
{
    public double CaptureRowsPerSecond => Changes / CaptureSeconds;

    public double RecvLogicalRowsPerSecond => Changes / RecvLogicalSeconds;

    /// <summary>Capture's rate as a fraction of pg_recvlogical's (target ≥ 0.7).</summary>
    public double Ratio => RecvLogicalSeconds / CaptureSeconds;

    /// <summary>This process's CPU time while Capture ran (Capture, its producer's librdkafka threads and the embedded broker).</summary>
    public double ProcessCpuSeconds { get; init; }

    /// <summary>The same by thread group, largest first.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> CpuByThread { get; init; } = [];

    /// <summary>CPU time of the walsender that served Capture (start to end of the run).</summary>
    public double? WalsenderCpuSeconds { get; init; }

    /// <summary>Bytes this process allocated while Capture ran (every thread: Capture, its producer's delivery reports, the bench's poll).</summary>
    public long AllocatedBytes { get; init; }

    /// <summary>Garbage collections while Capture ran, generation 0, 1 and 2.</summary>
    public int[] Collections { get; init; } = [0, 0, 0];
}
