using System.Diagnostics;
using Npgsql;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Workload;
using Peeq.Cdc.Workload.Seeding;

namespace Peeq.Cdc.Bench;

/// <summary>
/// How seed-data fills its largest table: binary COPY of rows generated in this process (what it does)
/// against the server-side alternative, INSERT … SELECT over generate_series with values hashed from the
/// seed in SQL. Same server, same table shape without indexes, same row count, alternated twice; the
/// figure is the ratio of the best times.
/// </summary>
public sealed class SeedBenchmark(int rows)
{
    public sealed record Result(int Rows, double CopySeconds, double GenerateSeriesSeconds, double Ratio, double[] CopyRuns, double[] GenerateSeriesRuns);

    public async Task<Result> RunAsync()
    {
        await using var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "bench-seed" });
        var copyRuns = new List<double>();
        var seriesRuns = new List<double>();
        for (var round = 0; round < 2; round++)
        {
            copyRuns.Add(await CopyAsync(pg, round));
            seriesRuns.Add(await GenerateSeriesAsync(pg, round));
        }

        var copy = copyRuns.Min();
        var series = seriesRuns.Min();
        return new Result(rows, copy, series, series / copy, [.. copyRuns], [.. seriesRuns]);
    }

    /// <summary>seed-data's own path for transaction-db (its COPY phase only, as the summary reports it).</summary>
    private async Task<double> CopyAsync(EmbeddedPostgres pg, int round)
    {
        var world = LegacyWorld.OnOneServer(pg.ConnectionString(), $"copy{round}_");
        var summary = await new LegacySeeder(world, new SeedOptions { Scale = rows / 2_000_000.0, Recreate = true, Only = ["transaction"] }).RunAsync(CancellationToken.None);
        var db = summary.Databases.Single();
        if (db.Rows != rows)
        {
            throw new InvalidOperationException($"seed-data wrote {db.Rows} rows, expected {rows}");
        }

        return db.CopySeconds;
    }

    /// <summary>The same table filled by the server alone: uuids and values from md5/hashtext of (seed, row).</summary>
    private async Task<double> GenerateSeriesAsync(EmbeddedPostgres pg, int round)
    {
        var cs = await pg.CreateDatabaseAsync($"series{round}");
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await Exec(conn, LegacyCatalog.Get("transaction").Schema);
        await Exec(conn, "ALTER TABLE transactions DROP CONSTRAINT transactions_pkey; DROP INDEX idx_transactions_user, idx_transactions_item, idx_transactions_purchase;");
        var sw = Stopwatch.StartNew();
        await Exec(conn, $"""
            INSERT INTO transactions (id, user_id, item_id, purchase_id, price, quantity, currency, status, created_by_id, created_on)
            SELECT md5('1:id:' || g)::uuid, md5('1:user:' || (g % 100000))::uuid, md5('1:item:' || (g % 100000))::uuid, md5('1:checkout:' || (g / 2))::uuid,
                   (abs(hashtext('1:price:' || g)) % 100000) / 100.0, 1 + (abs(hashtext('1:qty:' || g)) % 7 = 0)::int, 'USD',
                   (ARRAY['COMPLETED', 'PENDING', 'FAILED', 'REFUNDED'])[1 + abs(hashtext('1:status:' || g)) % 4], md5('1:user:' || (g % 100000))::uuid,
                   timestamptz '2019-01-01' + (abs(hashtext('1:at:' || g)) % 220000000) * interval '1 second'
            FROM generate_series(1, {rows}) g
            """);
        return sw.Elapsed.TotalSeconds;
    }

    private static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync();
    }
}

/// <summary><c>bench/run seed [rows]</c>: runs <see cref="SeedBenchmark"/> and writes its result beside the others.</summary>
public static class SeedRun
{
    public static async Task<int> RunAsync(int rows, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var r = await new SeedBenchmark(rows).RunAsync();
        var stamp = DateTime.UtcNow.ToString("yyyy-MM-dd-HHmm", System.Globalization.CultureInfo.InvariantCulture);
        var md = $"""
            # seed-data loading benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC

            {r.Rows:N0} rows of transaction-db `transactions` (the largest legacy table), without indexes, into PostgreSQL 15
            on this machine ({Environment.ProcessorCount} cores), best of two alternating runs each.

            | path | best | runs |
            |---|---|---|
            | binary COPY of rows generated in-process (seed-data) | {r.CopySeconds:0.00} s, {r.Rows / r.CopySeconds:N0} rows/s | {string.Join(", ", r.CopyRuns.Select(x => x.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)))} |
            | INSERT … SELECT generate_series, values hashed in SQL | {r.GenerateSeriesSeconds:0.00} s, {r.Rows / r.GenerateSeriesSeconds:N0} rows/s | {string.Join(", ", r.GenerateSeriesRuns.Select(x => x.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)))} |
            | ratio generate_series / COPY | {r.Ratio:0.00}× | |
            """;
        Console.WriteLine(md);
        await File.WriteAllTextAsync(Path.Combine(outDir, $"{stamp}-seed.md"), md + "\n");
        await File.WriteAllTextAsync(Path.Combine(outDir, $"{stamp}-seed.json"), System.Text.Json.JsonSerializer.Serialize(r, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }
}
