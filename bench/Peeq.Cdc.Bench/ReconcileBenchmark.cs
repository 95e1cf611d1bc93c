using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Sink.Apply;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Bench;

/// <summary>The figures of one reconcile benchmark run.</summary>
public sealed record ReconcileBenchResult(
    int Rows,
    double ReconcileSeconds,
    double CopySeconds,
    double Ratio,
    double RowsPerSecond,
    long PeakRssBytes,
    long BaselineRssBytes,
    long PeakManagedBytes,
    string Verdict,
    long RowsCompared,
    long DifferencesFound,
    int DifferencesInjected,
    IReadOnlyList<double> ReconcileRuns,
    IReadOnlyList<double> CopyRuns,
    double QuerySeconds,
    IReadOnlyList<double> QueryRuns,
    IReadOnlyList<double> CpuRuns,
    IReadOnlyList<string>? GcRuns = null,
    string? Gen0Budget = null);

/// <summary>
/// The reconciler on one table pair of N rows (transaction-db's transactions, the seed's largest table:
/// 2,000,000 rows) against a same-run baseline: a binary COPY of both sides ordered by key, run
/// concurrently, which is the least any row-by-row comparison has to read. The target is built directly
/// (rows, their lineage and an applied position, exactly as the Sink leaves them) rather than through the
/// pipeline, so the benchmark measures the reconciler alone. A few differences are injected so the
/// run also proves it finds them at this size. Memory is sampled throughout the run.
/// </summary>
public sealed class ReconcileBenchmark(int rows)
{
    private const string Table = """
        CREATE TABLE transactions (
            id uuid PRIMARY KEY, user_id uuid NOT NULL, item_id uuid, purchase_id uuid, price numeric(12,2) NOT NULL,
            quantity integer NOT NULL DEFAULT 1, currency varchar(3), status varchar(50), created_by_id uuid, created_on timestamptz NOT NULL)
        """;

    public async Task<ReconcileBenchResult> RunAsync()
    {
        await using var legacy = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "bench-rec-legacy" });
        await using var targetPg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "bench-rec-target" });
        var sourceCs = await legacy.CreateDatabaseAsync("transaction");
        var targetCs = await targetPg.CreateDatabaseAsync("peeq_commerce");
        var sw = Stopwatch.StartNew();
        await Exec(sourceCs, Table + $"""
            ;
            INSERT INTO transactions
            SELECT md5('t' || g)::uuid, md5('u' || (g % 100000))::uuid, md5('i' || (g % 5000))::uuid, md5('p' || (g / 3))::uuid,
                   ((g::bigint * 7919) % 100000) / 100.0, 1 + g % 4, CASE WHEN g % 10 = 0 THEN 'EUR' ELSE 'USD' END,
                   (ARRAY['PENDING', 'COMPLETED', 'FAILED', 'REFUNDED'])[1 + g % 4], md5('u' || (g % 100000))::uuid,
                   timestamptz '2024-01-01 00:00:00+00' + g * interval '1.000001 second'
            FROM generate_series(1, {rows}) g;
            ANALYZE transactions;
            """);
        Console.Error.WriteLine($"bench: {rows:N0} source rows in {sw.Elapsed.TotalSeconds:0.0} s");

        // The target as the Sink leaves it: the rows, their lineage, the applied position.
        sw.Restart();
        await using (var conn = new NpgsqlConnection(targetCs))
        {
            await conn.OpenAsync();
            await PipelineSchema.EnsureAsync(conn, CancellationToken.None);
            await Exec(targetCs, Table);
        }

        await using (var src = new NpgsqlConnection(sourceCs))
        await using (var dst = new NpgsqlConnection(targetCs))
        {
            await src.OpenAsync();
            await dst.OpenAsync();
            using var reader = await src.BeginRawBinaryCopyAsync("COPY transactions TO STDOUT (FORMAT BINARY)");
            await using var writer = await dst.BeginRawBinaryCopyAsync("COPY transactions FROM STDIN (FORMAT BINARY)");
            await reader.CopyToAsync(writer);
        }

        var lineage = TargetTables.LineageName(new Contracts.TableId("public", "transactions"));
        await Exec(targetCs, $"""
            CREATE TABLE peeq_cdc.{lineage} (id uuid NOT NULL, source text NOT NULL, origin_table text NOT NULL, origin_key jsonb NOT NULL,
                lsn pg_lsn NOT NULL, seq bigint NOT NULL, deleted boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL DEFAULT now(), rank integer, PRIMARY KEY (id));
            INSERT INTO peeq_cdc.{lineage} (id, source, origin_table, origin_key, lsn, seq)
            SELECT id, 'transaction', 'public.transactions', jsonb_build_object('id', id), '0/1000', 1 FROM transactions;
            CREATE INDEX {lineage}_origin ON peeq_cdc.{lineage} (source, origin_table, origin_key);
            INSERT INTO peeq_cdc.lineage_tables VALUES ('public.transactions', '{lineage}', ARRAY['id']);
            INSERT INTO peeq_cdc.applied_position (source, commit_lsn, end_lsn, seq) VALUES ('transaction', 'FFFFFFFF/0', 'FFFFFFFF/0', 0);
            -- Differences to find: a missing row, a changed price, one cent on another, an extra row.
            DELETE FROM transactions WHERE id = md5('t' || 1000)::uuid;
            UPDATE transactions SET status = 'TAMPERED' WHERE id = md5('t' || {rows / 4})::uuid;
            UPDATE transactions SET price = price + 0.01 WHERE id = md5('t' || {rows - 7})::uuid;
            INSERT INTO transactions VALUES ('00000000-0000-0000-0000-00000000beef', md5('u1')::uuid, NULL, NULL, 1, 1, 'USD', 'PENDING', NULL, now());
            """);
        // VACUUM cannot run inside the implicit transaction of a multi-statement command.
        await Exec(targetCs, "VACUUM ANALYZE transactions");
        await Exec(targetCs, $"VACUUM ANALYZE peeq_cdc.{lineage}");
        Console.Error.WriteLine($"bench: target built in {sw.Elapsed.TotalSeconds:0.0} s");

        var options = new PipelineOptions
        {
            Kafka = new KafkaOptions { BootstrapServers = "embedded" },
            Sources = [new SourceOptions { Name = "transaction", ConnectionString = sourceCs, Target = "commerce", Tables = ["transactions"] }],
            Targets = [new TargetOptions { Name = "commerce", ConnectionString = targetCs }],
            Reconcile = new ReconcileOptions { RecheckRounds = 0, WatermarkWait = TimeSpan.FromSeconds(30) },
        };
        var config = PipelineConfig.FromOptions(options);
        var mappings = new Dictionary<string, ITargetMapping> { ["commerce"] = new IdentityMapping("commerce", new HashSet<string> { "transaction" }) };

        // PEEQ_BENCH_LOG=information shows the reconciler's phases (each table's comparison time).
        using var logs = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.TimestampFormat = "HH:mm:ss.fff ").SetMinimumLevel(BenchRig.LogLevelFromEnvironment));
        var copyRuns = new List<double>();
        var queryRuns = new List<double>();
        var cpuRuns = new List<double>();
        var gcRuns = new List<string>();
        var reconcileRuns = new List<double>();
        long peakRss = 0, peakManaged = 0;
        ReconciliationReport? report = null;
        var baselineRss = Process.GetCurrentProcess().WorkingSet64;
        for (var i = 0; i < 2; i++)
        {
            copyRuns.Add(await CopyBothAsync(sourceCs, targetCs));
            Console.Error.WriteLine($"bench: binary COPY of both sides ordered by key: {copyRuns[^1]:0.00} s");
            queryRuns.Add(await QueriesBothAsync(sourceCs, targetCs, lineage));
            Console.Error.WriteLine($"bench: the reconciler's own two queries (text results), drained concurrently: {queryRuns[^1]:0.00} s");
            GC.Collect();
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    peakRss = Math.Max(peakRss, Process.GetCurrentProcess().WorkingSet64);
                    peakManaged = Math.Max(peakManaged, GC.GetTotalMemory(false));
                    await Task.Delay(50);
                }
            });
            var dir = Path.Combine(Path.GetTempPath(), "peeq-bench-reconcile", Guid.NewGuid().ToString("N")[..8]);
            var clock = Stopwatch.StartNew();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var gc0 = GcCounts.Take();
            report = await new Reconciliation(config, mappings, logs.CreateLogger("reconcile")).RunAsync(dir, CancellationToken.None);
            reconcileRuns.Add(clock.Elapsed.TotalSeconds);
            cpuRuns.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds);
            // The garbage collector's share of that CPU: collections by generation, their pauses, what was allocated.
            var gc1 = GcCounts.Take();
            gcRuns.Add($"{gc1.Gen0 - gc0.Gen0}/{gc1.Gen1 - gc0.Gen1}/{gc1.Gen2 - gc0.Gen2} collections (gen 0/1/2), "
                + $"{(gc1.Paused - gc0.Paused).TotalSeconds:0.00} s paused, {(gc1.Allocated - gc0.Allocated) / (double)rows:N0} bytes allocated a row");
            Console.Error.WriteLine($"bench: reconciler process CPU {cpuRuns[^1]:0.00} s; GC {gcRuns[^1]}");
            await sampling.CancelAsync();
            await sampler;
            Directory.Delete(dir, true);
            Console.Error.WriteLine($"bench: reconciliation: {reconcileRuns[^1]:0.00} s, {report.Summary}");
        }

        var reconcileSeconds = reconcileRuns.Min();
        var copySeconds = copyRuns.Min();
        return new ReconcileBenchResult(rows, reconcileSeconds, copySeconds, reconcileSeconds / copySeconds, rows / reconcileSeconds,
            peakRss, baselineRss, peakManaged, report!.Verdict.ToString(), report.Checksums.Sum(c => c.RowsCompared), report.Totals.Differences, 4, reconcileRuns, copyRuns,
            queryRuns.Min(), queryRuns, cpuRuns, gcRuns, Gen0BudgetInEffect());
    }

    /// <summary>The gen-0 allocation budget cap the GC of this process runs with (the GC reports its effective value), and where it came from.</summary>
    public static string Gen0BudgetInEffect()
    {
        var cap = GC.GetConfigurationVariables().TryGetValue("GCGen0MaxBudget", out var v) ? Convert.ToInt64(v, CultureInfo.InvariantCulture) : 0;
        var set = Environment.GetEnvironmentVariable(ReconcileBench.Gen0BudgetVariable);
        return $"{cap / 1048576.0:0.#} MiB ({(string.IsNullOrEmpty(set) ? "the runtime's default" : $"{ReconcileBench.Gen0BudgetVariable}={set}")})";
    }

    /// <summary>Both sides read in full, ordered by key, in binary, at the same time: the floor for any full comparison.</summary>
    private static async Task<double> CopyBothAsync(string sourceCs, string targetCs)
    {
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Drain(sourceCs), Drain(targetCs));
        return clock.Elapsed.TotalSeconds;

        static async Task Drain(string cs)
        {
            await using var conn = new NpgsqlConnection(cs);
            await conn.OpenAsync();
            using var raw = await conn.BeginRawBinaryCopyAsync("COPY (SELECT * FROM transactions ORDER BY id) TO STDOUT (FORMAT BINARY)");
            var buffer = new byte[1 << 16];
            while (await raw.ReadAsync(buffer, 0, buffer.Length) > 0)
            {
            }
        }
    }

    /// <summary>
    /// The reconciler's own two queries, with the SQL it sends for this pair (source rows in key order; target rows
    /// joined to their lineage in origin-key order) and text results as it reads them, drained concurrently without
    /// looking at a value: what the servers alone take for a reconciliation, below which no client work can go.
    /// </summary>
    private static async Task<double> QueriesBothAsync(string sourceCs, string targetCs, string lineage)
    {
        const string columns = "\"id\", \"user_id\", \"item_id\", \"purchase_id\", \"price\", \"quantity\", \"currency\", \"status\", \"created_by_id\", \"created_on\"";
        var target = $"""
            SELECT l.origin_key->>'id', l.origin_key::text, l.lsn::text, {string.Join(", ", columns.Split(", ").Select(c => "t." + c))}
            FROM "peeq_cdc"."{lineage}" l JOIN "public"."transactions" t ON t."id" = l."id"
            WHERE l.source = 'transaction' AND l.origin_table = 'public.transactions' AND NOT l.deleted
            ORDER BY (l.origin_key->>'id') COLLATE "C"
            """;
        var clock = Stopwatch.StartNew();
        var sides = await Task.WhenAll(Drain(sourceCs, $"SELECT {columns} FROM \"public\".\"transactions\" t ORDER BY t.\"id\""), Drain(targetCs, target));
        Console.Error.WriteLine($"bench: the reconciler's source query alone {sides[0]:0.00} s, its target query (lineage join, origin-key order) {sides[1]:0.00} s");
        return clock.Elapsed.TotalSeconds;

        static async Task<double> Drain(string cs, string sql)
        {
            var clock = Stopwatch.StartNew();
            await using var conn = new NpgsqlConnection(cs);
            await conn.OpenAsync();
            await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
            await using var cmd = new NpgsqlCommand(sql, conn, tx) { CommandTimeout = 0, AllResultTypesAreUnknown = true };
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
            }

            return clock.Elapsed.TotalSeconds;
        }
    }

    private static async Task Exec(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync();
    }
}
