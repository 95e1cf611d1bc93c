using System.CommandLine;
using Peeq.Cdc.Embedded;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>dev kafka</c>: a standalone in-memory Kafka-protocol broker for development.</summary>
public static class DevCommands
{
    public static Command Create()
    {
        var brokers = new Option<int>("--brokers") { Description = "Number of brokers", DefaultValueFactory = _ => 1 };
        var port = new Option<int>("--port") { Description = "Fixed bootstrap port (default: any free port)", DefaultValueFactory = _ => 0 };
        var config = new Option<FileInfo?>("--config", "-c") { Description = "Create the topics this pipeline configuration uses (the mock does not serve CreateTopics)" };
        var kafka = new Command("kafka", "Serve librdkafka's in-memory mock cluster until stopped (development and tests only: data lives in memory, ~5 MiB per partition)")
        {
            brokers,
            port,
            config,
        };
        kafka.SetAction(async (parse, ct) =>
        {
            using var cluster = EmbeddedKafka.Start(parse.GetValue(brokers), parse.GetValue(port));
            if (parse.GetValue(config) is { } file)
            {
                var pipeline = Configuration.PipelineConfig.Load(file.FullName);
                foreach (var (topic, partitions) in Kafka.PipelineTopics.For(pipeline.Options))
                {
                    cluster.CreateTopic(topic, partitions);
                    Console.Error.WriteLine($"created topic {topic} ({partitions} partition(s))");
                }
            }

            Console.WriteLine(cluster.BootstrapServers);
            Console.Error.WriteLine($"embedded Kafka ({cluster.Brokers} broker(s), in memory) serving at {cluster.BootstrapServers}; Ctrl+C to stop");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
            }

            return 0;
        });
        return new Command("dev", "Development helpers") { kafka };
    }
}
