using System.Text.Json.Nodes;

namespace Peeq.Cdc.Contracts;

/// <summary>What the Sink does with a target row operation (docs/contracts.md, "Unified events").</summary>
public enum RowOpKind
{
    /// <summary>Insert the row or update it; columns named in Unchanged keep their stored values.</summary>
    Upsert,
    /// <summary>Delete the row with Key, or, without a key, every row of the table that Origin owns.</summary>
    Delete,
    /// <summary>Make the rows of the table that Origin owns exactly Rows (exploded arrays, join tables).</summary>
    Replace,
    /// <summary>Delete every row of the table owned by the origin's source table (a source TRUNCATE).</summary>
    Truncate,
    /// <summary>Append a row to a table without a key; applied once by source position.</summary>
    Insert,
}

/// <summary>How the Sink settles two sources claiming the same target key (declared per target table in the mapping).</summary>
public enum ConflictMode
{
    /// <summary>No rule: the later claimant's row is parked as a conflict, never applied over the owner's.</summary>
    Park,
    /// <summary>The claim with the lower rank owns the row; the other is kept as a shadowed claim, not applied.</summary>
    Priority,
}

/// <summary>A source's claim on a target key: the mapping's conflict rule and this source's rank in it.</summary>
public sealed record ConflictClaim(ConflictMode Mode, int Rank)
{
    public static readonly ConflictClaim Default = new(ConflictMode.Park, 0);
}

/// <summary>The source row a target row comes from: its table and primary key (empty for a keyless table).</summary>
public sealed record RowOrigin(TableId Table, JsonObject Key);

/// <summary>An event on a unified topic (one topic per target database; all of one source's events in one partition).</summary>
public abstract record UnifiedEvent(string Source, Lsn CommitLsn);

/// <summary>Opens a source transaction for the Sink; carries the chain links of <see cref="TxBegin"/>.</summary>
public sealed record UnifiedBegin(
    string Source,
    Lsn CommitLsn,
    Lsn PrevEndLsn,
    long TxId,
    long TsMs,
    TransactionKind Kind,
    string Session) : UnifiedEvent(Source, CommitLsn)
{
    public static UnifiedBegin From(TxBegin b) => new(b.Source, b.CommitLsn, b.PrevEndLsn, b.TxId, b.TsMs, b.Kind, b.Session);
}

/// <summary>
/// One operation on one target table, produced from the raw change at (<see cref="UnifiedEvent.CommitLsn"/>, <see cref="Seq"/>);
/// <see cref="Sub"/> numbers the operations one raw change produced. <see cref="Key"/> holds the target
/// primary key columns; <see cref="Row"/> every mapped column (keys included).
/// </summary>
public sealed record RowOperation(
    string Source,
    Lsn CommitLsn,
    long Seq,
    int Sub,
    RowOpKind Op,
    TableId Table,
    JsonObject? Key,
    JsonObject? Row,
    IReadOnlyList<string> Unchanged,
    RowOrigin Origin,
    long TsMs,
    bool Snapshot,
    IReadOnlyList<JsonObject>? Rows = null,
    ConflictClaim? Claim = null) : UnifiedEvent(Source, CommitLsn)
{
    public SourcePosition Position => new(CommitLsn, Seq);
}

/// <summary>
/// A raw change the Transform could not map (bad data, lossy cast, a mapping error): the Sink records
/// it in the parked-row table, in the same target transaction as the rest of its source transaction.
/// </summary>
public sealed record ParkedChange(
    string Source,
    Lsn CommitLsn,
    long Seq,
    TableId SourceTable,
    JsonObject? SourceKey,
    TableId? TargetTable,
    string Reason,
    string Payload,
    long TsMs) : UnifiedEvent(Source, CommitLsn);

/// <summary>
/// Closes a source transaction: <see cref="Operations"/> is how many RowOperation, ParkedChange,
/// TableSchemaChange and TableStateChange events precede it. A snapshot transaction's progress marks
/// (<see cref="Snapshot"/>) are recorded by the Sink in the same target transaction as its rows.
/// </summary>
public sealed record UnifiedCommit(
    string Source,
    Lsn CommitLsn,
    Lsn EndLsn,
    long TxId,
    long TsMs,
    long Operations,
    IReadOnlyList<SnapshotMark>? Snapshot = null) : UnifiedEvent(Source, CommitLsn);

/// <summary>
/// Flow control only (docs/contracts.md, "Acknowledgement, end to end", item 3): every raw event of the open source
/// transaction up to (<see cref="UnifiedEvent.CommitLsn"/>, <see cref="Seq"/>) has been passed on, those since the
/// last operation having mapped to nothing (a table the mapping excludes, a filter). The Transform sends one per
/// stretch of dropped raw events a quarter of Capture's in-flight window long, never one per dropped row. It is not
/// an operation (not counted in <see cref="UnifiedCommit.Operations"/>): the Sink only reports it as received, so
/// Capture's window is freed while a transaction or snapshot of rows that reach no target streams through.
/// </summary>
public sealed record UnifiedProgress(string Source, Lsn CommitLsn, long Seq) : UnifiedEvent(Source, CommitLsn)
{
    public SourcePosition Position => new(CommitLsn, Seq);
}
