using System.Globalization;
using System.Text.Json;

namespace Peeq.Cdc.Bench;

/// <summary><c>bench/run reconcile [rows]</c>: the reconciler on a table pair against concurrent binary COPYs of both sides.</summary>
public static class ReconcileBench
{
    /// <summary>
    /// The reconciler's gen-0 allocation budget cap as deployed (docker-compose.yml's reconcile service, <c>./dev reconcile</c>,
    /// docs/reconciler.md): 64 MiB instead of the 6 MiB the workstation GC caps it at, which this machine's reconciler spent
    /// ~270 gen-0 and ~150 gen-1 collections per 200,000 rows on (bench/results/optimisations.md, Session 7 (recon7)).
    /// <c>bench/run reconcile</c> sets it (unless already set); <c>bench/run all</c> runs the reconcile benchmark in a
    /// process of its own with it, so the other benchmarks keep the runtime's default.
    /// </summary>
    public const string Gen0BudgetVariable = "DOTNET_GCGen0MaxBudget";

    public const string Gen0Budget = "0x4000000";

    /// <summary>The benchmark in a child process with the deployed gen-0 budget (for <c>bench/run all</c>, whose own process keeps the default).</summary>
    public static async Task<ReconcileBenchResult> InOwnProcessAsync(int rows)
    {
        var dir = Path.Combine(Path.GetTempPath(), "peeq-bench-reconcile-child", Guid.NewGuid().ToString("N")[..8]);
        var psi = new System.Diagnostics.ProcessStartInfo(Environment.ProcessPath ?? "dotnet") { UseShellExecute = false };
        psi.ArgumentList.Add(typeof(ReconcileBench).Assembly.Location);
        psi.ArgumentList.Add("reconcile");
        psi.ArgumentList.Add(rows.ToString(CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(dir);
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Gen0BudgetVariable)))
        {
            psi.Environment[Gen0BudgetVariable] = Gen0Budget;
        }

        using var child = System.Diagnostics.Process.Start(psi)!;
        await child.WaitForExitAsync();
        try
        {
            var json = Directory.GetFiles(dir, "*-reconcile.json").SingleOrDefault()
                ?? throw new InvalidOperationException($"the reconcile benchmark's process exited with {child.ExitCode} and wrote no result");
            return JsonSerializer.Deserialize<ReconcileBenchResult>(await File.ReadAllTextAsync(json))!;
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, true);
            }
        }
    }

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
            | the process's gen-0 budget cap (GCGen0MaxBudget, as the GC reports it) | {r.Gen0Budget} |
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
