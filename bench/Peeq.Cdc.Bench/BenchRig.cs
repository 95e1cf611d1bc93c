using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Bench;

/// <summary>
/// One legacy and one target PostgreSQL 15 (commit timestamps tracked on both, so latency is read from
/// the servers' own commit times), the embedded broker, and a one-table source <c>bench</c> whose
/// identity target is created by the Sink. Every benchmark that runs the pipeline builds on this.
/// </summary>
public sealed class BenchRig : IAsyncDisposable
{
    public const string Table = "CREATE TABLE rows (id bigint PRIMARY KEY, account uuid NOT NULL, amount numeric(12,2) NOT NULL, note text, at timestamptz NOT NULL)";

    /// <summary>Inserts rows 1..<paramref name="count"/> of <see cref="Table"/> (one statement, one transaction).</summary>
    public static string InsertRows(long count) =>
        $"INSERT INTO rows SELECT g, md5(g::text)::uuid, (g % 100000) / 100.0, 'row ' || g, now() FROM generate_series(1, {count}) g";

    private BenchRig(EmbeddedPostgres legacy, EmbeddedPostgres target, EmbeddedKafka kafka, string sourceCs, string targetCs)
    {
        Legacy = legacy;
        TargetServer = target;
        Kafka = kafka;
        SourceCs = sourceCs;
        TargetCs = targetCs;
        Options = RowsPipeline(kafka.BootstrapServers, "bench", "bench", sourceCs, targetCs);
    }

    /// <summary>A pipeline of one source whose one table is <see cref="Table"/>, into the target "target" (no HTTP, 1 s heartbeats).</summary>
    public static PipelineOptions RowsPipeline(string bootstrapServers, string topicPrefix, string source, string sourceCs, string targetCs) => new()
    {
        Kafka = new KafkaOptions { BootstrapServers = bootstrapServers, TopicPrefix = topicPrefix },
        Sources = [new SourceOptions { Name = source, ConnectionString = sourceCs, Target = "target", Tables = ["rows"] }],
        Targets = [new TargetOptions { Name = "target", ConnectionString = targetCs }],
        Capture = new CaptureOptions { HeartbeatInterval = TimeSpan.FromSeconds(1) },
        Http = new HttpOptions { Urls = "" },
    };

    public EmbeddedPostgres Legacy { get; }

    public EmbeddedPostgres TargetServer { get; }

    public EmbeddedKafka Kafka { get; }

    public string SourceCs { get; }

    public string TargetCs { get; }

    public PipelineOptions Options { get; }

    /// <summary>Starts both servers and the broker and creates the source table (optionally filled with <paramref name="preload"/> rows).</summary>
    public static async Task<BenchRig> StartAsync(string name, long preload = 0)
    {
        var settings = StatementProfile.Settings;
        var legacy = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = $"bench-{name}-legacy", Settings = settings });
        var target = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = $"bench-{name}-target", Settings = settings });
        var kafka = EmbeddedKafka.Start();
        var sourceCs = await legacy.CreateDatabaseAsync("bench");
        var targetCs = await target.CreateDatabaseAsync("bench_target");
        await Exec(sourceCs, Table);
        if (preload > 0)
        {
            await Exec(sourceCs, InsertRows(preload));
            await Exec(sourceCs, "VACUUM ANALYZE rows");
        }

        return new BenchRig(legacy, target, kafka, sourceCs, targetCs);
    }

    public PipelineConfig Config => PipelineConfig.FromOptions(Options);

    /// <summary>The pipeline's log level in benchmarks: Warning, or <c>PEEQ_BENCH_LOG</c> (debug, information) for phase timings.</summary>
    public static LogLevel LogLevelFromEnvironment =>
        Environment.GetEnvironmentVariable("PEEQ_BENCH_LOG")?.ToLowerInvariant() switch
        {
            "debug" => LogLevel.Debug,
            "information" or "info" => LogLevel.Information,
            _ => LogLevel.Warning,
        };

    /// <summary>Starts the given stages in this process.</summary>
    public async Task<Microsoft.AspNetCore.Builder.WebApplication> StartPipelineAsync(Stages stages)
    {
        var app = PipelineHost.Build(Config, Kafka.Endpoint, stages, null, LogLevelFromEnvironment);
        await app.StartAsync();
        return app;
    }

    /// <summary>Starts everything once so slot, publication and target table exist, waits for it to drain, and stops.</summary>
    public async Task PrepareAsync()
    {
        var app = await StartPipelineAsync(Stages.All);
        await PipelineProgress.WaitForDrainAsync(Options, TimeSpan.FromSeconds(120), CancellationToken.None);
        await app.StopAsync();
        await app.DisposeAsync();
        await MockGroupsSettledAsync();
    }

    /// <summary>
    /// The embedded broker (librdkafka's mock cluster, rdkafka_mock_cgrp.c) answers the last member's LeaveGroup by
    /// holding the group in a rebalance for <c>session.timeout.ms</c> − 1 s (9 s here) before it is empty, and a consumer
    /// that joins in that time waits the rest of it out; a real broker empties the group at once. A benchmark that
    /// stops its set-up pipeline and starts the timed one waits the 10 s out here, or up to 9 s of every figure was
    /// the mock's timer (seen in the debug log: Transform and Sink assigned 7.2 s after they began consuming).
    /// </summary>
    public static Task MockGroupsSettledAsync() => Task.Delay(TimeSpan.FromSeconds(10.5));

    /// <summary>
    /// The backlog: <paramref name="changes"/> row changes, half inserts of new ids after
    /// <paramref name="firstId"/>, half updates of them, in transactions of 1–100 rows. Returns the WAL
    /// end and the number of transactions.
    /// </summary>
    public async Task<(string EndLsn, int Transactions)> WriteBacklogAsync(int changes, long firstId = 0)
    {
        var inserts = changes / 2;
        var transactions = 0;
        await using (var conn = new NpgsqlConnection(SourceCs))
        {
            await conn.OpenAsync();
            var random = new Random(7);
            var id = 0;
            while (id < inserts)
            {
                var n = Math.Min(random.Next(1, 101), inserts - id);
                await using var cmd = new NpgsqlCommand(
                    "INSERT INTO rows SELECT g, md5(g::text)::uuid, (g % 100000) / 100.0, 'row ' || g, now() FROM generate_series(@a, @b) g", conn);
                cmd.Parameters.AddWithValue("a", firstId + id + 1L);
                cmd.Parameters.AddWithValue("b", firstId + id + n);
                await cmd.ExecuteNonQueryAsync();
                id += n;
                transactions++;
            }

            var updated = 0;
            while (updated < changes - inserts)
            {
                var n = Math.Min(random.Next(1, 101), changes - inserts - updated);
                await using var cmd = new NpgsqlCommand("UPDATE rows SET amount = amount + 1, at = now() WHERE id BETWEEN @a AND @b", conn);
                cmd.Parameters.AddWithValue("a", firstId + updated + 1L);
                cmd.Parameters.AddWithValue("b", firstId + updated + n);
                await cmd.ExecuteNonQueryAsync();
                updated += n;
                transactions++;
            }
        }

        return (await Scalar<string>(SourceCs, "SELECT pg_current_wal_lsn()::text"), transactions);
    }

    /// <summary>pg_recvlogical decoding from <paramref name="slot"/> up to <paramref name="endLsn"/> with pgoutput and the pipeline's publication.</summary>
    public async Task<TimeSpan> RecvLogicalAsync(string slot, string endLsn)
    {
        var sw = Stopwatch.StartNew();
        await RunProcessAsync(Path.Combine(Legacy.BinDirectory, "pg_recvlogical"),
            "-h", Legacy.Host, "-p", Legacy.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", "bench",
            "--slot", slot, "--start", "--endpos", endLsn, "--no-loop",
            "-o", "proto_version=1", "-o", "publication_names=peeq_cdc_bench", "-f", "/dev/null");
        return sw.Elapsed;
    }

    /// <summary>Waits until the target has applied the source up to <paramref name="goal"/>.</summary>
    public async Task WaitAppliedAsync(Lsn goal, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var applied = await PipelineProgress.AppliedAsync(Options, CancellationToken.None);
            if (applied.TryGetValue("bench", out var a) && a.EndLsn >= goal)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the target did not reach {goal} within {timeout}");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>
    /// Same final rows as the target's <c>rows</c>, COPY'd out of the source and into <c>baseline_rows</c>
    /// through a staging table with one set-based upsert: PostgreSQL's own bulk path for the apply side.
    /// </summary>
    public Task<TimeSpan> CopyUpsertBaselineAsync() => CopyUpsertBaselineAsync(SourceCs, TargetCs);

    /// <summary>The baseline from <paramref name="fromCs"/>'s <c>rows</c> into <paramref name="targetCs"/>'s <c>baseline_rows</c>.</summary>
    public static async Task<TimeSpan> CopyUpsertBaselineAsync(string fromCs, string targetCs)
    {
        await Exec(targetCs, "CREATE TABLE baseline_rows (LIKE public.rows INCLUDING ALL)");
        var copy = Stopwatch.StartNew();
        await using (var src = new NpgsqlConnection(fromCs))
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

        return copy.Elapsed;
    }

    /// <summary>True when the target's rows equal <c>baseline_rows</c> and number <paramref name="expected"/>.</summary>
    public async Task<bool> TargetEqualsBaselineAsync(long expected) =>
        await Scalar<long>(TargetCs, "SELECT count(*) FROM (SELECT * FROM rows EXCEPT SELECT * FROM baseline_rows) d") == 0
        && await Scalar<long>(TargetCs, "SELECT count(*) FROM (SELECT * FROM baseline_rows EXCEPT SELECT * FROM rows) d") == 0
        && await Scalar<long>(TargetCs, "SELECT count(*) FROM rows") == expected;

    public async ValueTask DisposeAsync()
    {
        Kafka.Dispose();
        await TargetServer.DisposeAsync();
        await Legacy.DisposeAsync();
    }

    /// <summary>This process's peak resident memory since the last <see cref="ResetPeakRss"/>.</summary>
    public static long PeakRssBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }

    /// <summary>Resets the kernel's peak-RSS mark of this process to its current RSS (Linux: clear_refs 5).</summary>
    public static void ResetPeakRss()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public static async Task RunProcessAsync(string file, params string[] args)
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

    public static async Task Exec(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync();
    }

    public static async Task<T> Scalar<T>(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        return (T)(await cmd.ExecuteScalarAsync())!;
    }
}
