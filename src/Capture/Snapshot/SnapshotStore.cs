using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Capture.Snapshot;

/// <summary>A table's snapshot as far as the target holds it (peeq_cdc.source_table_state, written by the Sink with the chunks).</summary>
public sealed record TableSnapshotState(
    TableId Table,
    long Generation,
    bool Done,
    long Chunk,
    JsonObject? LastKey,
    long Rows,
    long TotalRows,
    string? ParkedReason,
    DateTimeOffset StartedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? FinishedAt);

/// <summary>A snapshot a table needs: a generation from its beginning, or resumed after <see cref="ResumeAfter"/>.</summary>
public sealed record SnapshotWork(TableId Table, long Generation, long Chunk, JsonObject? ResumeAfter, long Rows)
{
    public bool Resumes => ResumeAfter is not null || Chunk > 0;
}

/// <summary>
/// Snapshot bookkeeping in the target's peeq_cdc schema: the progress the Sink recorded (read back to
/// resume) and the re-snapshot requests operators make with <c>peeq-cdc snapshot</c>.
/// </summary>
public static class SnapshotStore
{
    private sealed record StateRow(string source_schema_name, string source_table_name, long snapshot_generation, string snapshot_state, long snapshot_chunk,
        string? snapshot_last_key, long snapshot_rows, long snapshot_total_rows, string? parked_reason, DateTime snapshot_started_at, DateTime updated_at, DateTime? snapshot_finished_at);

    private static async Task<bool> ExistsAsync(NpgsqlConnection conn, CancellationToken ct) =>
        await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT to_regclass('peeq_cdc.source_table_state') IS NOT NULL AND to_regclass('peeq_cdc.snapshot_requests') IS NOT NULL", cancellationToken: ct));

    /// <summary>Every table's recorded snapshot state for <paramref name="source"/>; empty before the Sink created the schema.</summary>
    public static async Task<Dictionary<TableId, TableSnapshotState>> ReadAsync(NpgsqlConnection conn, string source, CancellationToken ct)
    {
        if (!await ExistsAsync(conn, ct))
        {
            return [];
        }

        var rows = await conn.QueryAsync<StateRow>(new CommandDefinition("""
            SELECT source_schema_name, source_table_name, snapshot_generation, snapshot_state, snapshot_chunk, snapshot_last_key::text AS snapshot_last_key,
                   snapshot_rows, snapshot_total_rows, parked_reason, snapshot_started_at, updated_at, snapshot_finished_at
            FROM peeq_cdc.source_table_state WHERE source = @source
            """, new { source }, cancellationToken: ct));
        return rows.ToDictionary(
            r => new TableId(r.source_schema_name, r.source_table_name),
            r => new TableSnapshotState(
                new TableId(r.source_schema_name, r.source_table_name),
                r.snapshot_generation,
                r.snapshot_state == "done",
                r.snapshot_chunk,
                r.snapshot_last_key is null ? null : JsonNode.Parse(r.snapshot_last_key) as JsonObject,
                r.snapshot_rows,
                r.snapshot_total_rows,
                r.parked_reason,
                Utc(r.snapshot_started_at),
                Utc(r.updated_at),
                r.snapshot_finished_at is { } f ? Utc(f) : null));
    }

    /// <summary>The newest re-snapshot request id per table of <paramref name="source"/>.</summary>
    public static async Task<Dictionary<TableId, long>> LatestRequestsAsync(NpgsqlConnection conn, string source, CancellationToken ct)
    {
        if (!await ExistsAsync(conn, ct))
        {
            return [];
        }

        var rows = await conn.QueryAsync<(string s, string t, long id)>(new CommandDefinition("""
            SELECT source_schema_name, source_table_name, max(id) FROM peeq_cdc.snapshot_requests WHERE source = @source GROUP BY 1, 2
            """, new { source }, cancellationToken: ct));
        return rows.ToDictionary(r => new TableId(r.s, r.t), r => r.id);
    }

    /// <summary>Records a request to re-snapshot <paramref name="table"/>; returns its id (the generation it will run as).</summary>
    public static async Task<long> RequestAsync(NpgsqlConnection conn, string source, TableId table, string requestedBy, CancellationToken ct) =>
        await conn.ExecuteScalarAsync<long>(new CommandDefinition("""
            INSERT INTO peeq_cdc.snapshot_requests (source, source_table, source_schema_name, source_table_name, requested_by)
            VALUES (@source, @display, @schema, @name, @requestedBy) RETURNING id
            """, new { source, display = table.ToString(), schema = table.Schema, name = table.Name, requestedBy }, cancellationToken: ct));

    /// <summary>
    /// Forgets the snapshot state of tables no longer captured, so a table added again later is taken
    /// again from its beginning (its changes in between were not captured).
    /// </summary>
    public static async Task<int> ForgetAsync(NpgsqlConnection conn, string source, IReadOnlyCollection<TableId> keep, CancellationToken ct)
    {
        if (!await ExistsAsync(conn, ct))
        {
            return 0;
        }

        return await conn.ExecuteAsync(new CommandDefinition("""
            DELETE FROM peeq_cdc.source_table_state s
            WHERE s.source = @source
              AND NOT EXISTS (SELECT 1 FROM unnest(@schemas::text[], @names::text[]) AS k(s, t) WHERE k.s = s.source_schema_name AND k.t = s.source_table_name)
            """, new { source, schemas = keep.Select(t => t.Schema).ToArray(), names = keep.Select(t => t.Name).ToArray() }, cancellationToken: ct));
    }

    /// <summary>
    /// Which tables need a snapshot and from where: a table the target has no record of (first capture,
    /// or added to the config) from its beginning; one whose snapshot was interrupted after its last
    /// recorded chunk; one with a request newer than its recorded generation from the beginning, as
    /// that request's generation.
    /// </summary>
    public static List<SnapshotWork> Plan(IEnumerable<TableId> tables, IReadOnlyDictionary<TableId, TableSnapshotState> states, IReadOnlyDictionary<TableId, long> requests)
    {
        var work = new List<SnapshotWork>();
        foreach (var t in tables.OrderBy(t => t))
        {
            var requested = requests.GetValueOrDefault(t);
            if (!states.TryGetValue(t, out var s) || s.Generation < 0)
            {
                work.Add(new SnapshotWork(t, requested, 0, null, 0));
            }
            else if (requested > s.Generation)
            {
                work.Add(new SnapshotWork(t, requested, 0, null, 0));
            }
            else if (!s.Done)
            {
                work.Add(new SnapshotWork(t, s.Generation, s.Chunk, s.LastKey, s.Rows));
            }
        }

        return work;
    }

    private static DateTimeOffset Utc(DateTime t) => new(DateTime.SpecifyKind(t, DateTimeKind.Utc));
}
