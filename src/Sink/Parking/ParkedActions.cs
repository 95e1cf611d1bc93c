using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Sink.Apply;

namespace Peeq.Cdc.Sink.Parking;

/// <summary>The outcome of an operator's action on parked rows.</summary>
public sealed record ParkedOutcome(bool Done, string Message, int Rows);

/// <summary>
/// What an operator does with parked rows (<c>peeq-cdc parked list|replay|discard</c>). Replay re-applies a
/// parked row, or the whole source transaction it belongs to, through the Sink's own apply path at its
/// original source position: version-guarded, so a row that a newer change of its source has overtaken stays
/// as the newer change left it, and idempotent. It is all or nothing: if anything of it would park again, it
/// stays parked and nothing is applied. Rows parked by the Transform (a raw event the mapping could not map)
/// are mapped again first, with the mapping as configured now. Both actions record who and when.
/// </summary>
public sealed class ParkedActions(PipelineOptions options, TargetOptions target, NpgsqlDataSource db, byte[]? sealKey,
    Func<string, TableId, JsonObject?, string, IReadOnlyList<RowOperation>>? remap = null)
{
    private readonly TargetTables _tables = new(db) { Foreign = new ForeignIdentities(options.Targets) };

    public async Task<List<ParkedRow>> ListAsync(string? source, string? status, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await PipelineSchema.EnsureAsync(conn, ct);
        return await ParkedRows.ListAsync(conn, source, status, limit, ct);
    }

    public async Task<ParkedOutcome> DiscardAsync(long id, string by, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var (rows, error) = await RowsOfAsync(conn, id, ct);
        if (error is not null)
        {
            return new ParkedOutcome(false, error, 0);
        }

        await ParkedRows.MarkAsync(conn, rows.Select(r => r.id).ToList(), "discarded", by, ct);
        return new ParkedOutcome(true, rows[0].whole_transaction
            ? $"discarded transaction {rows[0].commit_lsn} of {rows[0].source} ({rows.Count} rows); transactions held behind it follow"
            : $"discarded row {id}", rows.Count);
    }

    public async Task<ParkedOutcome> ReplayAsync(long id, string by, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var (rows, error) = await RowsOfAsync(conn, id, ct);
        if (error is not null)
        {
            return new ParkedOutcome(false, error, 0);
        }

        var first = rows[0];
        var ops = new List<UnifiedEvent>();
        foreach (var r in rows)
        {
            try
            {
                switch (r.Unified)
                {
                    case RowOperation op:
                        ops.Add(op);
                        break;
                    case ParkedChange p:
                        ops.AddRange(Remap(r.source, p.SourceTable, p.SourceKey, p.Payload));
                        break;
                    default:
                        ops.AddRange(Remap(r.source, TableId.Parse(r.source_table), r.source_key is null ? null : JsonNode.Parse(r.source_key) as JsonObject, r.payload ?? ""));
                        break;
                }
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                return new ParkedOutcome(false, $"row {r.id} still cannot be mapped: {e.Message}", 0);
            }
        }

        if (first.whole_transaction)
        {
            var open = await ParkedRows.OpenWholeAsync(conn, first.source, ct);
            var others = new HoldSet();
            others.Load(open.Where(o => o.CommitLsn != first.CommitLsn));
            if (others.BlockerFor(rows.Select(r => r.Unified).OfType<UnifiedEvent>(), first.CommitLsn) is { } blocker)
            {
                return new ParkedOutcome(false, $"transaction {first.commit_lsn} is held behind {blocker}, which is still parked: replay or discard that one first", 0);
            }
        }

        var writer = new BatchWriter(_tables, target.Name, first.source, sealKey, SensitiveColumns());
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("SET CONSTRAINTS ALL DEFERRED", transaction: tx, cancellationToken: ct));
        await ParkedRows.MarkAsync(conn, rows.Select(r => r.id).ToList(), "replayed", by, ct);
        try
        {
            var result = await writer.WriteAsync(conn, ops, ct);
            await conn.ExecuteAsync(new CommandDefinition("SET CONSTRAINTS ALL IMMEDIATE", transaction: tx, cancellationToken: ct));
            if (result.Parked.Count > 0)
            {
                await tx.RollbackAsync(ct);
                return new ParkedOutcome(false, $"not replayed, it would park again: {result.Parked[0].Reason}", 0);
            }
        }
        catch (Exception e) when (SinkErrors.IsRowError(e))
        {
            await tx.RollbackAsync(ct);
            return new ParkedOutcome(false, $"not replayed, it still cannot be applied: {SinkErrors.Describe(e)}", 0);
        }

        await tx.CommitAsync(ct);
        return new ParkedOutcome(true, first.whole_transaction
            ? $"replayed transaction {first.commit_lsn} of {first.source} ({rows.Count} rows); transactions held behind it follow"
            : $"replayed row {id}", rows.Count);
    }

    private IReadOnlyList<RowOperation> Remap(string source, TableId table, JsonObject? key, string rawPayload) =>
        remap is null
            ? throw new InvalidOperationException("it was parked by the Transform, and this command has no mapping to map it again")
            : remap(source, table, key, rawPayload);

    private HashSet<string> SensitiveColumns() =>
        options.Sources.Where(s => s.Target == target.Name).SelectMany(s => s.SensitiveColumns)
            .Select(c => ColumnRef.TryParse(c, out var r, out _) ? r.Column : null).OfType<string>().ToHashSet(StringComparer.Ordinal);

    /// <summary>The row, or every open row of the transaction it was parked whole with.</summary>
    private static async Task<(List<ParkedRow> Rows, string? Error)> RowsOfAsync(NpgsqlConnection conn, long id, CancellationToken ct)
    {
        var row = await ParkedRows.GetAsync(conn, id, ct);
        if (row is null)
        {
            return ([], $"no parked row {id} in this target");
        }

        if (row.status != "parked")
        {
            return ([], $"row {id} is already {row.status} (by {row.resolved_by} at {row.resolved_at:u})");
        }

        if (!row.whole_transaction)
        {
            return ([row], null);
        }

        return ((await ParkedRows.TransactionAsync(conn, row.source, row.CommitLsn, ct)).Where(r => r.status == "parked").ToList(), null);
    }
}
