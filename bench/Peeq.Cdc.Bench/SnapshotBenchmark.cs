using System.Diagnostics;
using Npgsql;
using Peeq.Cdc.Cli.Hosting;

namespace Peeq.Cdc.Bench;

/// <summary>
/// The initial snapshot of an N-row table into an empty target, through the whole pipeline (chunked
/// snapshot with watermarks, raw and unified topics, the Sink), timed from the pipeline's start until the
/// Sink has recorded the table's snapshot done. Baseline in the same run: <c>COPY (SELECT …) TO STDOUT</c>
/// from the source piped into <c>COPY … FROM STDIN</c> of an empty table of the same shape in the target.
/// </summary>
public sealed class SnapshotBenchmark(int rows)
{
    public async Task<SnapshotBenchResult> RunAsync()
    {
        await using var rig = await BenchRig.StartAsync("snapshot", preload: rows);

        BenchRig.ResetPeakRss();
        var sw = Stopwatch.StartNew();
        var app = await rig.StartPipelineAsync(Stages.All);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(30);
        while (!await DoneAsync(rig.TargetCs))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the snapshot did not finish in 30 minutes");
            }

            await Task.Delay(10);
        }

        sw.Stop();
        var peak = BenchRig.PeakRssBytes();
        await app.StopAsync();
        await app.DisposeAsync();
        await StatementProfile.ReportAsync(rig.TargetCs, sw.Elapsed, rig.TargetServer.LogFile);

        // Baseline: the COPY pipe into an empty table of the same shape.
        await BenchRig.Exec(rig.TargetCs, "CREATE TABLE baseline_rows (LIKE public.rows INCLUDING ALL)");
        var copy = Stopwatch.StartNew();
        await using (var src = new NpgsqlConnection(rig.SourceCs))
        await using (var dst = new NpgsqlConnection(rig.TargetCs))
        {
            await src.OpenAsync();
            await dst.OpenAsync();
            await using var reader = await src.BeginRawBinaryCopyAsync("COPY (SELECT * FROM rows) TO STDOUT (FORMAT BINARY)");
            await using var writer = await dst.BeginRawBinaryCopyAsync("COPY baseline_rows FROM STDIN (FORMAT BINARY)");
            await reader.CopyToAsync(writer);
        }

        copy.Stop();
        var equal = await rig.TargetEqualsBaselineAsync(rows);
        return new SnapshotBenchResult(rows, sw.Elapsed.TotalSeconds, copy.Elapsed.TotalSeconds, peak, equal);
    }

    private static async Task<bool> DoneAsync(string targetCs)
    {
        try
        {
            return await BenchRig.Scalar<object>(targetCs,
                "SELECT count(*) FILTER (WHERE snapshot_state = 'done') = 1 AND count(*) = 1 FROM peeq_cdc.source_table_state WHERE source = 'bench'") is true;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return false;
        }
    }
}

public sealed record SnapshotBenchResult(int Rows, double SnapshotSeconds, double CopyPipeSeconds, long PeakRssBytes, bool TargetEqualsBaseline)
{
    public double RowsPerSecond => Rows / SnapshotSeconds;

    /// <summary>The snapshot's rate as a fraction of the COPY pipe's (target ≥ 0.4).</summary>
    public double Ratio => CopyPipeSeconds / SnapshotSeconds;
}
