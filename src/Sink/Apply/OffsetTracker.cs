using Confluent.Kafka;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>
/// Which offset of each partition can be committed: everything before the oldest message some source
/// has not finished with (applied and committed, or skipped). Offsets only save re-reading after a
/// restart; correctness never depends on them (the Sink is idempotent by source position).
/// Pending work is kept as ranges, so a million-row transaction costs one range, not a million entries.
/// </summary>
public sealed class OffsetTracker
{
    private readonly Dictionary<TopicPartition, PartitionState> _partitions = [];

    public void Consumed(TopicPartition tp, string source, long offset)
    {
        if (!_partitions.TryGetValue(tp, out var p))
        {
            p = new PartitionState();
            _partitions[tp] = p;
        }

        p.ConsumedUpTo = offset;
        if (!p.Pending.TryGetValue(source, out var ranges))
        {
            ranges = new LinkedList<(long Start, long End)>();
            p.Pending[source] = ranges;
        }

        if (p.LastSource == source && ranges.Last is { } last && last.Value.End == p.LastOffset)
        {
            last.Value = (last.Value.Start, offset);
        }
        else
        {
            ranges.AddLast((offset, offset));
        }

        p.LastSource = source;
        p.LastOffset = offset;
    }

    /// <summary>A message that belongs to no source (unreadable): finished as soon as it is seen.</summary>
    public void ConsumedNothing(TopicPartition tp, long offset)
    {
        if (!_partitions.TryGetValue(tp, out var p))
        {
            p = new PartitionState();
            _partitions[tp] = p;
        }

        p.ConsumedUpTo = offset;
        p.LastSource = null;
    }

    public void Done(string source, TopicPartitionOffset upTo)
    {
        if (!_partitions.TryGetValue(upTo.TopicPartition, out var p) || !p.Pending.TryGetValue(source, out var ranges))
        {
            return;
        }

        var limit = upTo.Offset.Value;
        while (ranges.First is { } first)
        {
            if (first.Value.End <= limit)
            {
                ranges.RemoveFirst();
            }
            else
            {
                if (first.Value.Start <= limit)
                {
                    first.Value = (limit + 1, first.Value.End);
                }

                break;
            }
        }
    }

    public void Revoked(TopicPartition tp) => _partitions.Remove(tp);

    /// <summary>The offsets to commit now (the next message to read, per partition).</summary>
    public IEnumerable<TopicPartitionOffset> Committable()
    {
        foreach (var (tp, p) in _partitions)
        {
            long? min = null;
            foreach (var ranges in p.Pending.Values)
            {
                if (ranges.First is { } f && (min is null || f.Value.Start < min))
                {
                    min = f.Value.Start;
                }
            }

            var next = min ?? p.ConsumedUpTo + 1;
            if (next > p.Committed)
            {
                p.Committed = next;
                yield return new TopicPartitionOffset(tp, next);
            }
        }
    }

    private sealed class PartitionState
    {
        public Dictionary<string, LinkedList<(long Start, long End)>> Pending { get; } = [];

        public long ConsumedUpTo { get; set; } = -1;

        public long Committed { get; set; } = -1;

        public string? LastSource { get; set; }

        public long LastOffset { get; set; } = -1;
    }
}
