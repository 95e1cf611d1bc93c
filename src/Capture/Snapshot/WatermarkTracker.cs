using System.Text;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Capture.Snapshot;

/// <summary>
/// The stream side of chunked snapshots (docs/capture.md, "Snapshots"): between the snapshot runner,
/// which reads chunks, and the stream reader, which sees the source's changes in commit order.
///
/// The DBLog approach with a refinement. For a table being snapshotted, the reader records from the
/// table's low watermark on which keys each committed transaction changed. A chunk is read in a
/// REPEATABLE READ transaction whose MVCC snapshot (xmin, xmax, in-progress list) is known; then a high
/// watermark is written. When the reader reaches the high watermark, every transaction that committed
/// before it has been emitted; the chunk is emitted there, minus the rows whose key was changed by a
/// transaction the chunk's snapshot did not see (those rows' newer state is already in the stream,
/// ahead of the chunk). A transaction the chunk did see needs no dropping: the chunk holds its effect.
/// Knowing the snapshot makes this exact without a low watermark per chunk, and also covers a
/// transaction whose commit record precedes a watermark but which became visible only later
/// (synchronous replication holds a committed transaction invisible until the standby answers).
/// Transactions the chunk's snapshot saw are forgotten at once, so memory stays proportional to the
/// transactions in progress, not to the table's write rate.
///
/// One exception to dropping: when the first change of a chunk row's key in the window is an update that
/// left a TOASTed column out (pgoutput sends it as "unchanged", value not in the WAL), the stream does not
/// carry that row whole, and a Sink that does not hold the row yet cannot apply it. The chunk row is then
/// emitted merged: the window's changes of that key laid over it in commit order (an unchanged column kept
/// the value the chunk read, since no change in between set it), which is the row as of the high watermark.
/// </summary>
public sealed class WatermarkTracker
{
    public const string Prefix = "peeq-cdc.watermark";

    private readonly Lock _lock = new();
    private readonly string _session;

    // The table being snapshotted and what the reader has recorded for it.
    private TableId? _table;
    private string? _lowId;
    private bool _tracking;
    private Lsn _since;
    private readonly List<TrackedTransaction> _committed = [];
    private TrackedTransaction? _open;
    private uint _openXid;
    private XidSnapshot? _snapshot;
    private SnapshotChunk? _chunk;

    // Append-only tables read from an exported snapshot (see KeylessSnapshotJob).
    private KeylessSnapshotJob? _keyless;

    public WatermarkTracker(string session)
    {
        _session = session;
    }

    /// <summary>The content of a watermark message written by this session.</summary>
    public string Content(string kind, long id) => $"{kind}:{_session}:{id}";

    // ---- The runner's side ----

    /// <summary>Starts recording changes of <paramref name="table"/> once the reader reaches the low watermark with <paramref name="lowId"/>.</summary>
    public void BeginTable(TableId table, string lowId)
    {
        lock (_lock)
        {
            _table = table;
            _lowId = lowId;
            _tracking = false;
            _since = Lsn.Zero;
            _committed.Clear();
            _open = null;
            _snapshot = null;
            _chunk = null;
        }
    }

    /// <summary>The MVCC snapshot of the chunk about to be read; transactions it saw are forgotten.</summary>
    public void SetSnapshot(XidSnapshot snapshot)
    {
        lock (_lock)
        {
            _snapshot = snapshot;
            _committed.RemoveAll(t => snapshot.Sees(t.Xid));
        }
    }

    /// <summary>Hands a chunk to the reader, which emits it at its high watermark; completes with the rows emitted.</summary>
    public Task<int> Offer(SnapshotChunk chunk)
    {
        lock (_lock)
        {
            if (_table != chunk.Table)
            {
                throw new InvalidOperationException($"chunk of {chunk.Table} offered while {_table} is being snapshotted");
            }

            _chunk = chunk;
            return chunk.Emitted.Task;
        }
    }

    public void EndTable()
    {
        lock (_lock)
        {
            _table = null;
            _lowId = null;
            _tracking = false;
            _committed.Clear();
            _open = null;
            _snapshot = null;
            _chunk = null;
        }
    }

    /// <summary>Registers append-only tables read from an exported snapshot; must happen before streaming starts.</summary>
    public void StartKeyless(KeylessSnapshotJob job)
    {
        lock (_lock)
        {
            _keyless = job;
        }
    }

    /// <summary>The session is ending: nothing offered will be emitted.</summary>
    public void Abort()
    {
        lock (_lock)
        {
            _chunk?.Emitted.TrySetCanceled();
            _chunk = null;
            _keyless = null;
        }
    }

    // ---- The reader's side (called in stream order) ----

    /// <summary>Is <paramref name="table"/> being recorded (the reader only computes keys when it is)?</summary>
    public bool Watches(TableId table)
    {
        lock (_lock)
        {
            return _tracking && _table == table;
        }
    }

    public void OnBegin(uint xid)
    {
        lock (_lock)
        {
            _open = null;
            _openXid = xid;
        }
    }

    /// <summary>
    /// A change of a watched table left the row with this event key as <paramref name="after"/> (null: the
    /// row is gone from that key, deleted or moved to another key).
    /// </summary>
    public void OnChange(TableId table, ReadOnlySpan<byte> key, CapturedRow? after)
    {
        lock (_lock)
        {
            if (!_tracking || _table != table)
            {
                return;
            }

            _open ??= new TrackedTransaction(_openXid);
            _open.Changes.Add(new TrackedChange(Encoding.UTF8.GetString(key), after));
        }
    }

    /// <summary>A watched table was truncated: every row of a chunk that did not see this transaction is stale.</summary>
    public void OnTruncate(TableId table)
    {
        lock (_lock)
        {
            if (!_tracking || _table != table)
            {
                return;
            }

            _open ??= new TrackedTransaction(_openXid);
            _open.All = true;
        }
    }

    public void OnCommit()
    {
        lock (_lock)
        {
            if (_open is { } t && !(_snapshot?.Sees(t.Xid) ?? false))
            {
                _committed.Add(t);
            }

            _open = null;
        }
    }

    /// <summary>
    /// True when a change of <paramref name="table"/> by the transaction committing at <paramref name="commit"/>
    /// must not be emitted, because a pending read of that table's exported snapshot holds its effect.
    /// </summary>
    public bool SuppressChange(TableId table, Lsn commit)
    {
        lock (_lock)
        {
            return _keyless is { } k && commit < k.ConsistentPoint && k.Covers(table);
        }
    }

    /// <summary>
    /// The pending exported-snapshot read, once the reader is about to emit something positioned at
    /// <paramref name="position"/> at or after the snapshot's consistent point (less one, the read's own
    /// position); it is handed over once.
    /// </summary>
    public KeylessSnapshotJob? KeylessDue(Lsn position)
    {
        lock (_lock)
        {
            if (_keyless is { } k && position.Value + 1 >= k.ConsistentPoint.Value)
            {
                _keyless = null;
                return k;
            }

            return null;
        }
    }

    /// <summary>
    /// A watermark message was decoded at <paramref name="at"/> (a position strictly between the commits
    /// around it). Returns what the reader must emit there, if anything.
    /// </summary>
    public WatermarkAction? OnWatermark(string content, Lsn at)
    {
        var parts = content.Split(':');
        if (parts.Length < 3 || parts[1] != _session)
        {
            return null; // another (earlier) session's watermark, replayed from the slot
        }

        var id = $"{parts[0]}:{parts[1]}:{parts[2]}";
        lock (_lock)
        {
            switch (parts[0])
            {
                case "low" when id == _lowId:
                    _tracking = true;
                    _since = at;
                    return null;
                case "high" when _chunk is { } chunk && chunk.WatermarkId == id:
                    {
                        HashSet<string> drop = [];
                        var all = false;
                        var window = _committed.Where(t => !chunk.Snapshot.Sees(t.Xid)).ToList();
                        foreach (var t in window)
                        {
                            all |= t.All;
                            drop.UnionWith(t.Changes.Select(c => c.Key));
                        }

                        var merged = all ? [] : Merge(chunk, drop, window);
                        _committed.RemoveAll(t => chunk.Snapshot.Sees(t.Xid));
                        _chunk = null;
                        _snapshot = null;
                        return new WatermarkAction(chunk, all ? null : drop, _since) { Merged = merged };
                    }

                default:
                    return null;
            }
        }
    }

    /// <summary>
    /// The dropped chunk rows that must be emitted merged instead (see the class comment): those whose key's
    /// first change in the window is an update with unchanged TOASTed columns.
    /// </summary>
    private static Dictionary<string, CapturedRow> Merge(SnapshotChunk chunk, HashSet<string> drop, List<TrackedTransaction> window)
    {
        Dictionary<string, CapturedRow> merged = new(StringComparer.Ordinal);
        if (!window.Any(t => t.Changes.Any(c => c.After is { HasUnchangedToast: true })))
        {
            return merged;
        }

        var byKey = window.SelectMany(t => t.Changes).GroupBy(c => c.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        foreach (var row in chunk.Rows)
        {
            var key = Encoding.UTF8.GetString(row.Key);
            if (!drop.Contains(key) || !byKey.TryGetValue(key, out var changes))
            {
                continue;
            }

            if (changes[0].After is not { HasUnchangedToast: true })
            {
                continue; // the stream carries the row whole first: dropping is right
            }

            CapturedRow? state = row.Row;
            foreach (var c in changes)
            {
                state = c.After is null ? null
                    : state is null ? (c.After.HasUnchangedToast ? null : c.After)
                    : state.Overlay(c.After);
                if (state is null && c.After is not null)
                {
                    break; // a value the merge cannot know: left to the stream (the Sink parks what it cannot apply)
                }
            }

            if (state is not null)
            {
                merged[key] = state;
            }
        }

        return merged;
    }

    private sealed record TrackedChange(string Key, CapturedRow? After);

    private sealed class TrackedTransaction(uint xid)
    {
        public uint Xid { get; } = xid;

        /// <summary>The transaction's changes of the watched table, in order: the keys it touched, and what it left there for merging (see the class comment).</summary>
        public List<TrackedChange> Changes { get; } = [];

        public bool All { get; set; }
    }
}

/// <summary>
/// What the reader does at a high watermark: emit <see cref="Chunk"/> without the rows keyed in <see cref="Drop"/>
/// (null: drop every row, the table was truncated by a transaction the chunk did not see).
/// <see cref="Since"/> is the table's low watermark position in this session. A dropped row found in
/// <see cref="Merged"/> is emitted as that merged row instead (the row as of the high watermark).
/// </summary>
public sealed record WatermarkAction(SnapshotChunk Chunk, HashSet<string>? Drop, Lsn Since)
{
    public IReadOnlyDictionary<string, CapturedRow> Merged { get; init; } = new Dictionary<string, CapturedRow>();
}
