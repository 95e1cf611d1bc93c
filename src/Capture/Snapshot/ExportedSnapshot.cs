using System.Globalization;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Capture.Snapshot;

/// <summary>
/// Reads whole tables in a slot's exported snapshot (imported by <paramref name="conn"/>'s open
/// REPEATABLE READ transaction), in physical order by <c>ctid</c>: ranges of pages through TID range scans
/// on PostgreSQL 14+ (no sort, bounded work per statement), one sequential COPY on 13. COPY's text is what
/// each type's output function writes, the same text pgoutput sends, so snapshot and stream events
/// encode identically. Used for append-only tables (no key to chunk or merge by) and, on PostgreSQL 13,
/// for every table (its pgoutput cannot carry the watermarks chunked snapshots need).
/// </summary>
public static class ExportedSnapshot
{
    /// <summary>Pages per TID range statement (1 GiB of 8 KiB pages).</summary>
    public const int PagesPerRange = 131072;

    public static async Task ReadAsync(SourceCaptureContext ctx, NpgsqlConnection conn, RelationCache relations, KeylessSnapshotJob job,
        Func<TableId, CapturedRow, ValueTask> onRow, CancellationToken ct)
    {
        var name = ctx.Source.Options.Name;
        foreach (var t in job.Tables)
        {
            // The definition as of the snapshot.
            var info = (await Catalog.LoadTablesAsync(conn, [t.Table], ct)).GetValueOrDefault(t.Table)
                ?? throw new InvalidOperationException($"table {t.Table} does not exist in the exported snapshot");
            var columns = relations.ColumnsFromCatalog(info);
            var label = t.Table.ToString();
            CaptureMetrics.SnapshotTotalRows.WithLabels(name, label).Set(t.TotalRows);
            CaptureMetrics.SnapshotRunning.WithLabels(name, label).Set(1);
            var rowsGauge = CaptureMetrics.SnapshotRows.WithLabels(name, label);
            var rowsCounter = CaptureMetrics.SnapshotRowsRead.WithLabels(name, label);
            var columnList = string.Join(", ", columns.Select(c => Sql.QuoteIdent(c.Name)));
            var ranges = new List<string>();
            if (ctx.Source.ServerVersionNum >= 140000)
            {
                var pages = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                    "SELECT pg_relation_size(@oid::oid) / current_setting('block_size')::bigint", new { oid = (long)info.Oid }, cancellationToken: ct));
                for (long p = 0; p < Math.Max(pages, 1); p += PagesPerRange)
                {
                    ranges.Add(string.Create(CultureInfo.InvariantCulture,
                        $"COPY (SELECT {columnList} FROM {t.Table.Quoted} WHERE ctid >= '({p},0)'::tid AND ctid < '({p + PagesPerRange},0)'::tid) TO STDOUT"));
                }
            }
            else
            {
                ranges.Add($"COPY (SELECT {columnList} FROM {t.Table.Quoted}) TO STDOUT");
            }

            long count = 0;
            foreach (var copy in ranges)
            {
                using var reader = await conn.BeginTextExportAsync(copy, ct);
                while (await reader.ReadLineAsync(ct) is { } line)
                {
                    await onRow(t.Table, CapturedRow.FromValues(columns, CopyTextReader.ParseLine(line, columns.Length), ctx.Protector));
                    if ((++count & 1023) == 0)
                    {
                        rowsGauge.Set(count);
                        rowsCounter.Inc(1024);
                    }
                }
            }

            rowsGauge.Set(count);
            rowsCounter.Inc(count & 1023);
            t.Rows = count;
            CaptureMetrics.SnapshotRunning.WithLabels(name, label).Set(0);
            ctx.Logger.LogInformation("Source {Source}: snapshot of {Table}: {Rows} rows", name, t.Table, count);
        }
    }
}
