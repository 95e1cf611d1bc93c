using System.Text.Json.Nodes;
using Confluent.Kafka;
using Peeq.Cdc.Capture.Position;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Sink.Apply;

namespace Peeq.Cdc.Tests.Unit;

public sealed class PendingRowTests
{
    private static RowOperation Op(RowOpKind kind, long seq, JsonObject? row, params string[] unchanged) =>
        new("s", Lsn.Parse("0/10"), seq, 0, kind, new TableId("public", "t"), new JsonObject { ["id"] = 1 }, row, unchanged,
            new RowOrigin(new TableId("public", "t"), new JsonObject { ["id"] = 1 }), 0, false);

    [Fact]
    public void later_change_wins_but_an_unchanged_column_keeps_the_value_set_earlier_in_the_batch()
    {
        var batch = new TableBatch(new TableId("public", "t"));
        batch.Add(Op(RowOpKind.Upsert, 1, new JsonObject { ["id"] = 1, ["a"] = "one", ["big"] = "toast-1" }));
        batch.Add(Op(RowOpKind.Upsert, 2, new JsonObject { ["id"] = 1, ["a"] = "two" }, "big"));
        var row = Assert.Single(batch.Rows);
        Assert.Equal("two", row.Row!["a"]!.GetValue<string>());
        Assert.Equal("toast-1", row.Row!["big"]!.GetValue<string>());
        Assert.Empty(row.Unchanged);
        Assert.Equal(2, row.Seq);
    }

    [Fact]
    public void unchanged_stays_unchanged_when_nothing_in_the_batch_knows_the_value()
    {
        var batch = new TableBatch(new TableId("public", "t"));
        batch.Add(Op(RowOpKind.Upsert, 1, new JsonObject { ["id"] = 1, ["a"] = "one" }, "big"));
        batch.Add(Op(RowOpKind.Upsert, 2, new JsonObject { ["id"] = 1, ["a"] = "two" }, "big"));
        Assert.Equal(["big"], batch.Rows.Single().Unchanged);
    }

    [Fact]
    public void delete_then_insert_of_the_same_key_is_the_insert()
    {
        var batch = new TableBatch(new TableId("public", "t"));
        batch.Add(Op(RowOpKind.Upsert, 1, new JsonObject { ["id"] = 1, ["a"] = "one" }));
        batch.Add(Op(RowOpKind.Delete, 2, null));
        Assert.True(batch.Rows.Single().Deleted);
        batch.Add(Op(RowOpKind.Upsert, 3, new JsonObject { ["id"] = 1, ["a"] = "three" }));
        var row = batch.Rows.Single();
        Assert.False(row.Deleted);
        Assert.Equal("three", row.Row!["a"]!.GetValue<string>());
    }
}

public sealed class OffsetTrackerTests
{
    private static readonly TopicPartition P = new("t", 0);

    [Fact]
    public void commits_only_up_to_the_oldest_unfinished_message()
    {
        var tracker = new OffsetTracker();
        for (var o = 0; o < 10; o++)
        {
            tracker.Consumed(P, o < 5 ? "a" : "b", o);
        }

        Assert.DoesNotContain(tracker.Committable(), x => x.Offset.Value > 0);
        tracker.Done("b", new TopicPartitionOffset(P, 9));
        Assert.DoesNotContain(tracker.Committable(), x => x.Offset.Value > 0);
        tracker.Done("a", new TopicPartitionOffset(P, 2));
        Assert.Equal(3, tracker.Committable().Single().Offset.Value);
        tracker.Done("a", new TopicPartitionOffset(P, 4));
        Assert.Equal(10, tracker.Committable().Single().Offset.Value);
    }

    [Fact]
    public void a_million_pending_messages_of_one_source_are_one_range()
    {
        var tracker = new OffsetTracker();
        for (var o = 0; o < 1_000_000; o++)
        {
            tracker.Consumed(P, "big", o);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        tracker.Done("big", new TopicPartitionOffset(P, 999_999));
        Assert.Equal(1_000_000, tracker.Committable().Single().Offset.Value);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 10_000);
    }
}

public sealed class InFlightWindowTests
{
    [Fact]
    public void fills_and_opens_as_the_sink_acknowledges()
    {
        var w = new InFlightWindow(1000);
        for (var i = 1; i <= 5; i++)
        {
            w.Add(new SourcePosition(Lsn.Parse("0/10"), i), 300);
        }

        Assert.True(w.IsFull);
        var room = w.WaitForRoomAsync(CancellationToken.None);
        Assert.False(room.IsCompleted);
        w.Release(Lsn.Zero, new SourcePosition(Lsn.Parse("0/10"), 2));
        Assert.True(room.IsCompleted);
        Assert.Equal(900, w.InFlightBytes);
        w.Release(Lsn.Parse("0/10"), SourcePosition.Start);
        Assert.Equal(0, w.InFlightBytes);
    }
}

public sealed class SourceQueueTests
{
    private static Delivered Row(long seq, int bytes) =>
        new(new RowOperation("s", Lsn.Parse("0/10"), seq, 0, RowOpKind.Upsert, new TableId("public", "t"), new JsonObject { ["id"] = seq }, new JsonObject { ["id"] = seq },
            [], new RowOrigin(new TableId("public", "t"), new JsonObject { ["id"] = seq }), 0, false), new TopicPartitionOffset("t", 0, seq), bytes);

    private static SourceApplier Applier(SinkOptions options) =>
        new("s", "target", Npgsql.NpgsqlDataSource.Create("Host=127.0.0.1;Port=1"), options, new TargetTables(Npgsql.NpgsqlDataSource.Create("Host=127.0.0.1;Port=1")),
            null, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, (_, _) => { });

    [Fact]
    public void a_source_queue_holds_at_most_max_batch_bytes_of_encoded_events_and_always_takes_one()
    {
        var applier = Applier(new SinkOptions { MaxBatchRows = 10000, MaxBatchBytes = 64 * 1024 });
        var taken = 0;
        while (taken < 100 && applier.TryEnqueue(Row(taken + 1, 10_000)))
        {
            taken++;
        }

        // 6 events of 10,000 bytes fit 64 KiB; the 7th would not (the row bound alone would take 10,000 of them).
        Assert.Equal(6, taken);

        var big = Applier(new SinkOptions { MaxBatchRows = 10000, MaxBatchBytes = 64 * 1024 });
        Assert.True(big.TryEnqueue(Row(1, 1_000_000)));
        Assert.False(big.TryEnqueue(Row(2, 1)));
    }
}
