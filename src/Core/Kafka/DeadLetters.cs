using System.Text;
using Confluent.Kafka;

namespace Peeq.Cdc.Kafka;

/// <summary>
/// The dead-letter topics' one format (docs/contracts.md): the message as it was consumed, with the reason in
/// <c>peeq-error</c> and where it came from (<c>topic/partition@offset</c>) in <c>peeq-origin</c>.
/// </summary>
public static class DeadLetters
{
    public static void Copy(IProducer<byte[], byte[]> producer, string topic, ConsumeResult<byte[], byte[]> result, string reason) =>
        producer.Produce(topic, new Message<byte[], byte[]>
        {
            Key = result.Message.Key,
            Value = result.Message.Value,
            Headers = new Headers
            {
                { "peeq-error", Encoding.UTF8.GetBytes(reason) },
                { "peeq-origin", Encoding.UTF8.GetBytes($"{result.Topic}/{result.Partition.Value}@{result.Offset.Value}") },
            },
        });
}
