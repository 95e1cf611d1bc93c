using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration;

/// <summary>Guarantee 1 (no loss) and 2 (no duplicate effect) across crashes and a Sink that falls far behind.</summary>
public sealed class RecoveryTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task pipeline_process_killed_mid_stream_resumes_with_nothing_lost()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("recovery_kill_src");
        var target = await SharedPostgres.CreateDatabaseAsync("recovery_kill_dst");
        await SharedPostgres.ExecuteAsync(source, MixedWorkload.Schema);
        await MixedWorkload.RunAsync(source, 1000, seed: 3);
        var options = PipelineHarness.Identity("killed", source, target, _kafka.BootstrapServers, MixedWorkload.Tables);
        var config = PipelineHarness.WriteConfig(options, Path.Combine(Path.GetTempPath(), $"peeq-kill-{Guid.NewGuid():N}.yaml"));
        await Kafka.PipelineTopics.EnsureAllAsync(_kafka, options, CancellationToken.None);

        var workload = Task.Run(() => MixedWorkload.RunAsync(source, 10_000, seed: 4, firstId: 50_000));
        await using (var first = PipelineProcess.Start(output, "run", "--config", config, "--http", "off"))
        {
            await WaitUntilAppliedSomethingAsync(options);
            await Task.Delay(TimeSpan.FromMilliseconds(1500));
            first.Kill9();
        }


        await using var second = PipelineProcess.Start(output, "run", "--config", config, "--http", "off");
        await workload;
        Assert.True(await PipelineProgress.WaitForDrainAsync(options, TimeSpan.FromSeconds(120), CancellationToken.None), "did not drain after restart");
        foreach (var t in MixedWorkload.Tables)
        {
            await TableComparer.AssertEqualAsync(source, target, TableId.Parse(t));
        }
    }

    [Fact]
    public async Task sink_stopped_while_50_mb_are_committed_catches_up_exactly()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("recovery_behind_src");
        var target = await SharedPostgres.CreateDatabaseAsync("recovery_behind_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE docs (id bigint PRIMARY KEY, body text NOT NULL, version int NOT NULL)");
        await using var pipeline = new PipelineHarness(PipelineHarness.Identity("behind", source, target, _kafka.BootstrapServers, "docs"), _kafka, output);
        await pipeline.StartAsync(Stages.Capture | Stages.Transform);
        await pipeline.StartAsync(Stages.Sink);
        await pipeline.DrainAsync();
        await pipeline.StopAsync(Stages.Sink);

        // 50 MB of changes while the Sink is away: ten times what the embedded broker keeps per partition.
        for (var batch = 0; batch < 25; batch++)
        {
            await SharedPostgres.ExecuteAsync(source, $"""
                INSERT INTO docs SELECT g, repeat(md5(g::text || '{batch}'), 32), {batch} FROM generate_series({batch * 1000 + 1}, {(batch + 1) * 1000}) g
                ON CONFLICT (id) DO UPDATE SET body = excluded.body, version = excluded.version;
                UPDATE docs SET body = repeat(md5(id::text || 'u{batch}'), 32), version = version + 1 WHERE id % 3 = {batch % 3} AND id <= {(batch + 1) * 1000};
                DELETE FROM docs WHERE id % 97 = {batch % 97};
                """);
        }

        var walBytes = await SharedPostgres.ScalarAsync<decimal>(source, "SELECT sum(pg_column_size(body))::numeric FROM docs");
        output.WriteLine($"live body bytes now: {walBytes}");
        await Task.Delay(2000);
        await pipeline.StartAsync(Stages.Sink);
        await pipeline.DrainAsync(TimeSpan.FromSeconds(180));
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("docs"));
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows"));
    }

    [Fact]
    public async Task broker_dropping_unconsumed_data_is_detected_as_a_gap_and_replayed_from_the_slot()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("recovery_gap_src");
        var target = await SharedPostgres.CreateDatabaseAsync("recovery_gap_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE docs (id bigint PRIMARY KEY, body text NOT NULL)");
        var options = PipelineHarness.Identity("gap", source, target, _kafka.BootstrapServers, "docs");
        // No backpressure: Capture runs 100 MB ahead, far past the ~5 MiB the embedded broker keeps.
        options.Capture.InFlightBytes = 100L * 1024 * 1024;
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync(Stages.Capture);
        await pipeline.StartAsync(Stages.Transform | Stages.Sink);
        await pipeline.DrainAsync();
        await pipeline.StopAsync(Stages.Transform | Stages.Sink);

        var produced = Capture.CaptureMetrics.Transactions.WithLabels("gap", "transaction").Value;
        for (var i = 0; i < 30; i++)
        {
            await SharedPostgres.ExecuteAsync(source, $"INSERT INTO docs SELECT g, repeat(md5(g::text), 32) FROM generate_series({i * 2000 + 1}, {(i + 1) * 2000}) g");
        }

        // Capture produces all ~60 MB at once; the broker keeps only the newest ~5 MiB of each partition.
        // Transform and Sink come back only once Capture has produced all of it: chasing a Capture that is
        // still producing 100 MB ahead of them, with nothing holding it back, they could never catch up.
        // (This used to be left to the embedded broker's 3 s delay before a group's first assignment.)
        var raw = Kafka.Topics.Raw(options.Kafka.TopicPrefix, "gap");
        using (var probe = new Confluent.Kafka.ConsumerBuilder<byte[], byte[]>(_kafka.Endpoint.ConsumerConfig("probe", "probe")).Build())
        {
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (Capture.CaptureMetrics.Transactions.WithLabels("gap", "transaction").Value < produced + 30 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }

            Assert.True(Capture.CaptureMetrics.Transactions.WithLabels("gap", "transaction").Value >= produced + 30, "Capture did not produce the 30 transactions within 120 s");
            deadline = DateTime.UtcNow.AddSeconds(60);
            while (probe.QueryWatermarkOffsets(new Confluent.Kafka.TopicPartition(raw, 0), TimeSpan.FromSeconds(5)).Low.Value == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }

            Assert.True(probe.QueryWatermarkOffsets(new Confluent.Kafka.TopicPartition(raw, 0), TimeSpan.FromSeconds(5)).Low.Value > 0, "the broker kept everything; the test needs it to drop data");
        }

        var replays = Capture.CaptureMetrics.Replays.WithLabels("gap").Value;
        await pipeline.StartAsync(Stages.Transform | Stages.Sink);
        await pipeline.DrainAsync(TimeSpan.FromSeconds(120));
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("docs"));
        Assert.True(Capture.CaptureMetrics.Replays.WithLabels("gap").Value > replays, "the gap was not answered by a replay from the slot");
    }

    private static async Task WaitUntilAppliedSomethingAsync(Configuration.PipelineOptions options)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var applied = await PipelineProgress.AppliedAsync(options, CancellationToken.None);
                if (applied.Values.Any(a => !a.EndLsn.IsZero))
                {
                    return;
                }
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or DatabaseUnavailableException)
            {
            }

            await Task.Delay(200);
        }

        Assert.Fail("the pipeline applied nothing within 60 s");
    }
}
