namespace Peeq.Cdc.Contracts;

/// <summary>
/// Where a change sits in its source's commit order: <see cref="CommitLsn"/> is the commit LSN of
/// the source transaction (for a snapshot chunk: the LSN of the watermark that positions it), and
/// <see cref="Seq"/> the 1-based index of the change inside that transaction (0 = the transaction's
/// begin marker). Ordered by commit LSN, then sequence. Only comparable within one source.
/// </summary>
public readonly record struct SourcePosition(Lsn CommitLsn, long Seq) : IComparable<SourcePosition>
{
    public static readonly SourcePosition Start = new(Lsn.Zero, 0);

    public int CompareTo(SourcePosition other)
    {
        var c = CommitLsn.CompareTo(other.CommitLsn);
        return c != 0 ? c : Seq.CompareTo(other.Seq);
    }

    public static bool operator <(SourcePosition a, SourcePosition b) => a.CompareTo(b) < 0;
    public static bool operator >(SourcePosition a, SourcePosition b) => a.CompareTo(b) > 0;
    public static bool operator <=(SourcePosition a, SourcePosition b) => a.CompareTo(b) <= 0;
    public static bool operator >=(SourcePosition a, SourcePosition b) => a.CompareTo(b) >= 0;

    public override string ToString() => $"{CommitLsn}#{Seq}";
}
