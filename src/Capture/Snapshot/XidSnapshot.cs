using System.Globalization;

namespace Peeq.Cdc.Capture.Snapshot;

/// <summary>
/// A PostgreSQL MVCC snapshot as <c>pg_current_snapshot()</c> prints it (<c>xmin:xmax:xip,...</c>): which
/// committed transactions a read in that snapshot saw. pgoutput reports 32-bit transaction ids, so the
/// comparison is modulo 2^32 as PostgreSQL's own <c>TransactionIdPrecedes</c> does (valid within the
/// 2^31 horizon that PostgreSQL itself guarantees).
/// </summary>
public sealed class XidSnapshot
{
    private readonly uint _xmin;
    private readonly uint _xmax;
    private readonly HashSet<uint> _xip;

    private XidSnapshot(uint xmin, uint xmax, HashSet<uint> xip, string text)
    {
        _xmin = xmin;
        _xmax = xmax;
        _xip = xip;
        Text = text;
    }

    /// <summary>The snapshot's text form (for logs and for <c>pg_snapshot_xip(@text::pg_snapshot)</c>).</summary>
    public string Text { get; }

    public IReadOnlyCollection<uint> InProgress => _xip;

    public static XidSnapshot Parse(string text)
    {
        var parts = text.Split(':');
        if (parts.Length != 3)
        {
            throw new FormatException($"'{text}' is not a pg_snapshot (xmin:xmax:xip)");
        }

        var xip = parts[2].Length == 0
            ? []
            : parts[2].Split(',').Select(x => Truncate(ulong.Parse(x, CultureInfo.InvariantCulture))).ToHashSet();
        return new XidSnapshot(
            Truncate(ulong.Parse(parts[0], CultureInfo.InvariantCulture)),
            Truncate(ulong.Parse(parts[1], CultureInfo.InvariantCulture)),
            xip,
            text);
    }

    /// <summary>True when a read in this snapshot saw the effects of committed transaction <paramref name="xid"/>.</summary>
    public bool Sees(uint xid)
    {
        if (Precedes(xid, _xmin))
        {
            return true;
        }

        if (!Precedes(xid, _xmax))
        {
            return false;
        }

        return !_xip.Contains(xid);
    }

    private static bool Precedes(uint a, uint b) => unchecked((int)(a - b)) < 0;

    private static uint Truncate(ulong xid8) => (uint)(xid8 & 0xFFFFFFFF);

    public override string ToString() => Text;
}
