using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Capture;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Sink;
using Peeq.Cdc.Transform.Mapping;
using Peeq.Cdc.Transform.Stream;

namespace Peeq.Cdc.Tests.Integration.Infrastructure;

/// <summary>Capture, Transform (with the mappings a test gives) and Sink as hosted services in the test process.</summary>
public sealed class StageSet(PipelineOptions options, EmbeddedKafka kafka, ITestOutputHelper output, IReadOnlyDictionary<string, ITargetMapping> mappings) : IAsyncDisposable
{
    private readonly ILoggerFactory _loggers = LoggerFactory.Create(b => b.AddProvider(new TestOutputLoggerProvider(output, LogLevel.Information)));
    private readonly List<IHostedService> _running = [];

    public PipelineConfig Config { get; } = PipelineConfig.FromOptions(options);

    public async Task StartAsync()
    {
        _running.Add(new CaptureService(Config, kafka.Endpoint, _loggers));
        _running.Add(new TransformService(Config, kafka.Endpoint, mappings, _loggers));
        _running.Add(new SinkService(Config, kafka.Endpoint, _loggers));
        foreach (var s in _running)
        {
            await s.StartAsync(CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in Enumerable.Reverse(_running))
        {
            await s.StopAsync(CancellationToken.None);
            (s as IDisposable)?.Dispose();
        }

        _running.Clear();
        _loggers.Dispose();
    }
}
