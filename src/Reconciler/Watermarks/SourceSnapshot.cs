using System.Data;
using Dapper;
using Npgsql;
using Npgsql.Replication;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Reconciler.Watermarks;

/// <summary>
/// A source database read at a watermark: a REPEATABLE READ transaction whose snapshot holds exactly
/// the source transactions that committed before <see cref="ApplyGoal"/>.
/// <para>
/// The snapshot comes from a temporary logical replication slot created with EXPORT_SNAPSHOT: its
/// consistent point is the LSN at which the snapshot sits in the WAL, which PostgreSQL guarantees
/// (every transaction committed before it is visible, none after). Once the Sink has applied the
/// source past that point, a target row whose lineage LSN is older than it must equal the mapped
/// snapshot row; one touched at or after it (<see cref="ChangedAfter"/>) may legitimately differ
/// and is re-checked. Without the REPLICATION privilege or a free slot, the reconciler brackets the
/// snapshot between two readings of pg_current_wal_lsn() instead: coarser (more keys are re-checked),
/// never wrong.
/// </para>
/// </summary>
public sealed class SourceSnapshot : IAsyncDisposable
{
    private SourceSnapshot(SourceOptions source, NpgsqlConnection connection, NpgsqlTransaction transaction, Lsn changedAfter, Lsn applyGoal, string method, string? note)
    {
        Source = source;
        Connection = connection;
        Transaction = transaction;
        ChangedAfter = changedAfter;
        ApplyGoal = applyGoal;
        Method = method;
        Note = note;
    }

    public SourceOptions Source { get; }

    public string Name => Source.Name;

    public NpgsqlConnection Connection { get; }

    public NpgsqlTransaction Transaction { get; }

    /// <summary>A target row whose lineage LSN is at or after this was written after the snapshot: a difference on it is not conclusive.</summary>
    public Lsn ChangedAfter { get; }

    /// <summary>The Sink must have applied this source to here (end LSN) before the target is read.</summary>
    public Lsn ApplyGoal { get; }

    /// <summary><c>slot</c> (exact) or <c>bracket</c>.</summary>
    public string Method { get; }

    public string? Note { get; }

    public string Database => Connection.Database;

    public static async Task<SourceSnapshot> TakeAsync(SourceOptions source, CancellationToken ct)
    {
        var conn = await PgConnections.OpenAsync(source.ConnectionString, $"source '{source.Name}'", ct, timeoutSeconds: 10);
        try
        {
            try
            {
                await using var repl = new LogicalReplicationConnection(PgConnections.Prepare(source.ConnectionString, $"peeq-cdc reconcile {source.Name}", 10));
                await repl.Open(ct);
                var slotName = "peeq_cdc_reconcile_" + Guid.NewGuid().ToString("N")[..12];
                var slot = await repl.CreatePgOutputReplicationSlot(slotName, temporarySlot: true,
                    slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct);
                var tx = await conn.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
                // The exported snapshot is valid only while the replication connection stays idle: import it first.
                await conn.ExecuteAsync(new CommandDefinition($"SET TRANSACTION SNAPSHOT {Sql.QuoteLiteral(slot.SnapshotName!)}", transaction: tx, cancellationToken: ct));
                await conn.ExecuteAsync(new CommandDefinition("SET TRANSACTION READ ONLY", transaction: tx, cancellationToken: ct));
                var consistent = new Lsn((ulong)slot.ConsistentPoint);
                return new SourceSnapshot(source, conn, tx, consistent, consistent, "slot", null);
            }
            catch (PostgresException e) when (e.SqlState is "42501" or "53400" or "55000" or "53300" or "28000")
            {
                // No REPLICATION privilege, no free slot or wal sender, wal_level not logical: bracket instead.
                var note = $"watermark by bracketing (a temporary slot could not be created: {PgConnections.Explain(e)})";
                var before = Lsn.Parse((await conn.ExecuteScalarAsync<string>(new CommandDefinition("SELECT pg_current_wal_lsn()::text", cancellationToken: ct)))!);
                var tx = await conn.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
                await conn.ExecuteAsync(new CommandDefinition("SET TRANSACTION READ ONLY", transaction: tx, cancellationToken: ct));
                // The first statement takes the snapshot; the position read in it is after it.
                var after = Lsn.Parse((await conn.ExecuteScalarAsync<string>(new CommandDefinition("SELECT pg_current_wal_lsn()::text", transaction: tx, cancellationToken: ct)))!);
                return new SourceSnapshot(source, conn, tx, before, after, "bracket", note);
            }
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Transaction.DisposeAsync();
        }
        catch (NpgsqlException)
        {
            // The connection is gone; nothing was written in this transaction.
        }

        await Connection.DisposeAsync();
    }
}
