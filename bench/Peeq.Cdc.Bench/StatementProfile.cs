using System.Globalization;
using Npgsql;

namespace Peeq.Cdc.Bench;

/// <summary>
/// With <c>PEEQ_BENCH_STATEMENTS=1</c>, the target server loads pg_stat_statements and a benchmark prints
/// where the server's time went (statement, calls, total and mean time) next to the wall time: the
/// database side of a profile.
/// </summary>
public static class StatementProfile
{
    public static bool Enabled => Environment.GetEnvironmentVariable("PEEQ_BENCH_STATEMENTS") == "1";

    public static IReadOnlyDictionary<string, string> Settings => Enabled
        ? new Dictionary<string, string> { ["shared_preload_libraries"] = "'pg_stat_statements,auto_explain'", ["track_commit_timestamp"] = "on", ["pg_stat_statements.track"] = "all",
            ["auto_explain.log_min_duration"] = "'250ms'", ["auto_explain.log_analyze"] = "on", ["auto_explain.log_nested_statements"] = "on",
        }
        : new Dictionary<string, string> { ["track_commit_timestamp"] = "on" };

    public static async Task ReportAsync(string cs, TimeSpan wall, string? serverLog = null)
    {
        if (!Enabled)
        {
            return;
        }

        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await new NpgsqlCommand("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", conn).ExecuteNonQueryAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT calls, total_exec_time, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 160)
            FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25
            """, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        if (serverLog is not null && File.Exists(serverLog))
        {
            var copy = Path.Combine(Path.GetTempPath(), $"peeq-bench-{Path.GetFileName(Path.GetDirectoryName(serverLog))}.log");
            File.Copy(serverLog, copy, overwrite: true);
            Console.Error.WriteLine($"bench: plans of statements over 250 ms (auto_explain) in {copy}");
        }

        Console.Error.WriteLine($"bench: server time by statement (wall {wall.TotalSeconds:0.00} s)");
        while (await r.ReadAsync())
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {r.GetDouble(1) / 1000,8:0.000} s {r.GetInt64(0),7} calls {r.GetInt64(2),8} rows  {r.GetString(3)}"));
        }
    }
}
