using System.Globalization;
using System.Text.Json;

namespace Peeq.Cdc.Bench;

/// <summary><c>bench/run reconcile [rows]</c>: the reconciler on a table pair against concurrent binary COPYs of both sides.</summary>
public static class ReconcileBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var rows = args.Length > 0 && int.TryParse(args[0], CultureInfo.InvariantCulture, out var n) ? n : 2_000_000;
        var outDir = args.Length > 1 ? args[1] : Path.Combine("bench", "results");
        Directory.CreateDirectory(outDir);
        var r = await new ReconcileBenchmark(rows).RunAsync();
        var stamp = DateTime.UtcNow.ToString("yyyy-MM-dd-HHmm", CultureInfo.InvariantCulture);
        var md = $"""
            # Reconciler benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC

            One table pair of {r.Rows:N0} rows (transaction-db `transactions` → the same table in the target, with its
            lineage), reconciled with counts, per-range checksums and row comparison through the mapping engine
            (identity mapping). Baseline in the same run: a binary `COPY (SELECT * … ORDER BY id) TO STDOUT` of both
            sides, concurrently. Legacy and target PostgreSQL 15 and the reconciler share this machine
            ({Environment.ProcessorCount} cores). Best of {r.ReconcileRuns.Count} runs each.

            | figure | value |
            |---|---|
            | reconciliation (both sides streamed, mapped, compared) | {r.ReconcileSeconds:0.00} s, {r.RowsPerSecond:N0} rows/s |
            | baseline: binary COPY of both sides ordered by key, concurrently | {r.CopySeconds:0.00} s |
            | ratio: reconciliation / COPY baseline | {r.Ratio:0.00}× |
            | the reconciler's own two queries (same SQL, text results), drained concurrently: the servers' share | {r.QuerySeconds:0.00} s ({r.QuerySeconds / r.CopySeconds:0.00}× the COPY baseline) |
            | the reconciler process's CPU time per run | {string.Join(", ", r.CpuRuns.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture)))} s ({r.CpuRuns.Min() * 1e6 / r.Rows:0.0} µs a row at best) |
            | garbage collection per run (the reconciler's process) | {string.Join("; ", r.GcRuns ?? [])} |
            | load average (1, 5, 15 min) when written | {File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Aggregate((a, b) => a + " " + b)} |
            | peak RSS of the process during reconciliation (before: {r.BaselineRssBytes / 1048576.0:0} MiB) | {r.PeakRssBytes / 1048576.0:0} MiB |
            | peak managed heap during reconciliation | {r.PeakManagedBytes / 1048576.0:0} MiB |
            | rows compared column by column | {r.RowsCompared:N0} |
            | differences injected / found | {r.DifferencesInjected} / {r.DifferencesFound} (verdict {r.Verdict.ToLowerInvariant()}) |
            | all runs (reconcile; COPY) | {string.Join(", ", r.ReconcileRuns.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture)))}; {string.Join(", ", r.CopyRuns.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture)))} s |
            """;
        Console.WriteLine(md);
        await File.WriteAllTextAsync(Path.Combine(outDir, $"{stamp}-reconcile.md"), md + "\n");
        await File.WriteAllTextAsync(Path.Combine(outDir, $"{stamp}-reconcile.json"), JsonSerializer.Serialize(r, new JsonSerializerOptions { WriteIndented = true }));
        return r.DifferencesFound == r.DifferencesInjected ? 0 : 1;
    }
}
