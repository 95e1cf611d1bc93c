using Dapper;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Postgres;

/// <summary>How far each source has been applied, compared with where the source's WAL is now.</summary>
public static class PipelineProgress
{
    /// <summary>The source servers' current WAL positions.</summary>
    public static async Task<Dictionary<string, Lsn>> SourcePositionsAsync(PipelineOptions o, CancellationToken ct)
    {
        var result = new Dictionary<string, Lsn>();
        foreach (var s in o.Sources)
        {
            await using var conn = await PgConnections.OpenAsync(s.ConnectionString, $"source '{s.Name}'", ct);
            var text = await conn.ExecuteScalarAsync<string>(new CommandDefinition("SELECT pg_current_wal_lsn()::text", cancellationToken: ct));
            result[s.Name] = Lsn.Parse(text!);
        }

        return result;
    }

    /// <summary>Every source's applied position, read from its target.</summary>
    public static async Task<Dictionary<string, AppliedPosition>> AppliedAsync(PipelineOptions o, CancellationToken ct)
    {
        var result = new Dictionary<string, AppliedPosition>();
        foreach (var t in o.Targets)
        {
            await using var conn = await PgConnections.OpenAsync(t.ConnectionString, $"target '{t.Name}'", ct);
            foreach (var (source, p) in await PipelineSchema.ReadAppliedAsync(conn, ct))
            {
                result[source] = p;
            }
        }

        return result;
    }

    /// <summary>
    /// Waits until every source has been applied at least up to its WAL position at the time of the
    /// call (heartbeats carry quiet sources past it). Returns false on timeout.
    /// </summary>
    public static async Task<bool> WaitForDrainAsync(PipelineOptions o, TimeSpan timeout, CancellationToken ct)
    {
        var goal = await SourcePositionsAsync(o, ct);
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var applied = await AppliedAsync(o, ct);
            if (goal.All(g => applied.TryGetValue(g.Key, out var a) && a.EndLsn >= g.Value))
            {
                return true;
            }

            await Task.Delay(200, ct);
        }

        return false;
    }
}
