using System.Text.Json.Nodes;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Capture.Snapshot;

/// <summary>A row read by a snapshot chunk, with its event key (the same bytes the stream computes for that row).</summary>
public sealed record SnapshotRow(CapturedRow Row, byte[] Key);

/// <summary>
/// One chunk of a keyed table's snapshot, read in <see cref="Snapshot"/> and waiting for the reader to
/// reach its high watermark (<see cref="WatermarkId"/>). <see cref="RowsRead"/> counts the generation's
/// rows up to and including this chunk; <see cref="LastKey"/> is the key of its last row.
/// </summary>
public sealed class SnapshotChunk(
    TableId table,
    long generation,
    long chunk,
    IReadOnlyList<SnapshotRow> rows,
    JsonObject? lastKey,
    bool done,
    long rowsRead,
    long totalRows,
    string watermarkId,
    XidSnapshot snapshot)
{
    public TableId Table { get; } = table;

    public long Generation { get; } = generation;

    public long Chunk { get; } = chunk;

    public IReadOnlyList<SnapshotRow> Rows { get; } = rows;

    public JsonObject? LastKey { get; } = lastKey;

    public bool Done { get; } = done;

    public long RowsRead { get; } = rowsRead;

    public long TotalRows { get; } = totalRows;

    public string WatermarkId { get; } = watermarkId;

    public XidSnapshot Snapshot { get; } = snapshot;

    /// <summary>Completed by the reader with the number of rows emitted (after dropping those the stream already carries).</summary>
    public TaskCompletionSource<int> Emitted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public SnapshotMark Mark(Lsn since) => new(Table, Generation, Chunk, LastKey, Done, RowsRead, TotalRows, since);
}

/// <summary>
/// Append-only (keyless) tables read whole from a slot's exported snapshot, which sees exactly the
/// transactions that committed before the slot's consistent point <see cref="ConsistentPoint"/>. Without
/// a key rows cannot be matched, so the split is by commit position: the reader leaves out inserts into
/// these tables by transactions that committed before the consistent point (the read holds them) and,
/// before it emits anything positioned at or after it, emits the read as one snapshot transaction. No
/// insert of these tables reaches the Sink ahead of the read, so an interrupted load is simply taken again.
/// </summary>
public sealed class KeylessSnapshotJob(IReadOnlyList<KeylessTable> tables, Lsn consistentPoint, Func<KeylessSnapshotJob, Func<TableId, CapturedRow, ValueTask>, CancellationToken, Task> read)
{
    public IReadOnlyList<KeylessTable> Tables { get; } = tables;

    public Lsn ConsistentPoint { get; } = consistentPoint;

    /// <summary>Reads every table in the exported snapshot, handing each row to the callback, and fills in <see cref="KeylessTable.Rows"/>.</summary>
    public Func<KeylessSnapshotJob, Func<TableId, CapturedRow, ValueTask>, CancellationToken, Task> Read { get; } = read;

    public bool Covers(TableId table) => Tables.Any(t => t.Table == table);
}

/// <summary>One table of a <see cref="KeylessSnapshotJob"/>.</summary>
public sealed class KeylessTable(TableId table, long generation, long totalRows)
{
    public TableId Table { get; } = table;

    public long Generation { get; } = generation;

    public long TotalRows { get; } = totalRows;

    public long Rows { get; set; }
}
