using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Faults;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Faults;

/// <summary>
/// Guarantees 1 and 2 with each worker (<c>peeq-cdc capture</c>, <c>transform</c>, <c>sink</c>, each its own
/// process) killed with SIGKILL at the exact moment where work is half acknowledged, through the fault hook
/// (<see cref="FaultPoint"/>, <c>PEEQ_CDC_FAULT</c>) rather than a timer: the process kills itself the n-th
/// time it reaches the point, so every run crashes at the same kind of moment whatever the machine's speed.
/// A snapshot is running when the workers start (rows exist before Capture), and a mixed workload writes
/// throughout; afterwards the target equals the source and nothing is parked.
/// </summary>
public sealed class WorkerKillTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();
    private readonly List<string> _databases = [];

    public Task InitializeAsync()
    {
        // A restarted worker is a lone member of an emptied group: without the mock's 3 s initial delay it is
        // assigned its partitions at once (what the kill tests, not the broker, are about).
        _kafka.SetGroupInitialRebalanceDelay(TimeSpan.Zero);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _kafka.Dispose();
        var pg = await SharedPostgres.GetAsync();
        foreach (var db in _databases)
        {
            // Drops the database with its (inactive) slot, so it pins no WAL for the rest of the run.
            await pg.DropDatabaseAsync(db);
        }
    }

    [Theory]
    [InlineData("capture", FaultPoint.CaptureBeforeConfirm + ":4")]
    [InlineData("capture", FaultPoint.CaptureAfterSnapshotChunk + ":3")]
    [InlineData("transform", FaultPoint.TransformBeforeOffsetCommit + ":4")]
    [InlineData("sink", FaultPoint.SinkBeforeTargetCommit + ":4")]
    [InlineData("sink", FaultPoint.SinkAfterTargetCommit + ":4")]
    public async Task worker_killed_with_sigkill_at_a_half_acknowledged_moment_restarts_with_nothing_lost_or_duplicated(string worker, string fault)
    {
        var name = "fk_" + fault.Split(':')[0].Replace('-', '_');
        var source = await SharedPostgres.CreateDatabaseAsync(name + "_src");
        var target = await SharedPostgres.CreateDatabaseAsync(name + "_dst");
        _databases.AddRange([name + "_src", name + "_dst"]);
        await SharedPostgres.ExecuteAsync(source, MixedWorkload.Schema);
        await MixedWorkload.RunAsync(source, 1500, seed: 21);
        var options = PipelineHarness.Identity(name, source, target, _kafka.BootstrapServers, MixedWorkload.Tables);
        // Small chunks, so the initial snapshot has several and the snapshot point is reached mid-way.
        options.Capture.SnapshotChunkRows = 100;
        // A killed consumer's partitions are reassigned after its session times out: short, so the restart is quick.
        options.Kafka.Properties["session.timeout.ms"] = "3000";
        options.Kafka.Properties["heartbeat.interval.ms"] = "500";
        var config = PipelineHarness.WriteConfig(options, Path.Combine(Path.GetTempPath(), $"peeq-{name}-{Guid.NewGuid():N}.yaml"));
        await Kafka.PipelineTopics.EnsureAllAsync(_kafka, options, CancellationToken.None);

        var workers = new Dictionary<string, PipelineProcess>();
        var started = new List<PipelineProcess>();
        try
        {
            foreach (var w in new[] { "sink", "transform", "capture" })
            {
                workers[w] = Start(w, config, w == worker ? fault : null);
                started.Add(workers[w]);
            }

            var workload = Task.Run(() => MixedWorkload.RunAsync(source, 2000, seed: 22, firstId: 100_000));
            var killed = workers[worker];
            await Wait.ForAsync(() => killed.HasExited, $"{worker} to reach {fault} and kill itself", 120);
            Assert.Contains(killed.Lines, l => l.Contains($"fault injection: {fault} reached", StringComparison.Ordinal));
            if (fault.StartsWith(FaultPoint.CaptureBeforeConfirm, StringComparison.Ordinal))
            {
                // The moment itself: the Sink has applied past what the slot confirms, so the restart re-reads applied work.
                var slot = await SharedPostgres.ScalarAsync<string>(source, $"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{options.Sources[0].SlotName}'");
                var applied = (await PipelineProgress.AppliedAsync(options, CancellationToken.None))[name].EndLsn;
                Assert.True(Lsn.Parse(slot) < applied, $"slot confirmed {slot}, applied {applied}: the kill was not between the ack and the confirm");
            }

            started.Add(Start(worker, config, null));
            await workload;
            Assert.True(await PipelineProgress.WaitForDrainAsync(options, TimeSpan.FromSeconds(120), CancellationToken.None), "did not drain after the restart");
            await CaptureProbe.WaitForSnapshotAsync(target, name, "public.accounts", timeout: TimeSpan.FromSeconds(60));
            foreach (var t in MixedWorkload.Tables)
            {
                await TableComparer.AssertEqualAsync(source, target, TableId.Parse(t));
            }

            Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows"));
        }
        finally
        {
            foreach (var p in started)
            {
                await p.DisposeAsync();
            }

            File.Delete(config);
        }
    }

    private PipelineProcess Start(string worker, string config, string? fault) =>
        PipelineProcess.Start(output, new Dictionary<string, string?> { [FaultPoint.Variable] = fault ?? "" }, worker, "--config", config, "--http", "off");
}
