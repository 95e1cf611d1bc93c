using System.Globalization;
using System.Text;

namespace Peeq.Cdc.Bench;

/// <summary>The results of one <c>bench/run all</c>: one table of figure, baseline, ratio, target and verdict.</summary>
public sealed class Summary(int size)
{
    public int Size { get; } = size;

    public DateTime At { get; } = DateTime.UtcNow;

    public int Cores { get; } = Environment.ProcessorCount;

    public CaptureBenchResult? Capture { get; set; }

    public BenchResult? Slice { get; set; }

    public LatencyBenchResult? Latency { get; set; }

    public SnapshotBenchResult? Snapshot { get; set; }

    public SinkBenchResult? Sink { get; set; }

    public ReconcileBenchResult? Reconcile { get; set; }

    public LargeTransactionBenchResult? LargeTransaction { get; set; }

    public MemoryBenchResult? Memory { get; set; }

    /// <summary>Benchmarks that failed, with the error.</summary>
    public List<string> Failures { get; } = [];

    /// <summary>Every benchmark that checks its result found it right.</summary>
    public bool Correct => Slice?.TargetEqualsBaseline != false && Snapshot?.TargetEqualsBaseline != false && Sink?.TargetEqualsBaseline != false
        && (Reconcile is null || Reconcile.DifferencesFound == Reconcile.DifferencesInjected);

    public string Markdown()
    {
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"# Benchmarks, {At:yyyy-MM-dd HH:mm} UTC, size {Size:N0}\n\n");
        b.Append(CultureInfo.InvariantCulture,
            $"Legacy and target PostgreSQL 15, the embedded broker and every stage share this machine ({Cores} cores); each baseline ran in the same run on the same servers. ");
        b.Append(CultureInfo.InvariantCulture, $"Load average when the table was written: {LoadAverage()}.\n\n");
        b.Append("| figure | value | baseline | ratio | target | result |\n|---|---|---|---|---|---|\n");
        if (Capture is { } c)
        {
            Row(b, $"capture alone, {c.Changes:N0} changes ({c.Transactions:N0} tx of 1–100 rows) → raw topic",
                $"{c.CaptureSeconds:0.00} s, {c.CaptureRowsPerSecond:N0} rows/s",
                $"pg_recvlogical, same WAL, slot type and publication: {c.RecvLogicalSeconds:0.00} s, {c.RecvLogicalRowsPerSecond:N0} rows/s",
                $"{c.Ratio:0.00}× its rate", "≥ 0.7×", c.Ratio >= 0.7);
            Row(b, "capture alone: CPU time of the bench process while Capture ran (Capture, its producer and the embedded broker), by thread",
                $"{c.ProcessCpuSeconds:0.00} s, {c.ProcessCpuSeconds * 1e6 / c.Changes:0.0} µs a row; "
                + string.Join(", ", c.CpuByThread.Take(6).Select(g => $"{g.Key} {g.Value:0.00}")),
                c.WalsenderCpuSeconds is { } ws ? $"its walsender {ws:0.00} s, {ws * 1e6 / c.Changes:0.0} µs a row" : "", "", "(informative)", null);
        }

        if (Slice is { } s)
        {
            Row(b, $"end-to-end, {s.Changes:N0} changes, source commit → target commit (backlog)",
                $"{s.Pipeline.TotalSeconds:0.00} s, {s.PipelineRowsPerSecond:N0} rows/s",
                $"pg_recvlogical {s.RecvLogical.TotalSeconds:0.00} s + staged binary COPY + upsert {s.CopyUpsert.TotalSeconds:0.00} s",
                $"{s.Ratio:0.00}× its time", "≤ 2×", s.Ratio <= 2);
            Row(b, "end-to-end: target rows equal the COPY baseline", s.TargetEqualsBaseline ? "yes" : "NO", "", "", "equal", s.TargetEqualsBaseline);
        }

        if (Latency is { } l)
        {
            var load = $"{l.Transactions:N0} single-row tx at {l.TargetRate:N0}/s (achieved {l.AchievedRate:N0}/s) after {l.WarmupSeconds} s of the same load not counted";
            Row(b, $"latency p50, {load}", $"{l.P50Ms:0.0} ms", "", "", "< 50 ms", l.P50Ms < 50);
            Row(b, "latency p99", $"{l.P99Ms:0.0} ms", "", "", "< 250 ms", l.P99Ms < 250);
            Row(b, "latency max", $"{l.MaxMs:0.0} ms (mean {l.MeanMs:0.0} ms)", "", "", "", null);
            Row(b, $"latency with the {l.WarmupSeconds} s warm-up counted too: p50 / p99 / max", $"{l.WithWarmupP50Ms:0.0} / {l.WithWarmupP99Ms:0.0} / {l.WithWarmupMaxMs:0.0} ms", "", "", "", null);
            Row(b, "latency: the load generator's INSERT round trip (commit included), p50 / p99", $"{l.InsertP50Ms:0.0} / {l.InsertP99Ms:0.0} ms", "", "", "", null);
            if (l.Stages is { } st)
            {
                Row(b, $"latency by stage, p50 / p99 / max ms ({st.Transactions:N0} tx still on the broker): source commit → Capture produced END", st.Capture.ToString(), "", "", "", null);
                Row(b, "… → Transform produced COMMIT", st.Transform.ToString(), "", "", "", null);
                Row(b, "… → target commit (Sink)", st.Sink.ToString(), "", "", "", null);
                Row(b, "… total, same transactions", st.Total.ToString(), "", "", "", null);
            }
        }

        if (Snapshot is { } n)
        {
            Row(b, $"initial snapshot of a {n.Rows:N0}-row table into an empty target",
                $"{n.SnapshotSeconds:0.00} s, {n.RowsPerSecond:N0} rows/s",
                $"COPY (SELECT …) TO STDOUT piped into COPY FROM STDIN: {n.CopyPipeSeconds:0.00} s",
                $"{n.Ratio:0.00}× its rate", "≥ 0.4×", n.Ratio >= 0.4);
        }

        if (Reconcile is { } r)
        {
            Row(b, $"reconciler, a {r.Rows:N0}-row pair (best of {r.ReconcileRuns.Count}; its own process, gen-0 budget cap {r.Gen0Budget ?? "default"})", $"{r.ReconcileSeconds:0.00} s, {r.RowsPerSecond:N0} rows/s",
                $"binary COPY of both sides ordered by key, concurrently: {r.CopySeconds:0.00} s",
                $"{r.Ratio:0.00}× its time", "≤ 2×", r.Ratio <= 2);
        }

        if (Sink is { } k)
        {
            Row(b, $"Sink alone, {k.Operations:N0} row operations", $"{k.Sink.TotalSeconds:0.00} s, {k.SinkRowsPerSecond:N0} rows/s",
                $"staged binary COPY + one upsert: {k.CopyUpsert.TotalSeconds:0.00} s", $"{k.Ratio:0.00}× its time", "(informative)", null);
        }

        if (LargeTransaction is { } x)
        {
            Row(b, $"one {x.Rows:N0}-row source transaction end to end", $"{x.Pipeline.TotalSeconds:0.00} s, {x.PipelineRowsPerSecond:N0} rows/s; Capture's peak in-flight {x.InFlightPeakBytes / 1024.0:N0} KiB (window {x.InFlightLimitBytes / 1024:N0} KiB); peak RSS {x.PeakRss / 1048576.0:0} MiB (before {x.PeakRssBeforePipeline / 1048576.0:0} MiB)",
                $"pg_recvlogical {x.RecvLogical.TotalSeconds:0.00} s", $"{x.Ratio:0.0}× its time", "memory bounded", null);
        }

        if (Memory is { } m)
        {
            foreach (var stage in m.Small.PeakRss.Keys)
            {
                Row(b, $"peak RSS of the `{stage}` worker (its own process): one {m.Rows:N0}-row source transaction vs one {m.Small.Rows}-row transaction",
                    $"{m.Large.PeakRss[stage] / 1048576.0:0} MiB", $"{m.Small.PeakRss[stage] / 1048576.0:0} MiB", $"{m.Ratios[stage]:0.00}×", "≤ 1.5×", m.Ratios[stage] <= 1.5);
            }

            Row(b, $"… the same peaks, {m.Rows:N0}-row vs {m.Middle.Rows:N0}-row transaction (still growing with the transaction, or a fixed working set?)",
                string.Join(", ", m.Small.PeakRss.Keys.Select(s => $"{s} {m.Large.PeakRss[s] / 1048576.0:0}")),
                string.Join(", ", m.Small.PeakRss.Keys.Select(s => $"{s} {m.Middle.PeakRss[s] / 1048576.0:0}")),
                string.Join(", ", m.Small.PeakRss.Keys.Select(s => $"{s} {m.GrowthRatios[s]:0.00}×")), "(informative)", null);

            Row(b, $"peak RSS of the embedded broker (the bench process, which also hosts it): {m.Rows:N0}-row vs {m.Small.Rows}-row transaction",
                $"{m.Large.BrokerPeakRss / 1048576.0:0} MiB", $"{m.Small.BrokerPeakRss / 1048576.0:0} MiB", "", "(informative)", null);
            foreach (var stage in m.Small.PeakRss.Keys)
            {
                Row(b, $"peak RSS of the `{stage}` worker (its own process): the initial snapshot of a {m.Rows:N0}-row table vs one {m.Small.Rows}-row transaction",
                    $"{m.Snapshot.PeakRss[stage] / 1048576.0:0} MiB", $"{m.Small.PeakRss[stage] / 1048576.0:0} MiB", $"{m.SnapshotRatios[stage]:0.00}×", "≤ 1.5×", m.SnapshotRatios[stage] <= 1.5);
            }

            Row(b, $"CPU per row of the {m.Rows:N0}-row initial snapshot, start → snapshot done, beyond the small run's start-up, µs",
                string.Join(", ", m.Snapshot.CpuSeconds.Select(c => $"{c.Key} {c.Value * 1e6 / m.Rows:0.0}")) + $"; total {m.Snapshot.CpuSeconds.Values.Sum() * 1e6 / m.Rows:0.0}"
                    + $" (wall {m.Snapshot.Seconds:0.00} s = {m.Snapshot.Seconds * 1e6 / m.Rows:0.0} µs a row, start-up included)",
                "", "", "(informative)", null);
            Row(b, $"CPU per row of the {m.Rows:N0}-row transaction, commit → target applied, µs (where the machine's 2 cores went; \"broker\" = the bench process)",
                string.Join(", ", m.Large.CpuSeconds.Select(c => $"{c.Key} {c.Value * 1e6 / m.Rows:0.0}")) + $"; total {m.Large.CpuSeconds.Values.Sum() * 1e6 / m.Rows:0.0}"
                    + $" (wall {m.Large.Seconds * 1e6 / m.Rows:0.0})",
                "", "", "(informative)", null);
            Row(b, $"the {m.Rows:N0}-row transaction applied by the three worker processes, commit → target applied", $"{m.Large.Seconds:0.00} s, {m.Rows / m.Large.Seconds:N0} rows/s",
                "", "", "every row", m.Large.TargetComplete && m.Middle.TargetComplete && m.Small.TargetComplete && m.Snapshot.TargetComplete);
        }

        var peaks = new List<string>();
        if (Capture is not null)
        {
            peaks.Add($"capture {Capture.PeakRssBytes / 1048576.0:0}");
        }

        if (Slice is not null)
        {
            peaks.Add($"end-to-end {Slice.PeakRssBytes / 1048576.0:0}");
        }

        if (Latency is not null)
        {
            peaks.Add($"latency {Latency.PeakRssBytes / 1048576.0:0}");
        }

        if (Snapshot is not null)
        {
            peaks.Add($"snapshot {Snapshot.PeakRssBytes / 1048576.0:0}");
        }

        if (Reconcile is not null)
        {
            peaks.Add($"reconcile {Reconcile.PeakRssBytes / 1048576.0:0}");
        }

        if (peaks.Count > 0)
        {
            Row(b, "peak RSS during each run, MiB (one process: the stages and the embedded broker together)", string.Join(", ", peaks), "", "", "bounded", null);
        }

        foreach (var f in Failures)
        {
            b.Append(CultureInfo.InvariantCulture, $"\nFAILED: {f}\n");
        }

        return b.ToString();
    }

    private static void Row(StringBuilder b, string figure, string value, string baseline, string ratio, string target, bool? pass) =>
        b.Append(CultureInfo.InvariantCulture, $"| {figure} | {value} | {baseline} | {ratio} | {target} | {(pass is null ? "—" : pass.Value ? "pass" : "**miss**")} |\n");

    private static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
