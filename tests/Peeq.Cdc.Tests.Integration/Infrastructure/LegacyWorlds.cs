using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Workload;
using Peeq.Cdc.Workload.Seeding;

namespace Peeq.Cdc.Tests.Integration.Infrastructure;

/// <summary>Seeded legacy worlds on the shared test server, and queries across their databases.</summary>
public static class LegacyWorlds
{
    /// <summary>Seeds the 22 databases (or <paramref name="only"/>) under <paramref name="prefix"/> on the shared server.</summary>
    public static async Task<(Workload.LegacyWorld World, SeedSummary Summary)> SeedAsync(string prefix, long seed, double scale = 0.01, IReadOnlyCollection<string>? only = null)
    {
        var pg = await SharedPostgres.GetAsync();
        var world = Workload.LegacyWorld.OnOneServer(pg.ConnectionString(), prefix);
        var summary = await new LegacySeeder(world, new SeedOptions { Seed = seed, Scale = scale, Recreate = true, Only = only }).RunAsync(CancellationToken.None);
        return (world, summary);
    }

    /// <summary>md5 of every row's text, in text order, per table (<c>database.table</c>).</summary>
    public static async Task<Dictionary<string, string>> ChecksumsAsync(Workload.LegacyWorld world)
    {
        var sums = new Dictionary<string, string>();
        foreach (var db in world.Databases)
        {
            await using var conn = await OpenAsync(world, db.Key);
            foreach (var table in db.Tables)
            {
                await using var cmd = new NpgsqlCommand(
                    $"SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) || ':' || count(*) FROM {Sql.QuoteIdent(table)} t", conn);
                sums[$"{db.Key}.{table}"] = (string)(await cmd.ExecuteScalarAsync())!;
            }
        }

        return sums;
    }

    public static async Task<NpgsqlConnection> OpenAsync(Workload.LegacyWorld world, string db)
    {
        var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(world.ConnectionString(db)) { Timezone = "UTC" }.ConnectionString);
        await conn.OpenAsync();
        return conn;
    }

    public static async Task<T> ScalarAsync<T>(Workload.LegacyWorld world, string db, string sql)
    {
        await using var conn = await OpenAsync(world, db);
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>The first column of every row, as text (null rows left out).</summary>
    public static async Task<List<string>> ColumnAsync(Workload.LegacyWorld world, string db, string sql)
    {
        await using var conn = await OpenAsync(world, db);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var list = new List<string>();
        while (await reader.ReadAsync())
        {
            if (!reader.IsDBNull(0))
            {
                list.Add(reader.GetValue(0).ToString()!);
            }
        }

        return list;
    }

    /// <summary>Rows of <paramref name="fromSql"/> (one text value, or a text[] of which any element counts) found / not found in <paramref name="toSql"/> of another database.</summary>
    public static async Task<long> RowsAsync(Workload.LegacyWorld world, string fromDb, string fromSql, string toDb, string toSql, bool found)
    {
        var set = (await ColumnAsync(world, toDb, toSql)).ToHashSet(StringComparer.Ordinal);
        await using var conn = await OpenAsync(world, fromDb);
        await using var cmd = new NpgsqlCommand(fromSql, conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        long n = 0;
        while (await reader.ReadAsync())
        {
            var values = reader.GetValue(0) switch
            {
                string[] a => a,
                string s => [s],
                _ => [],
            };
            if (values.Length == 0)
            {
                continue;
            }

            var hit = found ? values.Any(set.Contains) : values.Any(v => !set.Contains(v));
            if (hit)
            {
                n++;
            }
        }

        return n;
    }
}
