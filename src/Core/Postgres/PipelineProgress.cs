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
    /// The configured tables of each Capture source whose snapshot the target does not yet hold whole
    /// (peeq_cdc.source_table_state not 'done', or no state yet). Snapshots are read in chunks while
    /// streaming continues, so an applied position past the source's WAL position does not by itself
    /// mean the target holds the source's rows. Debezium sources take no snapshot of ours and are left out.
    /// </summary>
    public static async Task<Dictionary<string, List<TableId>>> SnapshotsPendingAsync(PipelineOptions o, CancellationToken ct)
    {
        var done = new HashSet<(string Source, string Schema, string Table)>();
        foreach (var t in o.Targets)
        {
            await using var conn = await PgConnections.OpenAsync(t.ConnectionString, $"target '{t.Name}'", ct);
            var exists = await conn.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT to_regclass('peeq_cdc.source_table_state') IS NOT NULL", cancellationToken: ct));
            if (!exists)
            {
                continue;
            }

            foreach (var r in await conn.QueryAsync<(string source, string schema, string table)>(new CommandDefinition(
                "SELECT source, source_schema_name, source_table_name FROM peeq_cdc.source_table_state WHERE snapshot_state = 'done'", cancellationToken: ct)))
            {
                done.Add((r.source, r.schema, r.table));
            }
        }

        var pending = new Dictionary<string, List<TableId>>();
        foreach (var s in o.Sources.Where(s => !s.IsDebezium))
        {
            var missing = s.Tables.Select(x => TableId.Parse(x)).Where(t => !done.Contains((s.Name, t.Schema, t.Name))).ToList();
            if (missing.Count > 0)
            {
                pending[s.Name] = missing;
            }
        }

        return pending;
    }

    /// <summary>
    /// Waits until every source has been applied at least up to its WAL position at the time of the
    /// call (heartbeats carry quiet sources past it) and every table's snapshot is complete in its
    /// target. Returns false on timeout.
    /// </summary>
    public static async Task<bool> WaitForDrainAsync(PipelineOptions o, TimeSpan timeout, CancellationToken ct)
    {
        var goal = await SourcePositionsAsync(o, ct);
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var applied = await AppliedAsync(o, ct);
            if (goal.All(g => applied.TryGetValue(g.Key, out var a) && a.EndLsn >= g.Value)
                && (await SnapshotsPendingAsync(o, ct)).Count == 0)
            {
                return true;
            }

            await Task.Delay(200, ct);
        }

        return false;
    }
}
