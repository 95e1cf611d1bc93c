using System.Text;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Faults;

/// <summary>
/// Guarantees 2 and 3 against what the stream itself can do wrong: a huge transaction committed beside one
/// rolled back, an older slice of the unified topic delivered again after newer events were applied, the same
/// key written in two source databases, and sources whose clocks are 10 minutes off (ordering is by source LSN; a commit timestamp is carried, never
/// compared).
/// </summary>
public sealed class StreamFaultTests(ITestOutputHelper output) : IAsyncLifetime
{
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

    private async Task<(string Source, string Target)> DatabasesAsync(string name)
    {
        var source = await SharedPostgres.CreateDatabaseAsync(name + "_src");
        var target = await SharedPostgres.CreateDatabaseAsync(name + "_dst");
        _databases.AddRange([name + "_src", name + "_dst"]);
        return (source, target);
    }

    /// <summary>
    /// Scaled down from 1M rows (bench/run bigtx runs it at full size): 25,000 rows committed in one transaction
    /// while another, interleaved with it in the WAL, writes 25,000 rows and rolls back.
    /// </summary>
    [Fact]
    public async Task a_25k_row_transaction_commits_whole_and_one_rolled_back_beside_it_reaches_neither_kafka_nor_the_target()
    {
        const int Rows = 25_000;
        const string Canary = "ROLLED-BACK-7f3a";
        var (source, target) = await DatabasesAsync("sf_bigtx");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE big (id bigint PRIMARY KEY, note text NOT NULL)");
        var options = PipelineHarness.Identity("sf_bigtx", source, target, _kafka.BootstrapServers, "big");
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await pipeline.DrainAsync();

        // Two open transactions write in turns, so the rolled-back one's rows sit between the committed one's in the WAL.
        await using (var kept = new Npgsql.NpgsqlConnection(source))
        await using (var dropped = new Npgsql.NpgsqlConnection(source))
        {
            await kept.OpenAsync();
            await dropped.OpenAsync();
            await using var keptTx = await kept.BeginTransactionAsync();
            await using var droppedTx = await dropped.BeginTransactionAsync();
            for (var part = 0; part < 4; part++)
            {
                var from = part * (Rows / 4) + 1;
                var to = (part + 1) * (Rows / 4);
                await new Npgsql.NpgsqlCommand($"INSERT INTO big SELECT g, 'kept ' || g FROM generate_series({from}, {to}) g", kept, keptTx).ExecuteNonQueryAsync();
                await new Npgsql.NpgsqlCommand($"INSERT INTO big SELECT g, '{Canary} ' || g FROM generate_series({10_000_000 + from}, {10_000_000 + to}) g", dropped, droppedTx).ExecuteNonQueryAsync();
            }

            await droppedTx.RollbackAsync();
            await keptTx.CommitAsync();
        }

        await pipeline.DrainAsync(TimeSpan.FromSeconds(180));
        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("big"));
        Assert.Equal((long)Rows, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM big"));

        // Every message still on the raw and unified topics: none carries a rolled-back row. The broker must
        // still hold the topics from their first offset, or the search would prove nothing.
        foreach (var (topic, partition) in new[] { (Topics.Raw(options.Kafka.TopicPrefix, "sf_bigtx"), 0), (Topics.Unified(options.Kafka.TopicPrefix, "target"), Topics.UnifiedRoute(options, "sf_bigtx").Partition) })
        {
            using (var probe = new ConsumerBuilder<byte[], byte[]>(_kafka.Endpoint.ConsumerConfig("probe", "probe")).Build())
            {
                Assert.Equal(0L, probe.QueryWatermarkOffsets(new TopicPartition(topic, partition), TimeSpan.FromSeconds(5)).Low.Value);
            }

            var messages = CaptureProbe.ReadAll(_kafka, topic);
            output.WriteLine($"{topic}: {messages.Count} messages");
            Assert.True(messages.Count > Rows, $"{topic} holds only {messages.Count} messages");
            var canary = Encoding.UTF8.GetBytes(Canary);
            Assert.DoesNotContain(messages, m => m.Value.AsSpan().IndexOf(canary) >= 0);
        }

        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows"));
    }

    [Fact]
    public async Task an_older_slice_of_the_unified_topic_delivered_again_in_reverse_after_newer_events_changes_nothing()
    {
        var (source, target) = await DatabasesAsync("sf_replay");
        await SharedPostgres.ExecuteAsync(source, MixedWorkload.Schema);
        var options = PipelineHarness.Identity("sf_replay", source, target, _kafka.BootstrapServers, MixedWorkload.Tables);
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync();
        await MixedWorkload.RunAsync(source, 3000, seed: 61);
        await pipeline.DrainAsync();

        // Whole source transactions (begin to commit) from the first half of the topic, re-produced newest first.
        var route = Topics.UnifiedRoute(options, "sf_replay");
        var messages = CaptureProbe.ReadAll(_kafka, route.Topic);
        var transactions = new List<List<Message<byte[], byte[]>>>();
        List<Message<byte[], byte[]>>? open = null;
        foreach (var m in messages.Take(messages.Count / 2))
        {
            switch (UnifiedEventCodec.Read(m.Value))
            {
                case UnifiedBegin b when b.Kind == TransactionKind.Transaction:
                    open = [m];
                    break;
                case UnifiedCommit when open is not null:
                    open.Add(m);
                    transactions.Add(open);
                    open = null;
                    break;
                default:
                    open?.Add(m);
                    break;
            }
        }

        Assert.True(transactions.Count >= 20, $"only {transactions.Count} whole transactions in the first half of the topic");
        var skipped = Sink.SinkMetrics.DuplicatesSkipped.WithLabels("sf_replay").Value;
        using (var producer = new ProducerBuilder<byte[], byte[]>(_kafka.Endpoint.ProducerConfig("replayer")).Build())
        {
            foreach (var tx in Enumerable.Reverse(transactions))
            {
                foreach (var m in tx)
                {
                    producer.Produce(new TopicPartition(route.Topic, route.Partition), new Message<byte[], byte[]> { Key = m.Key, Value = m.Value });
                }
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        output.WriteLine($"re-produced {transactions.Count} transactions ({transactions.Sum(t => t.Count)} events) newest first");
        // Newer changes after the old slice: they apply, and the old slice resurrects or reverts nothing.
        await MixedWorkload.RunAsync(source, 500, seed: 62, firstId: 100_000);
        await Wait.ForAsync(() => Sink.SinkMetrics.DuplicatesSkipped.WithLabels("sf_replay").Value >= skipped + transactions.Count, "the old slice to be read again", 60);
        await pipeline.DrainAsync();
        foreach (var t in MixedWorkload.Tables)
        {
            await TableComparer.AssertEqualAsync(source, target, TableId.Parse(t));
        }

        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows"));
    }

    /// <summary>
    /// A source's clock only reaches the pipeline as the commit and row timestamps in its events, so the
    /// skew is simulated there, on the unified topic the Sink reads: one source 10 minutes ahead, one 10
    /// minutes behind, and one whose clock is stepped back 10 minutes mid-stream (an NTP correction), so its
    /// later transactions carry earlier timestamps. Each source's row ends as its last transaction by LSN
    /// left it, and the applied position records the timestamp as sent.
    /// </summary>
    /// <summary>
    /// Two real source databases feed one target table (identity mapping, no target schema, no conflict rule) and
    /// come to hold the same keys: the first source keeps the keys it owns, whatever the second one writes to them;
    /// each claim of the second on such a key is parked with a conflict reason; every key only one source has flows.
    /// (The priority rule between two sources is SinkTests.person_who_is_fan_and_celebrity_....)
    /// </summary>
    [Fact]
    public async Task the_same_key_from_two_source_databases_stays_with_its_first_owner_and_the_other_claim_is_parked_with_its_reason()
    {
        var (first, target) = await DatabasesAsync("sf_twokeys_a");
        var second = await SharedPostgres.CreateDatabaseAsync("sf_twokeys_b_src");
        _databases.Add("sf_twokeys_b_src");
        const string Accounts = "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, v int NOT NULL)";
        await SharedPostgres.ExecuteAsync(first, Accounts + "; INSERT INTO accounts SELECT g, 'a', g FROM generate_series(1, 10) g");
        await SharedPostgres.ExecuteAsync(second, Accounts);
        var options = PipelineHarness.Identity("sf_twokeys_a", first, target, _kafka.BootstrapServers, "accounts");
        options.Targets[0].Name = "sf_twokeys_target";
        options.Sources[0].Target = "sf_twokeys_target";
        options.Sources.Add(new Configuration.SourceOptions { Name = "sf_twokeys_b", ConnectionString = second, Target = "sf_twokeys_target", Tables = ["accounts"] });
        try
        {
            await using var pipeline = new PipelineHarness(options, _kafka, output);
            await pipeline.StartAsync();
            await pipeline.DrainAsync();

            // b comes to hold keys 8..15, of which 8, 9 and 10 are a's; then both write to the shared keys.
            await SharedPostgres.ExecuteAsync(second, "INSERT INTO accounts SELECT g, 'b', 100 + g FROM generate_series(8, 15) g");
            await SharedPostgres.ExecuteAsync(second, "UPDATE accounts SET v = -v WHERE id IN (9, 12)");
            await SharedPostgres.ExecuteAsync(first, "UPDATE accounts SET v = 1000 + v WHERE id IN (8, 2)");
            await pipeline.DrainAsync();

            // The expectation, computed from the sources: a's rows whole, and b's rows on the keys a does not have.
            var ofA = await TableComparer.DumpAsync(first, TableId.Parse("accounts"));
            var keysOfA = ofA.Select(l => l.Split('\t')[0]).ToHashSet();
            var expected = ofA.Concat((await TableComparer.DumpAsync(second, TableId.Parse("accounts"))).Where(l => !keysOfA.Contains(l.Split('\t')[0])))
                .Order(StringComparer.Ordinal).ToList();
            Assert.Equal(expected, await TableComparer.DumpAsync(target, TableId.Parse("accounts")));

            var parked = new List<(string Source, string Key, string Reason)>();
            await using (var conn = new Npgsql.NpgsqlConnection(target))
            {
                await conn.OpenAsync();
                await using var cmd = new Npgsql.NpgsqlCommand("SELECT source, coalesce(target_key, source_key)::text, reason FROM peeq_cdc.parked_rows ORDER BY id", conn);
                await using var r = await cmd.ExecuteReaderAsync();
                while (await r.ReadAsync())
                {
                    parked.Add((r.GetString(0), r.GetString(1), r.GetString(2)));
                }
            }

            output.WriteLine(string.Join(Environment.NewLine, parked.Select(p => $"parked: {p.Source} {p.Key}: {p.Reason}")));
            Assert.NotEmpty(parked);
            Assert.All(parked, p =>
            {
                Assert.Equal("sf_twokeys_b", p.Source);
                Assert.StartsWith("conflict:", p.Reason, StringComparison.Ordinal);
            });
            Assert.Equal(["{\"id\": 10}", "{\"id\": 8}", "{\"id\": 9}"], parked.Select(p => p.Key).Distinct().Order(StringComparer.Ordinal).ToArray());
        }
        finally
        {
            await SharedPostgres.ExecuteAsync(first, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('peeq_cdc_sf_twokeys_a', 'peeq_cdc_sf_twokeys_b') AND NOT active");
        }
    }

    [Fact]
    public async Task sources_with_clocks_10_minutes_ahead_behind_and_stepped_back_apply_in_lsn_order()
    {
        var (_, target) = await DatabasesAsync("sf_skew");
        await SharedPostgres.ExecuteAsync(target, "CREATE TABLE counters (id text PRIMARY KEY, v int NOT NULL)");
        var options = UnifiedFeed.SinkOnly("sf_skew", target, _kafka.BootstrapServers, "ahead", "behind", "stepped");
        await using var sink = new PipelineHarness(options, _kafka, output);
        await sink.StartAsync(Stages.Sink);
        using var ahead = new UnifiedFeed(_kafka, options, "ahead") { ClockSkew = TimeSpan.FromMinutes(10) };
        using var behind = new UnifiedFeed(_kafka, options, "behind") { ClockSkew = TimeSpan.FromMinutes(-10) };
        using var stepped = new UnifiedFeed(_kafka, options, "stepped");
        var last = new Dictionary<string, Lsn>();
        for (var v = 1; v <= 20; v++)
        {
            if (v == 11)
            {
                stepped.ClockSkew = TimeSpan.FromMinutes(-10);
            }

            foreach (var (name, feed) in new[] { ("ahead", ahead), ("behind", behind), ("stepped", stepped) })
            {
                var value = v;
                last[name] = feed.Transaction(t => t
                    .Upsert("public.counters", new JsonObject { ["id"] = name }, new JsonObject { ["id"] = name, ["v"] = value })
                    .Upsert("public.counters", new JsonObject { ["id"] = "second-" + name }, new JsonObject { ["id"] = "second-" + name, ["v"] = value }));
            }
        }

        foreach (var (name, lsn) in last)
        {
            await UnifiedFeed.WaitAppliedAsync(target, name, lsn);
        }

        foreach (var name in last.Keys)
        {
            Assert.Equal(20, await SharedPostgres.ScalarAsync<int>(target, $"SELECT v FROM counters WHERE id = '{name}'"));
            Assert.Equal(20, await SharedPostgres.ScalarAsync<int>(target, $"SELECT v FROM counters WHERE id = 'second-{name}'"));
        }

        // The stepped source's last commit time is earlier than its tenth's; it is recorded as sent, not kept at the maximum.
        var steppedTs = await SharedPostgres.ScalarAsync<DateTime>(target, "SELECT source_commit_ts FROM peeq_cdc.applied_position WHERE source = 'stepped'");
        var aheadTs = await SharedPostgres.ScalarAsync<DateTime>(target, "SELECT source_commit_ts FROM peeq_cdc.applied_position WHERE source = 'ahead'");
        Assert.True(aheadTs - steppedTs > TimeSpan.FromMinutes(19), $"ahead {aheadTs:o}, stepped {steppedTs:o}");
        Assert.Equal(0L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows"));
        Assert.Equal(6L, await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM counters"));
    }
}
