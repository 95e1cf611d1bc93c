using Peeq.Cdc.Configuration;

namespace Peeq.Cdc.Kafka;

/// <summary>Every topic a pipeline uses, with its partition count.</summary>
public static class PipelineTopics
{
    public static IEnumerable<(string Topic, int Partitions)> For(PipelineOptions o)
    {
        foreach (var s in o.Sources)
        {
            yield return (Topics.Raw(o.Kafka.TopicPrefix, s.Name), 1);
        }

        foreach (var t in o.Targets)
        {
            yield return (Topics.Unified(o.Kafka.TopicPrefix, t.Name), Topics.UnifiedPartitionCount(o, t.Name));
        }

        yield return ($"{o.Kafka.TopicPrefix}.dlq.transform", 1);
        yield return ($"{o.Kafka.TopicPrefix}.dlq.sink", 1);
    }

    public static async Task EnsureAllAsync(ITopicAdmin admin, PipelineOptions o, CancellationToken ct)
    {
        foreach (var (topic, partitions) in For(o))
        {
            await admin.EnsureTopicAsync(topic, partitions, ct);
        }
    }
}
