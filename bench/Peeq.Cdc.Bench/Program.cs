using System.Globalization;
using System.Text.Json;
using Peeq.Cdc.Bench;

if (args.Length > 0 && args[0] == "reconcile")
{
    return await ReconcileBench.RunAsync(args[1..]);
}

var changes = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200_000;
var outDir = args.Length > 1 ? args[1] : Path.Combine("bench", "results");
Directory.CreateDirectory(outDir);
var r = await new SliceBenchmark(changes).RunAsync();
var stamp = DateTime.UtcNow.ToString("yyyy-MM-dd-HHmm", CultureInfo.InvariantCulture);
var md = $"""
    # End-to-end slice benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC

    {r.Changes:N0} row changes ({r.Changes / 2:N0} inserts + {r.Changes / 2:N0} updates, transactions of 1–100 rows) committed
    while the pipeline was stopped, then applied from the backlog. Legacy and target PostgreSQL 15, the
    embedded broker and every stage share this machine ({Environment.ProcessorCount} cores).

    | figure | value |
    |---|---|
    | pipeline, source commit → target commit (backlog) | {r.Pipeline.TotalSeconds:0.00} s, {r.PipelineRowsPerSecond:N0} rows/s |
    | baseline: pg_recvlogical decoding the same WAL (pgoutput, same publication) | {r.RecvLogical.TotalSeconds:0.00} s, {r.RecvLogicalRowsPerSecond:N0} rows/s |
    | baseline: staged binary COPY + upsert of the final rows | {r.CopyUpsert.TotalSeconds:0.00} s |
    | ratio: pipeline / (decode + COPY baseline) | {r.Ratio:0.00}× |
    | peak RSS of the pipeline process (all stages and the embedded broker) | {r.PeakRssBytes / 1048576.0:0} MiB |
    | target equals the COPY baseline | {(r.TargetEqualsBaseline ? "yes" : "NO")} |
    """;
Console.WriteLine(md);
await File.WriteAllTextAsync(Path.Combine(outDir, $"{stamp}-slice.md"), md + "\n");
await File.WriteAllTextAsync(Path.Combine(outDir, $"{stamp}-slice.json"), JsonSerializer.Serialize(r, new JsonSerializerOptions { WriteIndented = true }));
return r.TargetEqualsBaseline ? 0 : 1;
