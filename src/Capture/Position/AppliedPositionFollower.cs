using Dapper;
using Npgsql;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Capture.Position;

/// <summary>What the Sink has done with one source, read back from the target database.</summary>
public sealed record SinkProgress(Lsn AppliedCommit, Lsn AppliedEnd, long ReplayRequested, SourcePosition Received)
{
    public static readonly SinkProgress None = new(Lsn.Zero, Lsn.Zero, 0, SourcePosition.Start);

    public bool HasApplied => !AppliedEnd.IsZero;
}

/// <summary>
/// Reads the Sink's applied and received positions for a source from the target's peeq_cdc tables.
/// The applied position is durable truth (written with the rows); the received position is flow
/// control only.
/// </summary>
public sealed class AppliedPositionFollower(NpgsqlDataSource target, string source)
{
    private sealed record Row(string? commit_lsn, string? end_lsn, long? replay_requested, string? received_lsn, long? received_seq);

    public async Task<SinkProgress> ReadAsync(CancellationToken ct)
    {
        await using var conn = await target.OpenConnectionAsync(ct);
        var exists = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT to_regclass('peeq_cdc.applied_position') IS NOT NULL AND to_regclass('peeq_cdc.flow_position') IS NOT NULL AND to_regclass('peeq_cdc.replay_requests') IS NOT NULL",
            cancellationToken: ct));
        if (!exists)
        {
            return SinkProgress.None;
        }

        var row = await conn.QuerySingleAsync<Row>(new CommandDefinition(
            """
            SELECT a.commit_lsn::text AS commit_lsn, a.end_lsn::text AS end_lsn, r.requested AS replay_requested,
                   f.commit_lsn::text AS received_lsn, f.seq AS received_seq
            FROM (SELECT @source AS source) s
            LEFT JOIN peeq_cdc.applied_position a ON a.source = s.source
            LEFT JOIN peeq_cdc.flow_position f ON f.source = s.source
            LEFT JOIN peeq_cdc.replay_requests r ON r.source = s.source
            """, new { source }, cancellationToken: ct));
        return new SinkProgress(
            row.commit_lsn is null ? Lsn.Zero : Lsn.Parse(row.commit_lsn),
            row.end_lsn is null ? Lsn.Zero : Lsn.Parse(row.end_lsn),
            row.replay_requested ?? 0,
            row.received_lsn is null ? SourcePosition.Start : new SourcePosition(Lsn.Parse(row.received_lsn), row.received_seq ?? 0));
    }
}
