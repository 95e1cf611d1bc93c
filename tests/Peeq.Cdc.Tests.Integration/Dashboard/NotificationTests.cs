using System.Threading.Channels;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Notifications;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Dashboard;

/// <summary>Pipeline events reach a subscriber on the (in-memory) bus: a source that stops is reported stalled, then recovered.</summary>
public sealed class NotificationTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task subscriber_sees_a_stalled_source_event_when_its_capture_stops_and_a_recovery_when_it_resumes()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("notify_stall_src");
        var target = await SharedPostgres.CreateDatabaseAsync("notify_stall_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE ticks (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())");
        var options = PipelineHarness.Identity("notifystall", source, target, _kafka.BootstrapServers, "public.ticks");
        options.Dashboard.RefreshInterval = TimeSpan.FromMilliseconds(250);
        options.Dashboard.StallAfter = TimeSpan.FromSeconds(6);
        await using var pipeline = new PipelineHarness(options, _kafka, output);

        // The dashboard (and so the watcher and the bus) lives with Transform and Sink; Capture runs apart so it can stop alone.
        await pipeline.StartAsync(Stages.Transform | Stages.Sink, dashboard: true);
        var bus = pipeline.App(Stages.Transform | Stages.Sink).Services.GetRequiredService<IBus>();
        var events = Channel.CreateUnbounded<object>();
        var handle = bus.ConnectReceiveEndpoint("notification-test", e =>
        {
            e.Handler<SourceStalled>(ctx => events.Writer.WriteAsync(ctx.Message).AsTask());
            e.Handler<SourceRecovered>(ctx => events.Writer.WriteAsync(ctx.Message).AsTask());
        });
        await handle.Ready;
        await pipeline.StartAsync(Stages.Capture);
        await SharedPostgres.ExecuteAsync(source, "INSERT INTO ticks (id) SELECT g FROM generate_series(1, 100) g");
        await pipeline.DrainAsync();

        // On a loaded machine the start itself (slot, snapshot, partition assignment) can lag past StallAfter:
        // that stall is real and must have been followed by its recovery before the source counts as healthy.
        object? last = null;
        while (events.Reader.TryRead(out var startup))
        {
            output.WriteLine($"during start-up: {startup}");
            last = startup;
        }

        if (last is SourceStalled)
        {
            var startupRecovery = Assert.IsType<SourceRecovered>(await NextAsync(events, TimeSpan.FromSeconds(60)));
            output.WriteLine($"during start-up: {startupRecovery}");
        }

        // Healthy and caught up: no event.
        await Task.Delay(options.Dashboard.StallAfter * 2);
        Assert.False(events.Reader.TryRead(out var early), $"an event while the source was healthy: {early}");

        // The source stops flowing (its capture stops) while the legacy service keeps writing.
        await pipeline.StopAsync(Stages.Capture);
        var stoppedAt = DateTimeOffset.UtcNow;
        await SharedPostgres.ExecuteAsync(source, "INSERT INTO ticks (id) SELECT g FROM generate_series(101, 110) g");
        var stalled = Assert.IsType<SourceStalled>(await NextAsync(events, TimeSpan.FromSeconds(60)));
        output.WriteLine($"received {stalled}");
        Assert.Equal("notifystall", stalled.Source);
        Assert.Equal("target", stalled.Target);
        Assert.True(stalled.LagSeconds >= options.Dashboard.StallAfter.TotalSeconds, $"stalled at a lag of {stalled.LagSeconds} s");
        Assert.True(stalled.DetectedAt >= stoppedAt, "the stall was announced before the source stopped");
        Assert.Contains("capture", stalled.Reason, StringComparison.Ordinal);

        // Once only, however long it stays stalled.
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(events.Reader.TryRead(out var again), $"a second event while still stalled: {again}");

        await pipeline.StartAsync(Stages.Capture);
        var recovered = Assert.IsType<SourceRecovered>(await NextAsync(events, TimeSpan.FromSeconds(90)));
        output.WriteLine($"received {recovered}");
        Assert.Equal("notifystall", recovered.Source);
        Assert.Equal(110L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM ticks"));
        await handle.StopAsync();
    }

    private static async Task<object> NextAsync(Channel<object> events, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await events.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"no event within {timeout.TotalSeconds:0} s");
            throw;
        }
    }
}
