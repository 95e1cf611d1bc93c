using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;

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
        await using var legacy = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "bench-legacy" });
        await using var targetPg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "bench-target" });
        using var kafka = EmbeddedKafka.Start();
        var sourceCs = await legacy.CreateDatabaseAsync("bench");
        var targetCs = await targetPg.CreateDatabaseAsync("bench_target");
        await Exec(sourceCs, "CREATE TABLE rows (id bigint PRIMARY KEY, account uuid NOT NULL, amount numeric(12,2) NOT NULL, note text, at timestamptz NOT NULL)");
        var options = new PipelineOptions
        {
            Kafka = new KafkaOptions { BootstrapServers = kafka.BootstrapServers, TopicPrefix = "bench" },
            Sources = [new SourceOptions { Name = "bench", ConnectionString = sourceCs, Target = "target", Tables = ["rows"] }],
            Targets = [new TargetOptions { Name = "target", ConnectionString = targetCs }],
            Capture = new CaptureOptions { HeartbeatInterval = TimeSpan.FromSeconds(1) },
            Http = new HttpOptions { Urls = "" },
        };
        var config = PipelineConfig.FromOptions(options);

        // Start once so the slot, publication and target table exist, then stop.
        var app = PipelineHost.Build(config, kafka.Endpoint, Stages.All, null, LogLevel.Warning);
        await app.StartAsync();
        await PipelineProgress.WaitForDrainAsync(options, TimeSpan.FromSeconds(60), CancellationToken.None);
        await app.StopAsync();
        await app.DisposeAsync();
        await Exec(sourceCs, "SELECT pg_create_logical_replication_slot('bench_recvlogical', 'pgoutput')");

        // The backlog: half inserts, half updates, in transactions of 1–100 rows.
        var sw = Stopwatch.StartNew();
        var inserts = changes / 2;
        await using (var conn = new NpgsqlConnection(sourceCs))
        {
            await conn.OpenAsync();
            var random = new Random(7);
            var id = 0;
            while (id < inserts)
            {
                var n = Math.Min(random.Next(1, 101), inserts - id);
                await using var cmd = new NpgsqlCommand(
                    "INSERT INTO rows SELECT g, md5(g::text)::uuid, (g % 100000) / 100.0, 'row ' || g, now() FROM generate_series(@a, @b) g", conn);
                cmd.Parameters.AddWithValue("a", id + 1L);
                cmd.Parameters.AddWithValue("b", (long)(id + n));
                await cmd.ExecuteNonQueryAsync();
                id += n;
            }

            var updated = 0;
            while (updated < changes - inserts)
            {
                var n = Math.Min(random.Next(1, 101), changes - inserts - updated);
                await using var cmd = new NpgsqlCommand("UPDATE rows SET amount = amount + 1, at = now() WHERE id BETWEEN @a AND @b", conn);
                cmd.Parameters.AddWithValue("a", updated + 1L);
                cmd.Parameters.AddWithValue("b", (long)(updated + n));
                await cmd.ExecuteNonQueryAsync();
                updated += n;
            }
        }

        var endLsn = await Scalar<string>(sourceCs, "SELECT pg_current_wal_lsn()::text");
        Console.Error.WriteLine($"bench: {changes} changes committed in {sw.Elapsed.TotalSeconds:0.0} s; WAL end {endLsn}");

        // Baseline 1: pg_recvlogical decoding the same WAL, same plugin, publication and protocol.
        var recv = Stopwatch.StartNew();
        await RunProcessAsync(Path.Combine(legacy.BinDirectory, "pg_recvlogical"),
            "-h", legacy.Host, "-p", legacy.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres", "-d", "bench",
            "--slot", "bench_recvlogical", "--start", "--endpos", endLsn, "--no-loop",
            "-o", "proto_version=1", "-o", "publication_names=peeq_cdc_bench", "-f", "/dev/null");
        recv.Stop();

        // The pipeline: start, time until everything up to the end LSN is applied in the target.
        var peakBefore = PeakRssBytes();
        var pipe = Stopwatch.StartNew();
        app = PipelineHost.Build(config, kafka.Endpoint, Stages.All, null, LogLevel.Warning);
        await app.StartAsync();
        var goal = Lsn.Parse(endLsn);
        while (true)
        {
            var applied = await PipelineProgress.AppliedAsync(options, CancellationToken.None);
            if (applied.TryGetValue("bench", out var a) && a.EndLsn >= goal)
            {
                break;
            }

            await Task.Delay(20);
        }

        pipe.Stop();
        await app.StopAsync();
        var peakRss = PeakRssBytes();

        // Baseline 2: the same final rows, COPY'd out of the source and into the target through a staging
        // table with one set-based upsert: PostgreSQL's own bulk path for the apply side.
        await Exec(targetCs, "CREATE TABLE baseline_rows (LIKE public.rows INCLUDING ALL)");
        var copy = Stopwatch.StartNew();
        await using (var src = new NpgsqlConnection(sourceCs))
        await using (var dst = new NpgsqlConnection(targetCs))
        {
            await src.OpenAsync();
            await dst.OpenAsync();
            await using var tx = await dst.BeginTransactionAsync();
            await new NpgsqlCommand("CREATE TEMP TABLE stage (LIKE baseline_rows) ON COMMIT DROP", dst, tx).ExecuteNonQueryAsync();
            await using (var reader = await src.BeginRawBinaryCopyAsync("COPY rows TO STDOUT (FORMAT BINARY)"))
            await using (var writer = await dst.BeginRawBinaryCopyAsync("COPY stage FROM STDIN (FORMAT BINARY)"))
            {
                await reader.CopyToAsync(writer);
            }

            await new NpgsqlCommand("""
                INSERT INTO baseline_rows SELECT * FROM stage
                ON CONFLICT (id) DO UPDATE SET account = excluded.account, amount = excluded.amount, note = excluded.note, at = excluded.at
                """, dst, tx).ExecuteNonQueryAsync();
            await tx.CommitAsync();
        }

        copy.Stop();
        var equal = await Scalar<long>(targetCs, "SELECT count(*) FROM (SELECT * FROM rows EXCEPT SELECT * FROM baseline_rows) d") == 0
            && await Scalar<long>(targetCs, "SELECT count(*) FROM rows") == inserts;
        return new BenchResult(changes, pipe.Elapsed, recv.Elapsed, copy.Elapsed, peakRss, peakBefore, equal);
    }

    internal static long PeakRssBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }

    internal static async Task RunProcessAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} failed ({p.ExitCode}): {await err}");
        }
    }

    internal static async Task Exec(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await new NpgsqlCommand(sql, conn).ExecuteNonQueryAsync();
    }

    internal static async Task<T> Scalar<T>(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        return (T)(await new NpgsqlCommand(sql, conn).ExecuteScalarAsync())!;
    }
}

public sealed record BenchResult(int Changes, TimeSpan Pipeline, TimeSpan RecvLogical, TimeSpan CopyUpsert, long PeakRssBytes, long PeakRssBeforePipeline, bool TargetEqualsBaseline)
{
    public double PipelineRowsPerSecond => Changes / Pipeline.TotalSeconds;

    public double RecvLogicalRowsPerSecond => Changes / RecvLogical.TotalSeconds;

    public double Ratio => Pipeline.TotalSeconds / (RecvLogical.TotalSeconds + CopyUpsert.TotalSeconds);
}
