using System.Diagnostics;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Bench;

/// <summary>
/// The vertical slice end to end on a backlog: N row changes committed while the pipeline is stopped,
/// then timed from start until the target has applied them all. Baselines in the same run, on the same
/// servers: pg_recvlogical decoding the same WAL with pgoutput and the same publication, and a staged
/// COPY + upsert of the resulting rows into the target server.
/// </summary>
public sealed class SliceBenchmark(int changes)
{
    public async Task<BenchResult> RunAsync()
    {
        await using var rig = await BenchRig.StartAsync("slice");
        await rig.PrepareAsync();
        await BenchRig.Exec(rig.SourceCs, "SELECT pg_create_logical_replication_slot('bench_recvlogical', 'pgoutput')");

        var sw = Stopwatch.StartNew();
        var (endLsn, _) = await rig.WriteBacklogAsync(changes);
        Console.Error.WriteLine($"bench: {changes} changes committed in {sw.Elapsed.TotalSeconds:0.0} s; WAL end {endLsn}");

        // Baseline 1: pg_recvlogical decoding the same WAL, same plugin, publication and protocol.
        var recv = await rig.RecvLogicalAsync("bench_recvlogical", endLsn);

        // The pipeline: start, time until everything up to the end LSN is applied in the target.
        BenchRig.ResetPeakRss();
        var peakBefore = BenchRig.PeakRssBytes();
        var pipe = Stopwatch.StartNew();
        var app = await rig.StartPipelineAsync(Stages.All);
        await rig.WaitAppliedAsync(Lsn.Parse(endLsn), TimeSpan.FromMinutes(30));
        pipe.Stop();
        var peakRss = BenchRig.PeakRssBytes();
        await StatementProfile.ReportAsync(rig.TargetCs, pipe.Elapsed, rig.TargetServer.LogFile);
        await app.StopAsync();
        await app.DisposeAsync();

        // Baseline 2: the same final rows through COPY and one set-based upsert.
        var copy = await rig.CopyUpsertBaselineAsync();
        var equal = await rig.TargetEqualsBaselineAsync(changes / 2);
        return new BenchResult(changes, pipe.Elapsed, recv, copy, peakRss, peakBefore, equal);
    }
}

public sealed record BenchResult(int Changes, TimeSpan Pipeline, TimeSpan RecvLogical, TimeSpan CopyUpsert, long PeakRssBytes, long PeakRssBeforePipeline, bool TargetEqualsBaseline)
{
    public double PipelineRowsPerSecond => Changes / Pipeline.TotalSeconds;

    public double RecvLogicalRowsPerSecond => Changes / RecvLogical.TotalSeconds;

    public double Ratio => Pipeline.TotalSeconds / (RecvLogical.TotalSeconds + CopyUpsert.TotalSeconds);
}
