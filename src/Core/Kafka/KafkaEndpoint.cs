using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Peeq.Cdc.Configuration;

namespace Peeq.Cdc.Kafka;

/// <summary>Creates topics. The embedded mock cluster has its own implementation (it does not serve CreateTopics).</summary>
public interface ITopicAdmin
{
    Task EnsureTopicAsync(string topic, int partitions, CancellationToken ct);
}

/// <summary>Where Kafka is and how to talk to it: every client of every stage is configured here.</summary>
public sealed class KafkaEndpoint
{
    public KafkaEndpoint(string bootstrapServers, IReadOnlyDictionary<string, string>? properties = null, ITopicAdmin? admin = null)
    {
        BootstrapServers = bootstrapServers;
        Properties = properties ?? new Dictionary<string, string>();
        Admin = admin ?? new KafkaTopicAdmin(this);
    }

    public string BootstrapServers { get; }

    public IReadOnlyDictionary<string, string> Properties { get; }

    public ITopicAdmin Admin { get; }

    /// <summary>
    /// A producer for ordered, gap-free delivery per partition: idempotent (so retries never reorder or
    /// duplicate), acks from all replicas, and a short linger so light traffic stays fast.
    /// </summary>
    public ProducerConfig ProducerConfig(string clientId)
    {
        var c = new ProducerConfig
        {
            BootstrapServers = BootstrapServers,
            ClientId = clientId,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 2,
            BatchSize = 1_000_000,
            MessageMaxBytes = 16 * 1024 * 1024,
            QueueBufferingMaxKbytes = 64 * 1024,
            CompressionType = CompressionType.Lz4,
            SocketNagleDisable = true,
        };
        Apply(c);
        return c;
    }

    /// <summary>
    /// A consumer that never commits on its own (stages commit what they have durably handed on) and
    /// does not sit on Kafka's default 500 ms fetch wait.
    /// </summary>
    public ConsumerConfig ConsumerConfig(string groupId, string clientId)
    {
        var c = new ConsumerConfig
        {
            BootstrapServers = BootstrapServers,
            GroupId = groupId,
            ClientId = clientId,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            FetchWaitMaxMs = 5,
            FetchMinBytes = 1,
            FetchMaxBytes = 64 * 1024 * 1024,
            MaxPartitionFetchBytes = 16 * 1024 * 1024,
            SocketNagleDisable = true,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
            SessionTimeoutMs = 10000,
            HeartbeatIntervalMs = 1000,
        };
        Apply(c);
        return c;
    }

    public AdminClientConfig AdminConfig()
    {
        var c = new AdminClientConfig { BootstrapServers = BootstrapServers };
        Apply(c);
        return c;
    }

    private void Apply(ClientConfig c)
    {
        foreach (var (k, v) in Properties)
        {
            c.Set(k, v);
        }
    }

    public static KafkaEndpoint FromOptions(KafkaOptions options) =>
        options.IsEmbedded
            ? throw new InvalidOperationException("kafka.bootstrapServers is 'embedded': start the embedded broker and pass its endpoint")
            : new KafkaEndpoint(options.BootstrapServers, options.Properties);
}

/// <summary>
/// Creates topics through Kafka's admin API; an existing topic is left as it is. A broker that cannot
/// create topics (no permission, or the development mock, which does not serve CreateTopics) gets a
/// clear error naming the topic to create, instead of a hang.
/// </summary>
public sealed class KafkaTopicAdmin(KafkaEndpoint endpoint) : ITopicAdmin
{
    public async Task EnsureTopicAsync(string topic, int partitions, CancellationToken ct)
    {
        using var admin = new AdminClientBuilder(endpoint.AdminConfig()).Build();
        var existing = await Task.Run(() => Describe(admin, topic), ct);
        if (existing > 0)
        {
            return;
        }

        try
        {
            await admin.CreateTopicsAsync(
                [new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = -1 }],
                new CreateTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(15), OperationTimeout = TimeSpan.FromSeconds(15) }).WaitAsync(TimeSpan.FromSeconds(20), ct);
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code is ErrorCode.TopicAlreadyExists or ErrorCode.NoError))
        {
        }
        catch (Exception e) when (e is KafkaException or TimeoutException)
        {
            throw new Configuration.ConfigurationException(
                $"kafka: cannot create topic '{topic}' ({partitions} partition(s)) at {endpoint.BootstrapServers}: {e.Message}. "
                + "Create it beforehand, grant the pipeline CreateTopics, or for 'peeq-cdc dev kafka' pass --config FILE so it creates the pipeline's topics.", e);
        }
    }

    private static int Describe(IAdminClient admin, string topic)
    {
        try
        {
            var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10));
            var t = metadata.Topics.FirstOrDefault(x => x.Topic == topic);
            return t is null || t.Error.IsError ? 0 : t.Partitions.Count;
        }
        catch (KafkaException)
        {
            return 0;
        }
    }
}
