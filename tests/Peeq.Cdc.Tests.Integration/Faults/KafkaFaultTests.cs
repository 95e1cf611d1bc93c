using Confluent.Kafka;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Faults;

/// <summary>
/// Guarantee 1 while Kafka misbehaves: the mock cluster's broker taken down for 10 s (60 s in production
/// terms; the length is what a test can afford, the behaviour is the same), and produce and offset-commit
/// requests answered with errors (<c>rd_kafka_mock_push_request_errors</c>). The cluster is this class's
/// own, so no other test class sees the outage.
/// </summary>
public sealed class KafkaFaultTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int BrokerId = 1;
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();
    private readonly List<string> _databases = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _kafka.Dispose();
        var pg = await SharedPostgres.GetAsync();
        foreach (var db in _databases)
        {
            await pg.DropDatabaseAsync(db);
        }
    }

    private async Task<(string Source, string Target, PipelineHarness Pipeline)> StartAsync(string name)
    {
        var source = await SharedPostgres.CreateDatabaseAsync(name + "_src");
        var target = await SharedPostgres.CreateDatabaseAsync(name + "_dst");
        _databases.AddRange([name + "_src", name + "_dst"]);
        await SharedPostgres.ExecuteAsync(source, MixedWorkload.Schema);
        var pipeline = new PipelineHarness(PipelineHarness.Identity(name, source, target, _kafka.BootstrapServers, MixedWorkload.Tables), _kafka, output);
        await pipeline.StartAsync(Stages.Capture);
        await pipeline.StartAsync(Stages.Transform);
        await pipeline.StartAsync(Stages.Sink);
        return (source, target, pipeline);
    }

    private static async Task AssertExactAsync(string source, string target)
    {
        foreach (var t in MixedWorkload.Tables)
        {
            await TableComparer.AssertEqualAsync(source, target, TableId.Parse(t));
        }

        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows"));
    }

    [Fact]
    public async Task broker_down_for_10_s_during_a_steady_workload_loses_and_duplicates_nothing()
    {
        var (source, target, pipeline) = await StartAsync("kf_down");
        await using var _ = pipeline;
        await MixedWorkload.RunAsync(source, 200, seed: 31);
        await pipeline.DrainAsync();

        var workload = Task.Run(() => MixedWorkload.RunAsync(source, 2000, seed: 32, firstId: 100_000));
        await Task.Delay(1000);
        var applied = (await Postgres.PipelineProgress.AppliedAsync(pipeline.Options, CancellationToken.None))["kf_down"].CommitLsn;
        _kafka.SetBrokerDown(BrokerId);
        output.WriteLine("[test] broker down");
        await Task.Delay(TimeSpan.FromSeconds(10));
        // Nothing can have been applied through a broker that is down for longer than anything was in flight.
        var appliedWhileDown = (await Postgres.PipelineProgress.AppliedAsync(pipeline.Options, CancellationToken.None))["kf_down"].CommitLsn;
        _kafka.SetBrokerUp(BrokerId);
        output.WriteLine($"[test] broker up (applied {applied} before, {appliedWhileDown} at the end of the outage)");
        await workload;
        await pipeline.DrainAsync(TimeSpan.FromSeconds(120));
        await AssertExactAsync(source, target);
    }

    [Fact]
    public async Task produce_errors_injected_by_the_broker_are_retried_or_replayed_from_the_slot_and_the_target_is_exact()
    {
        var (source, target, pipeline) = await StartAsync("kf_produce");
        await using var _ = pipeline;
        await MixedWorkload.RunAsync(source, 500, seed: 41);
        await pipeline.DrainAsync();

        var failures = Capture.CaptureMetrics.Errors.WithLabels("kf_produce", "produce").Value;
        // Retriable errors (the idempotent producer retries them itself), then one it must not retry: the
        // batch fails, Capture sees the failed delivery and restarts its session from the slot.
        _kafka.PushRequestErrors(0 /* Produce */,
            ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut, ErrorCode.NotEnoughReplicas,
            ErrorCode.MsgSizeTooLarge);
        await MixedWorkload.RunAsync(source, 2000, seed: 42, firstId: 100_000);
        await pipeline.DrainAsync(TimeSpan.FromSeconds(120));
        await AssertExactAsync(source, target);
        Assert.True(Capture.CaptureMetrics.Errors.WithLabels("kf_produce", "produce").Value > failures, "no delivery failed: the injected errors never reached Capture");
    }

    [Fact]
    public async Task offset_commit_errors_then_restarted_consumers_redeliver_without_duplicate_effect()
    {
        var (source, target, pipeline) = await StartAsync("kf_commit");
        await using var _ = pipeline;
        await MixedWorkload.RunAsync(source, 500, seed: 51);
        await pipeline.DrainAsync();

        var skipped = Sink.SinkMetrics.DuplicatesSkipped.WithLabels("kf_commit").Value;
        // Every OffsetCommit of Transform and Sink fails for a while: their committed offsets fall behind what they applied.
        _kafka.PushRequestErrors(8 /* OffsetCommit */, Enumerable.Repeat(new[] { ErrorCode.RequestTimedOut, ErrorCode.NotCoordinatorForGroup, ErrorCode.RebalanceInProgress, ErrorCode.GroupLoadInProgress }, 40)
            .SelectMany(e => e).ToArray());
        await MixedWorkload.RunAsync(source, 2000, seed: 52, firstId: 100_000);
        await pipeline.DrainAsync(TimeSpan.FromSeconds(120));

        // Restarted, both read again from the offsets the broker kept: what they re-read must change nothing.
        await pipeline.StopAsync(Stages.Sink);
        await pipeline.StopAsync(Stages.Transform);
        await pipeline.StartAsync(Stages.Transform);
        await pipeline.StartAsync(Stages.Sink);
        await MixedWorkload.RunAsync(source, 500, seed: 53, firstId: 200_000);
        await pipeline.DrainAsync(TimeSpan.FromSeconds(120));
        await AssertExactAsync(source, target);
        output.WriteLine($"duplicates skipped after the restart: {Sink.SinkMetrics.DuplicatesSkipped.WithLabels("kf_commit").Value - skipped}");
    }
}
