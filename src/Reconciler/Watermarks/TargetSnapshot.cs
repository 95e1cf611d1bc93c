using System.Data;
using Dapper;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Reconciler.Watermarks;

/// <summary>
/// A target database read in one REPEATABLE READ snapshot, taken once the Sink has applied every source
/// of the run past its watermark. Several streams read it at once: the snapshot is exported and every
/// extra connection imports it, so all of them see the same target.
/// </summary>
public sealed class TargetSnapshot : IAsyncDisposable
{
    private readonly List<(NpgsqlConnection Conn, NpgsqlTransaction Tx)> _extra = [];
    private readonly Stack<(NpgsqlConnection Conn, NpgsqlTransaction Tx)> _idle = new();

    private TargetSnapshot(TargetOptions target, NpgsqlConnection connection, NpgsqlTransaction transaction, string snapshotId, IReadOnlyDictionary<string, AppliedPosition> applied)
    {
        Target = target;
        Connection = connection;
        Transaction = transaction;
        SnapshotId = snapshotId;
        Applied = applied;
    }

    public TargetOptions Target { get; }

    public string Name => Target.Name;

    public NpgsqlConnection Connection { get; }

    public NpgsqlTransaction Transaction { get; }

    public string SnapshotId { get; }

    /// <summary>Every source's applied position as this snapshot sees it.</summary>
    public IReadOnlyDictionary<string, AppliedPosition> Applied { get; }

    public string Database => Connection.Database;

    public static async Task<TargetSnapshot> TakeAsync(TargetOptions target, CancellationToken ct)
    {
        var conn = await PgConnections.OpenAsync(target.ConnectionString, $"target '{target.Name}'", ct, timeoutSeconds: 10);
        try
        {
            var tx = await conn.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
            var id = (await conn.ExecuteScalarAsync<string>(new CommandDefinition("SELECT pg_export_snapshot()", transaction: tx, cancellationToken: ct)))!;
            var applied = await PipelineSchema.ReadAppliedAsync(conn, ct);
            return new TargetSnapshot(target, conn, tx, id, applied);
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
    }

    /// <summary>A connection in this snapshot for one stream; give it back with <see cref="Return"/>.</summary>
    public async Task<(NpgsqlConnection Conn, NpgsqlTransaction Tx)> RentAsync(CancellationToken ct)
    {
        if (_idle.TryPop(out var idle))
        {
            return idle;
        }

        var conn = await PgConnections.OpenAsync(Target.ConnectionString, $"target '{Target.Name}'", ct, timeoutSeconds: 10);
        var tx = await conn.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
        await conn.ExecuteAsync(new CommandDefinition($"SET TRANSACTION SNAPSHOT {Sql.QuoteLiteral(SnapshotId)}", transaction: tx, cancellationToken: ct));
        _extra.Add((conn, tx));
        return (conn, tx);
    }

    public void Return((NpgsqlConnection Conn, NpgsqlTransaction Tx) lease) => _idle.Push(lease);

    public async ValueTask DisposeAsync()
    {
        foreach (var (conn, tx) in _extra)
        {
            try
            {
                await tx.DisposeAsync();
            }
            catch (NpgsqlException)
            {
            }

            await conn.DisposeAsync();
        }

        try
        {
            await Transaction.DisposeAsync();
        }
        catch (NpgsqlException)
        {
        }

        await Connection.DisposeAsync();
    }
}
