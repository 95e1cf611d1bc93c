using Peeq.Cdc.Configuration;

namespace Peeq.Cdc.Kafka;

/// <summary>Topic names and partitioning (docs/contracts.md, "Topics").</summary>
public static class Topics
{
    /// <summary>One raw topic per source database, one partition: commit order and transaction boundaries survive.</summary>
    public static string Raw(string prefix, string source) => $"{prefix}.raw.{source}";

    /// <summary>One unified topic per target database; each source's events go to one partition of it.</summary>
    public static string Unified(string prefix, string target) => $"{prefix}.unified.{target}";

    /// <summary>
    /// The partition that carries all of one source's unified events. A stable hash (FNV-1a), so every
    /// Transform instance agrees without coordination.
    /// </summary>
    public static int PartitionFor(string source, int partitions)
    {
        var hash = 2166136261u;
        foreach (var c in source)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash % (uint)partitions);
    }

    /// <summary>Partitions of a target's unified topic: configured, or one per source of that target.</summary>
    public static int UnifiedPartitionCount(PipelineOptions o, string target) =>
        o.Kafka.UnifiedPartitions > 0 ? o.Kafka.UnifiedPartitions : Math.Max(1, o.Sources.Count(s => s.Target == target));

    /// <summary>
    /// Where a source's unified events go. With a partition per source, sources get one each (sorted by
    /// name, so every instance agrees); with fewer partitions, a stable hash shares them.
    /// </summary>
    public static TopicRoute UnifiedRoute(PipelineOptions o, string source)
    {
        var target = o.Source(source).Target;
        var partitions = UnifiedPartitionCount(o, target);
        var peers = o.Sources.Where(s => s.Target == target).Select(s => s.Name).OrderBy(n => n, StringComparer.Ordinal).ToList();
        var partition = peers.Count <= partitions ? peers.IndexOf(source) : PartitionFor(source, partitions);
        return new TopicRoute(Unified(o.Kafka.TopicPrefix, target), partition);
    }
}

/// <summary>A topic and partition.</summary>
public readonly record struct TopicRoute(string Topic, int Partition);
