using System.CommandLine;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Kafka;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>run</c>, <c>capture</c>, <c>transform</c>, <c>sink</c>: the pipeline's long-running stages.</summary>
public static class StageCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Stage("run", "Run every stage (capture, transform, sink) in one process", Stages.All);
        yield return Stage("capture", "Stream the sources' changes (logical replication) to their raw topics", Stages.Capture);
        yield return Stage("transform", "Map raw topics to the unified (target row operation) topics", Stages.Transform);
        yield return Stage("sink", "Apply unified topics to the target databases", Stages.Sink);
    }

    private static Command Stage(string name, string description, Stages stages)
    {
        var config = CliOptions.Config();
        var http = CliOptions.Http();
        var logLevel = CliOptions.LogLevel();
        var keepGoing = CliOptions.KeepGoing();
        var only = new Option<string[]>(stages == Stages.Sink ? "--target" : "--source")
        {
            Description = stages == Stages.Sink ? "Only these targets (repeatable; default all)" : "Only these sources (repeatable; default all)",
            AllowMultipleArgumentsPerToken = true,
        };
        var command = new Command(name, description) { config, http, logLevel, keepGoing };
        if (stages != Stages.All)
        {
            command.Options.Add(only);
        }

        command.SetAction(async (parse, ct) =>
        {
            var pipeline = PipelineConfig.Load(parse.GetValue(config)!.FullName);
            var selected = parse.GetValue(only) is { Length: > 0 } o ? o : null;
            if (!parse.GetValue(keepGoing))
            {
                var slow = new List<string>();
                var problems = await Preflight.CheckAsync(pipeline, stages.HasFlag(Stages.Capture), stages != Stages.Capture, ct, transient: slow);
                if (problems.Count > 0)
                {
                    throw new ConfigurationException(string.Join(Environment.NewLine, problems));
                }

                foreach (var s in slow)
                {
                    Console.Error.WriteLine($"warning: {s}; starting anyway, it is retried with backoff");
                }
            }

            using var embedded = pipeline.Options.Kafka.IsEmbedded ? EmbeddedKafka.Start() : null;
            if (embedded is not null)
            {
                Console.Error.WriteLine($"kafka: embedded in-memory broker at {embedded.BootstrapServers} (development only; data is lost when this process ends)");
            }

            var kafka = embedded?.Endpoint ?? KafkaEndpoint.FromOptions(pipeline.Options.Kafka);
            var urls = parse.GetValue(http) ?? pipeline.Options.Http.Urls;
            var app = PipelineHost.Build(pipeline, kafka, stages, urls == "off" ? null : urls, parse.GetValue(logLevel),
                stages == Stages.Sink ? null : selected, stages == Stages.Sink ? selected : null, dashboard: stages == Stages.All && urls != "off");
            await app.StartAsync(ct);
            if (stages == Stages.All && urls != "off")
            {
                Console.Error.WriteLine($"dashboard: {Operations.Dashboard.DashboardEndpoints.PageUrl(app.Urls)}");
            }

            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
            }

            await app.StopAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }
}
