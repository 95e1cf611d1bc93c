using System.Globalization;
using System.Text.Json;
using Peeq.Cdc.Bench;

// bench/run [slice|capture|latency|snapshot|sink|bigtx|memory|seed|reconcile|soak|all] [count] [outDir]
var which = args.Length > 0 && !char.IsAsciiDigit(args[0][0]) ? args[0] : "slice";
var rest = args.Length > 0 && char.IsAsciiDigit(args[0][0]) ? args : args.Skip(1).ToArray();
if (which == "soak")
{
    return await SoakRun.RunAsync(rest);
}

if (which == "reconcile")
{
    return await ReconcileBench.RunAsync(rest);
}

int Size(int fallback) => rest.Length > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : fallback;
if (which == "seed")
{
    return await SeedRun.RunAsync(Size(1_000_000), rest.Length > 1 ? rest[1] : Path.Combine("bench", "results"));
}

var outDir = rest.Length > 1 ? rest[1] : Path.Combine("bench", "results");
Directory.CreateDirectory(outDir);
var stamp = DateTime.UtcNow.ToString("yyyy-MM-dd-HHmm", CultureInfo.InvariantCulture);
var json = new JsonSerializerOptions { WriteIndented = true };

async Task<int> Write(string name, string md, object raw, bool ok)
{
    Console.WriteLine(md);
    await File.WriteAllTextAsync(Path.Combine(outDir, $"{stamp}-{name}.md"), md + "\n");
    await File.WriteAllTextAsync(Path.Combine(outDir, $"{stamp}-{name}.json"), JsonSerializer.Serialize(raw, json));
    return ok ? 0 : 1;
}

switch (which)
{
    case "all":
        {
            // Every benchmark at one size (default 100,000: a few minutes on 2 cores); the size is in the table.
            var n = Size(100_000);
            var summary = new Summary(n);
            Console.Error.WriteLine($"bench: all benchmarks at {n:N0}");

            // Each benchmark's figures are written as soon as it ends; one that fails is named in the table.
            async Task Step(string name, Func<Task> run)
            {
                try
                {
                    await run();
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"bench: {name} failed: {e}");
                    summary.Failures.Add($"{name}: {e.GetType().Name}: {e.Message}");
                }

                await File.WriteAllTextAsync(Path.Combine(outDir, $"{stamp}-all.md"), summary.Markdown() + "\n");
                await File.WriteAllTextAsync(Path.Combine(outDir, $"{stamp}-all.json"), JsonSerializer.Serialize(summary, json));
            }

            await Step("capture", async () => summary.Capture = await new CaptureBenchmark(n).RunAsync());
            await Step("slice", async () => summary.Slice = await new SliceBenchmark(n).RunAsync());
            await Step("latency", async () => summary.Latency = await new LatencyBenchmark(Math.Clamp(n / 5_000, 10, 60)).RunAsync());
            await Step("snapshot", async () => summary.Snapshot = await new SnapshotBenchmark(n).RunAsync());
            await Step("sink", async () => summary.Sink = await new SinkBenchmark(n).RunAsync());
            await Step("reconcile", async () => summary.Reconcile = await ReconcileBench.InOwnProcessAsync(n)); // with the deployed gen-0 budget
            await Step("bigtx", async () => summary.LargeTransaction = await new LargeTransactionBenchmark(n).RunAsync());
            await Step("memory", async () => summary.Memory = await new MemoryBenchmark(n).RunAsync());
            return await Write("all", summary.Markdown(), summary, summary.Correct && summary.Failures.Count == 0);
        }

    case "bigtx":
        {
            var c = await new LargeTransactionBenchmark(Size(1_000_000)).RunAsync();
            var cmd = $"""
                # Capture benchmark: one large transaction, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC

                One source transaction of {c.Rows:N0} inserted rows committed while the pipeline was stopped, then applied from the
                slot by the whole pipeline in one process (Capture, Transform, Sink, the embedded broker). Legacy and target
                PostgreSQL 15 share this machine ({Environment.ProcessorCount} cores). pgoutput protocol 1: the walsender spills
                the transaction and sends it at commit; Capture produces it row by row inside its in-flight window.

                | figure | value |
                |---|---|
                | pipeline, start → transaction applied in the target | {c.Pipeline.TotalSeconds:0.00} s, {c.PipelineRowsPerSecond:N0} rows/s |
                | baseline: pg_recvlogical decoding the same WAL (pgoutput, same publication) | {c.RecvLogical.TotalSeconds:0.00} s |
                | ratio: pipeline / decode baseline | {c.Ratio:0.0}× |
                | bytes Capture produced for the transaction | {c.ProducedBytes / 1048576.0:0.0} MiB |
                | Capture's peak in-flight bytes (window {c.InFlightLimitBytes / 1024:N0} KiB) | {c.InFlightPeakBytes / 1024.0:N0} KiB |
                | process RSS before the pipeline started / peak RSS before / peak RSS after | {c.RssBeforePipeline / 1048576.0:0} / {c.PeakRssBeforePipeline / 1048576.0:0} / {c.PeakRss / 1048576.0:0} MiB |
                | target holds every row | {(c.TargetComplete ? "yes" : "NO")} |
                """;
            return await Write("bigtx", cmd, c, c.TargetComplete);
        }

    case "memory":
        {
            var m = await new MemoryBenchmark(Size(1_000_000)).RunAsync();
            return await Write("memory", new Summary(m.Rows) { Memory = m }.Markdown(), m, m.Small.TargetComplete && m.Middle.TargetComplete && m.Large.TargetComplete && m.Snapshot.TargetComplete);
        }

    case "capture":
        {
            var r = await new CaptureBenchmark(Size(200_000)).RunAsync();
            return await Write("capture", new Summary(r.Changes) { Capture = r }.Markdown(), r, true);
        }

    case "latency":
        {
            var r = await new LatencyBenchmark(Size(20)).RunAsync();
            return await Write("latency", new Summary(r.Transactions) { Latency = r }.Markdown(), r, true);
        }

    case "snapshot":
        {
            var r = await new SnapshotBenchmark(Size(200_000)).RunAsync();
            return await Write("snapshot", new Summary(r.Rows) { Snapshot = r }.Markdown(), r, r.TargetEqualsBaseline);
        }

    case "sink":
        {
            var s = await new SinkBenchmark(Size(200_000)).RunAsync();
            var smd = $"""
                # Sink benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC

                {s.Operations:N0} row operations ({s.Operations / 2:N0} inserts + {s.Operations / 2:N0} updates of the same keys, source transactions of
                1–100 rows, {s.Events:N0} unified events with the markers) fed onto the unified topic, paced by the Sink's flow position,
                and applied by the Sink alone (consume, parse, fold, stage, version guard, commit). Target PostgreSQL 15, the embedded
                broker and the Sink share this machine ({Environment.ProcessorCount} cores).

                | figure | value |
                |---|---|
                | Sink, first event produced → last transaction applied | {s.Sink.TotalSeconds:0.00} s, {s.SinkRowsPerSecond:N0} rows/s |
                | baseline: staged binary COPY + one upsert of the resulting rows | {s.CopyUpsert.TotalSeconds:0.00} s |
                | ratio: Sink / baseline | {s.Ratio:0.0}× |
                | target equals the baseline | {(s.TargetEqualsBaseline ? "yes" : "NO")} |
                """;
            return await Write("sink", smd, s, s.TargetEqualsBaseline);
        }

    default:
        {
            var r = await new SliceBenchmark(Size(200_000)).RunAsync();
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
            return await Write("slice", md, r, r.TargetEqualsBaseline);
        }
}
