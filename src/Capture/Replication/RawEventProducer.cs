using Confluent.Kafka;
using Peeq.Cdc.Capture.Position;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Capture.Replication;

/// <summary>
/// Produces one source's raw events to its topic (one partition, so order holds) and accounts every
/// byte in the in-flight window. A failed delivery poisons the session: it restarts from the slot's
/// confirmed position, so nothing is lost; the Sink's idempotency absorbs what is produced twice.
/// </summary>
public sealed class RawEventProducer(IProducer<byte[], byte[]> producer, string source, string topic, InFlightWindow window)
{
    private readonly TopicPartition _partition = new(topic, 0);
    private readonly Prometheus.Counter.Child _bytes = CaptureMetrics.Bytes.WithLabels(source);
    private Action<DeliveryReport<byte[], byte[]>>? _onDelivery; // one delegate, not one per message
    private volatile Exception? _failure;
    private static readonly Headers BeginHeaders = TypeHeaders("begin");
    private static readonly Headers EndHeaders = TypeHeaders("end");
    private static readonly Headers ChangeHeaders = TypeHeaders("change");
    private static readonly Headers SchemaHeaders = TypeHeaders("schema");

    public string Topic => topic;

    /// <summary>The first delivery failure since the session started, if any.</summary>
    public Exception? Failure => _failure;

    public void ProduceBegin(TxBegin begin) =>
        Produce(null, RawEventCodec.WriteBegin(begin), BeginHeaders, new SourcePosition(begin.CommitLsn, 0));

    public void ProduceEnd(TxEnd end) =>
        Produce(null, RawEventCodec.WriteEnd(end), EndHeaders, new SourcePosition(end.CommitLsn, end.EventCount + 1));

    public void ProduceChange(byte[] key, ReadOnlySpan<byte> value, SourcePosition position) =>
        Produce(key, value.ToArray(), ChangeHeaders, position);

    public void ProduceSchema(byte[] key, byte[] value, SourcePosition position) =>
        Produce(key, value, SchemaHeaders, position);

    private void Produce(byte[]? key, byte[] value, Headers headers, SourcePosition position)
    {
        if (_failure is { } f)
        {
            throw new KafkaDeliveryException($"source '{source}': delivery to {topic} failed: {f.Message}", f);
        }

        var message = new Message<byte[], byte[]> { Key = key!, Value = value, Headers = headers };
        while (true)
        {
            try
            {
                producer.Produce(_partition, message, _onDelivery ??= OnDelivery);
                break;
            }
            catch (ProduceException<byte[], byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(50));
            }
        }

        window.Add(position, value.Length + (key?.Length ?? 0));
        _bytes.Inc(value.Length);
    }

    private void OnDelivery(DeliveryReport<byte[], byte[]> report)
    {
        if (report.Error.IsError)
        {
            _failure ??= new KafkaException(report.Error);
        }
    }

    private static Headers TypeHeaders(string type) => new() { { RawEventCodec.TypeHeader, System.Text.Encoding.ASCII.GetBytes(type) } };
}

/// <summary>Kafka did not take an event; the session restarts from the slot.</summary>
public sealed class KafkaDeliveryException(string message, Exception inner) : Exception(message, inner);


