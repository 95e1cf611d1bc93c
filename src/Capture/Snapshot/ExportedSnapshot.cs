using Dapper;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Capture.Snapshot;

/// <summary>
/// The initial snapshot of a new slot: every captured table read in the snapshot the slot exported,
/// emitted as one snapshot "transaction" positioned at the slot's consistent point, so the stream
/// continues exactly where the snapshot ends (rows committed later arrive as changes).
/// </summary>
public sealed class ExportedSnapshot(SourceCaptureContext ctx, RelationCache relations)
{
    public async Task RunAsync(string snapshotName, Lsn consistentPoint, string session, CancellationToken ct)
    {
        var name = ctx.Source.Options.Name;
        var ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await using var conn = await ctx.Control.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await conn.ExecuteAsync(new CommandDefinition($"SET TRANSACTION SNAPSHOT {Sql.QuoteLiteral(snapshotName)}", transaction: tx, cancellationToken: ct));

        ctx.Producer.ProduceBegin(new TxBegin(name, consistentPoint, Lsn.Zero, 0, ts, TransactionKind.Snapshot, session));
        long seq = 0;
        var buffer = new EventBuffer();
        var collections = new List<KeyValuePair<string, long>>();
        foreach (var table in ctx.Source.Tables.Values.OrderBy(t => t.Id))
        {
            var columns = relations.ColumnsFromCatalog(table);
            var estimate = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = @oid::oid", new { oid = (long)table.Oid }, transaction: tx, cancellationToken: ct));
            CaptureMetrics.SnapshotTotalRows.WithLabels(name, table.Id.ToString()).Set(estimate);
            var rowsGauge = CaptureMetrics.SnapshotRows.WithLabels(name, table.Id.ToString());
            var columnList = string.Join(", ", columns.Select(c => Sql.QuoteIdent(c.Name)));
            var order = table.KeyColumns.Count > 0 ? " ORDER BY " + string.Join(", ", table.KeyColumns.Select(Sql.QuoteIdent)) : "";
            long count = 0;
            using (var reader = await conn.BeginTextExportAsync($"COPY (SELECT {columnList} FROM {table.Id.Quoted}{order}) TO STDOUT", ct))
            {
                while (await reader.ReadLineAsync(ct) is { } line)
                {
                    var row = CapturedRow.FromValues(columns, CopyTextReader.ParseLine(line, columns.Length), ctx.Protector);
                    var position = new SourcePosition(consistentPoint, ++seq);
                    var writer = buffer.Writer;
                    RawEventCodec.WriteChange(writer, name, ctx.Source.Database, table.Id, ChangeOp.Read, position, consistentPoint, 0, ts, snapshot: true,
                        null, row, row.Unchanged, ++count);
                    var key = RawEventCodec.WriteKey(row.HasKey ? row.KeyImage : null, table.Id.ToString());
                    ctx.Producer.ProduceChange(key, buffer.Written, position);
                    if ((count & 1023) == 0)
                    {
                        rowsGauge.Set(count);
                        if (ctx.Window.IsFull)
                        {
                            await ctx.Window.WaitForRoomAsync(ct);
                        }
                    }
                }
            }

            rowsGauge.Set(count);
            CaptureMetrics.Events.WithLabels(name, "r").Inc(count);
            collections.Add(new(table.Id.ToString(), count));
            ctx.Logger.LogInformation("Source {Source}: snapshot of {Table}: {Rows} rows", name, table.Id, count);
        }

        await tx.CommitAsync(ct);
        ctx.Producer.ProduceEnd(new TxEnd(name, consistentPoint, consistentPoint, 0, ts, seq, collections));
        CaptureMetrics.Transactions.WithLabels(name, "snapshot").Inc();
    }
}
