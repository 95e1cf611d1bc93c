using System.Text;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Capture.Snapshot;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Tests.Unit.Capture;

/// <summary>
/// The stream side of chunked snapshots: a chunk row is dropped exactly when a transaction the chunk's
/// MVCC snapshot did not see changed its key before the high watermark (the stream already carries the
/// newer state, so the read must not overwrite it); rows the chunk read after a change are kept.
/// </summary>
public sealed class WatermarkTrackerTests
{
    private static readonly TableId Items = new("public", "items");

    [Fact]
    public void chunk_drops_only_rows_changed_by_transactions_its_snapshot_did_not_see()
    {
        var tracker = new WatermarkTracker("s1");
        var low = tracker.Content("low", 1);
        tracker.BeginTable(Items, low);

        // Before the low watermark: not recorded (the chunk reads after it, so it holds these).
        Change(tracker, 90, "k-before");
        Assert.Null(tracker.OnWatermark(low, Lsn.Parse("0/100")));
        Assert.True(tracker.Watches(Items));

        Change(tracker, 99, "k-seen-old");        // committed before the chunk's snapshot: the chunk holds its effect
        Change(tracker, 102, "k-in-progress");   // in progress when the chunk was read: the chunk holds the old row
        var snapshot = XidSnapshot.Parse("100:105:102");
        tracker.SetSnapshot(snapshot);
        var chunk = Chunk(tracker, snapshot, 1);
        var emitted = tracker.Offer(chunk);
        Change(tracker, 103, "k-seen");          // finished before the read (103 < xmax, not in progress)
        Change(tracker, 106, "k-after");         // started after the read
        Change(tracker, 107, "k-other-table", table: new TableId("public", "other"));

        var action = tracker.OnWatermark(tracker.Content("high", 1), Lsn.Parse("0/200"));

        Assert.NotNull(action);
        Assert.Same(chunk, action.Chunk);
        Assert.Equal(Lsn.Parse("0/100"), action.Since);
        Assert.Equal(["k-after", "k-in-progress"], action.Drop!.Order(StringComparer.Ordinal));
        Assert.False(emitted.IsCompleted);
    }

    [Fact]
    public void truncate_by_a_transaction_the_chunk_did_not_see_drops_the_whole_chunk()
    {
        var (tracker, snapshot) = ReadingFirstChunk();
        tracker.Offer(Chunk(tracker, snapshot, 1));
        tracker.OnBegin(201);
        tracker.OnTruncate(Items);
        tracker.OnCommit();

        var action = tracker.OnWatermark(tracker.Content("high", 1), Lsn.Parse("0/200"));

        Assert.NotNull(action);
        Assert.Null(action.Drop);
    }

    [Fact]
    public void watermarks_of_an_earlier_session_replayed_from_the_slot_are_ignored()
    {
        var earlier = new WatermarkTracker("old");
        var tracker = new WatermarkTracker("new");
        tracker.BeginTable(Items, tracker.Content("low", 1));
        var snapshot = XidSnapshot.Parse("10:10:");

        Assert.Null(tracker.OnWatermark(earlier.Content("low", 1), Lsn.Parse("0/10")));
        Assert.False(tracker.Watches(Items));
        tracker.OnWatermark(tracker.Content("low", 1), Lsn.Parse("0/20"));
        tracker.SetSnapshot(snapshot);
        tracker.Offer(Chunk(tracker, snapshot, 1));
        Assert.Null(tracker.OnWatermark(earlier.Content("high", 1), Lsn.Parse("0/30")));
        Assert.NotNull(tracker.OnWatermark(tracker.Content("high", 1), Lsn.Parse("0/40")));
    }

    [Fact]
    public void a_dropped_row_whose_first_change_in_the_window_left_a_toasted_column_unchanged_is_emitted_merged_as_of_the_high_watermark()
    {
        var (tracker, snapshot) = ReadingFirstChunk();
        var chunk = new SnapshotChunk(Items, 0, 1, [Read("1", "0", "big-1"), Read("2", "0", "big-2"), Read("3", "0", "big-3"), Read("4", "0", "big-4")],
            null, false, 4, 4, tracker.Content("high", 1), snapshot);
        tracker.Offer(chunk);

        // 1: v changed, doc unchanged, then v again: merged, the chunk's doc kept, the last v.
        // 2: doc set explicitly first: the stream carries the row whole, dropped as before.
        // 3: unchanged-doc update, then deleted: dropped.
        // 4: unchanged-doc update, then an update setting doc: merged with the new doc.
        tracker.OnBegin(201);
        Update(tracker, "1", "5", null);
        Update(tracker, "2", "5", "new-2");
        Update(tracker, "3", "5", null);
        Update(tracker, "4", "5", null);
        tracker.OnCommit();
        tracker.OnBegin(202);
        Update(tracker, "1", "6", null);
        Update(tracker, "2", "6", null);
        tracker.OnChange(Items, Key("3"), null);
        Update(tracker, "4", "6", "new-4");
        tracker.OnCommit();

        var action = tracker.OnWatermark(tracker.Content("high", 1), Lsn.Parse("0/200"));

        Assert.NotNull(action);
        Assert.Equal(new[] { "1", "2", "3", "4" }.Select(k => Encoding.UTF8.GetString(Key(k))), action.Drop!.Order(StringComparer.Ordinal));
        Assert.Equal(2, action.Merged.Count);
        Assert.Equal("1|6|big-1", Values(action.Merged[Encoding.UTF8.GetString(Key("1"))]));
        Assert.Equal("4|6|new-4", Values(action.Merged[Encoding.UTF8.GetString(Key("4"))]));
        Assert.Empty(action.Merged[Encoding.UTF8.GetString(Key("1"))].Unchanged);
    }

    private static readonly CapturedColumn[] Columns = [new("id", PgType.BuiltIn(20), true, false), new("v", PgType.BuiltIn(23), false, false), new("doc", PgType.BuiltIn(25), false, false)];

    private static byte[] Key(string id) => Encoding.UTF8.GetBytes($"{{\"id\":{id}}}");

    private static SnapshotRow Read(string id, string v, string doc) =>
        new(CapturedRow.FromValues(Columns, [id, v, doc], OmitSensitiveValues.Instance), Key(id));

    private static void Update(WatermarkTracker tracker, string id, string v, string? doc) =>
        tracker.OnChange(Items, Key(id), CapturedRow.FromChange(Columns, [id, v, doc], [false, false, doc is null], OmitSensitiveValues.Instance));

    private static string Values(CapturedRow row) => string.Join('|', row[0], row[1], row[2]);

    [Fact]
    public void pg_snapshot_visibility_follows_xmin_xmax_and_the_in_progress_list_modulo_2_32()
    {
        var s = XidSnapshot.Parse("100:105:101,103");
        Assert.True(s.Sees(99));
        Assert.True(s.Sees(100));
        Assert.False(s.Sees(101));
        Assert.True(s.Sees(102));
        Assert.False(s.Sees(103));
        Assert.False(s.Sees(105));

        // xid8 values past one epoch compare on their low 32 bits, as pgoutput reports them.
        var wrapped = XidSnapshot.Parse($"{(1L << 32) + 4294967290L}:{(2L << 32) + 5}:");
        Assert.True(wrapped.Sees(4294967291));
        Assert.True(wrapped.Sees(2));
        Assert.False(wrapped.Sees(5));
    }

    private static void Change(WatermarkTracker tracker, uint xid, string key, TableId? table = null)
    {
        tracker.OnBegin(xid);
        tracker.OnChange(table ?? Items, Encoding.UTF8.GetBytes(key), null);
        tracker.OnCommit();
    }

    /// <summary>A tracker watching <see cref="Items"/> past its low watermark (0/100), its first chunk's snapshot taken (xmin = xmax = 200).</summary>
    private static (WatermarkTracker Tracker, XidSnapshot Snapshot) ReadingFirstChunk()
    {
        var tracker = new WatermarkTracker("s1");
        var low = tracker.Content("low", 1);
        tracker.BeginTable(Items, low);
        tracker.OnWatermark(low, Lsn.Parse("0/100"));
        var snapshot = XidSnapshot.Parse("200:200:");
        tracker.SetSnapshot(snapshot);
        return (tracker, snapshot);
    }

    private static SnapshotChunk Chunk(WatermarkTracker tracker, XidSnapshot snapshot, long id) =>
        new(Items, 0, id, [], null, false, 0, 1000, tracker.Content("high", id), snapshot);
}
