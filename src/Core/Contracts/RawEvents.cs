using System.Text.Json.Nodes;

namespace Peeq.Cdc.Contracts;

/// <summary>Debezium's operation codes.</summary>
public enum ChangeOp
{
    /// <summary>c: a row was inserted.</summary>
    Create,
    /// <summary>u: a row was updated.</summary>
    Update,
    /// <summary>d: a row was deleted.</summary>
    Delete,
    /// <summary>r: a row was read by a snapshot.</summary>
    Read,
    /// <summary>t: the table was truncated.</summary>
    Truncate,
}

/// <summary>What a source transaction marker delimits.</summary>
public enum TransactionKind
{
    /// <summary>A committed source transaction, in commit order.</summary>
    Transaction,
    /// <summary>A snapshot chunk, positioned in the stream at its high watermark. Not a source transaction.</summary>
    Snapshot,
    /// <summary>No rows: moves the applied position forward on a quiet source so its slot can advance.</summary>
    Heartbeat,
}

/// <summary>An event on a raw topic (one topic per source database, one partition, commit order).</summary>
public abstract record RawEvent(string Source);

/// <summary>
/// Opens a source transaction on a raw topic (Debezium's transaction BEGIN, plus the chain links the
/// Sink uses to detect a gap). Invariants: <see cref="CommitLsn"/> is the commit LSN of the source
/// transaction and strictly increases along a source's stream; <see cref="PrevEndLsn"/> is the end LSN
/// of the transaction emitted before this one in the same capture session, or the LSN the session
/// started streaming from. The Sink may apply this transaction only if it has applied everything up
/// to <see cref="PrevEndLsn"/>.
/// </summary>
public sealed record TxBegin(
    string Source,
    Lsn CommitLsn,
    Lsn PrevEndLsn,
    long TxId,
    long TsMs,
    TransactionKind Kind,
    string Session) : RawEvent(Source)
{
    /// <summary>Debezium's transaction id form: <c>txId:lsn</c>.</summary>
    public string Id => $"{TxId}:{CommitLsn.Value}";
}

/// <summary>
/// Closes a source transaction (Debezium's transaction END): how many events (changes and schema events)
/// it held. A snapshot transaction carries the progress of the tables it read in <see cref="Snapshot"/>.
/// </summary>
public sealed record TxEnd(
    string Source,
    Lsn CommitLsn,
    Lsn EndLsn,
    long TxId,
    long TsMs,
    long EventCount,
    IReadOnlyList<KeyValuePair<string, long>> DataCollections,
    IReadOnlyList<SnapshotMark>? Snapshot = null) : RawEvent(Source)
{
    public string Id => $"{TxId}:{CommitLsn.Value}";
}

/// <summary>
/// One row change in Debezium's envelope. <see cref="Position"/> orders it within its source;
/// <see cref="Unchanged"/> names columns whose (TOASTed) value did not change and is absent from
/// <see cref="After"/>: a later stage must keep the stored value, never write NULL.
/// </summary>
public sealed record RawChange(
    string Source,
    string Database,
    TableId Table,
    ChangeOp Op,
    SourcePosition Position,
    Lsn ChangeLsn,
    long TxId,
    long TsMs,
    bool Snapshot,
    JsonObject? Key,
    JsonObject? Before,
    JsonObject? After,
    IReadOnlyList<string> Unchanged) : RawEvent(Source);
