using Npgsql;
using Peeq.Cdc.Embedded;

namespace Peeq.Cdc.Tests.Integration.Infrastructure;

/// <summary>
/// One PostgreSQL 15 server for the whole test run (started on first use, stopped at process exit).
/// Each test class makes its own databases, named after the class, so classes never see each other's data.
/// A machine without the server binaries fails every test that needs them, with the reason.
/// </summary>
public static class SharedPostgres
{
    private static readonly Lazy<Task<EmbeddedPostgres>> Server = new(StartAsync);

    public static Task<EmbeddedPostgres> GetAsync() => Server.Value;

    private static async Task<EmbeddedPostgres> StartAsync()
    {
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions
        {
            Name = "tests",
            MaxReplicationSlots = 100,
            // The whole run shares this server, and test classes run side by side: ConsolidationTests alone (22 sources,
            // 6 targets, every stage's pools) and SeedDataTests beside it exhausted 500 once (2026-11-27 10:50, "too
            // many clients already" failing the 12 tests that connected in the next 10 s). Connections cost only
            // when used.
            MaxConnections = 1000,
            Settings = new Dictionary<string, string> { ["wal_sender_timeout"] = "60s" },
        });
        AppDomain.CurrentDomain.ProcessExit += (_, _) => pg.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return pg;
    }

    /// <summary>A fresh database named <paramref name="name"/> (dropped first, with any slots on it).</summary>
    public static async Task<string> CreateDatabaseAsync(string name)
    {
        var pg = await GetAsync();
        return await pg.CreateDatabaseAsync(name);
    }

    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    public static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }
}
