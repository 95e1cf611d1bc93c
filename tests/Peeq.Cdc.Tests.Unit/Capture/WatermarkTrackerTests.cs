using System.Text;
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
        var tracker = new WatermarkTracker("s1");
        var low = tracker.Content("low", 1);
        tracker.BeginTable(Items, low);
        tracker.OnWatermark(low, Lsn.Parse("0/100"));
        var snapshot = XidSnapshot.Parse("200:200:");
        tracker.SetSnapshot(snapshot);
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
        tracker.OnKey(table ?? Items, Encoding.UTF8.GetBytes(key));
        tracker.OnCommit();
    }

    private static SnapshotChunk Chunk(WatermarkTracker tracker, XidSnapshot snapshot, long id) =>
        new(Items, 0, id, [], null, false, 0, 1000, tracker.Content("high", id), snapshot);
}
