using System.Text;
using Confluent.Kafka;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Faults;

/// <summary>
/// Poison messages: whatever lands on a raw or a unified topic that is not an event of ours (garbage bytes, an
/// empty value, JSON of the wrong shape or with fields of the wrong type) is copied to that stage's dead-letter
/// topic with the reason and where it came from, and the stream goes on: every later change arrives, nothing is
/// lost, no stage stops. Well-formed events of a table or a source the configuration does not have are dead-lettered too.
/// </summary>
public sealed class PoisonMessageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _kafka.Dispose();
        var pg = await SharedPostgres.GetAsync();
        await pg.DropDatabaseAsync("poison_src");
        await pg.DropDatabaseAsync("poison_dst");
    }

    private static readonly (string What, byte[] Value)[] Poison =
    [
        ("garbage bytes", [0xff, 0x00, 0xfe, 0x7b, 0x22, 0x01]),
        ("an empty value", []),
        ("a JSON array", Encoding.UTF8.GetBytes("[1, 2, 3]")),
        ("a JSON object of another shape", Encoding.UTF8.GetBytes("""{"hello": "world"}""")),
        ("a status of the wrong type", Encoding.UTF8.GetBytes("""{"status": 5, "source": "poison", "commit_lsn": "0/1", "txid": 1, "ts_ms": 1}""")),
        ("an unparseable position", Encoding.UTF8.GetBytes("""{"status": "BEGIN", "source": "poison", "commit_lsn": "not-an-lsn", "prev_end_lsn": "0/0", "txid": 1, "ts_ms": 1, "kind": "stream", "session": "s"}""")),
    ];

    // Unified-topic values whose envelope (type, source, position) reads but whose body does not decode (a row without
    // its origin, a commit with an unparseable end): the Sink's consumer dead-letters them with the reason.
    private static readonly (string What, byte[] Value, string Reason)[] UnifiedPoison =
    [
        ("a row of a configured source without its origin", Encoding.UTF8.GetBytes(
            """{"type":"row","source":"poison","commit_lsn":"0/1","seq":1,"sub":0,"op":"upsert","schema":"public","table":"items","key":{"id":1},"row":{"id":1,"v":1},"ts_ms":1,"snapshot":false}"""),
            "row operation has no origin"),
        ("a commit of a configured source with an unparseable end", Encoding.UTF8.GetBytes(
            """{"type":"commit","source":"poison","commit_lsn":"0/1","end_lsn":"nowhere","txid":1,"ts_ms":1,"operations":0}"""),
            "nowhere"),
    ];

    [Fact]
    public async Task poison_messages_on_the_raw_and_unified_topics_are_dead_lettered_with_their_reason_and_the_stream_goes_on()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("poison_src");
        var target = await SharedPostgres.CreateDatabaseAsync("poison_dst");
        await SharedPostgres.ExecuteAsync(source, "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO items SELECT g, g FROM generate_series(1, 50) g");
        var options = PipelineHarness.Identity("poison", source, target, _kafka.BootstrapServers, "items");
        options.Targets[0].Name = "poison_target";
        options.Sources[0].Target = "poison_target";
        var prefix = options.Kafka.TopicPrefix;
        try
        {
            await using var pipeline = new PipelineHarness(options, _kafka, output);
            await pipeline.StartAsync();
            await pipeline.DrainAsync();

            using (var producer = new ProducerBuilder<byte[], byte[]>(_kafka.Endpoint.ProducerConfig("poison-probe")).Build())
            {
                foreach (var (what, value) in Poison)
                {
                    await producer.ProduceAsync(Topics.Raw(prefix, "poison"), new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(what), Value = value });
                    await producer.ProduceAsync(new TopicPartition(Topics.Unified(prefix, "poison_target"), new Partition(0)),
                        new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(what), Value = value });
                }

                foreach (var (what, value, _) in UnifiedPoison)
                {
                    await producer.ProduceAsync(new TopicPartition(Topics.Unified(prefix, "poison_target"), new Partition(0)),
                        new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(what), Value = value });
                }
            }

            await Wait.ForAsync(() => DeadLetters(prefix, "transform").Count >= Poison.Length && DeadLetters(prefix, "sink").Count >= Poison.Length + UnifiedPoison.Length,
                $"all {Poison.Length} poison messages of each topic (and {UnifiedPoison.Length} more of the unified one) on its dead-letter topic", 90);

            // Well-formed events that no configuration knows: a real change of items, re-addressed to a table the source
            // does not have, and to another source. Read fine, but not ours to map: dead-lettered with the reason.
            var real = CaptureProbe.ReadAll(_kafka, Topics.Raw(prefix, "poison"))
                .First(m => m.Headers?.FirstOrDefault(h => h.Key == RawEventCodec.TypeHeader) is { } h && Encoding.UTF8.GetString(h.GetValueBytes()) == "change");
            using (var producer = new ProducerBuilder<byte[], byte[]>(_kafka.Endpoint.ProducerConfig("poison-probe")).Build())
            {
                foreach (var (what, field, value) in new[] { ("an unknown table", "table", "ghosts"), ("an unknown source", "name", "intruder") })
                {
                    var json = System.Text.Json.Nodes.JsonNode.Parse(real.Value)!;
                    json["source"]![field] = value;
                    await producer.ProduceAsync(Topics.Raw(prefix, "poison"), new Message<byte[], byte[]>
                    {
                        Key = Encoding.UTF8.GetBytes(what), Value = Encoding.UTF8.GetBytes(json.ToJsonString()), Headers = real.Headers,
                    });
                }
            }

            await Wait.ForAsync(() => DeadLetters(prefix, "transform").Count >= Poison.Length + 2, "both foreign events on the transform dead-letter topic", 90);
            var foreign = DeadLetters(prefix, "transform").Where(m => Encoding.UTF8.GetString(m.Key) is "an unknown table" or "an unknown source")
                .ToDictionary(m => Encoding.UTF8.GetString(m.Key), m => Header(m, "peeq-error"));
            output.WriteLine(string.Join(Environment.NewLine, foreign.Select(f => $"transform: {f.Key}: {f.Value}")));
            Assert.Equal("table public.ghosts is not among the configured tables of source 'poison'; not mapped", foreign["an unknown table"]);
            Assert.Equal("a change of source 'intruder' on the raw topic of source 'poison'; not mapped", foreign["an unknown source"]);

            // The stream goes on: changes committed after the poison arrive, in every stage.
            await SharedPostgres.ExecuteAsync(source, "INSERT INTO items SELECT g, g FROM generate_series(51, 80) g; UPDATE items SET v = -v WHERE id % 7 = 0; DELETE FROM items WHERE id % 11 = 0");
            await pipeline.DrainAsync();
            await TableComparer.AssertEqualAsync(source, target, TableId.Parse("items"));
            Assert.False(await SharedPostgres.ScalarAsync<bool>(target, "SELECT to_regclass('public.ghosts') IS NOT NULL"), "the foreign event made a table in the target");
        }
        finally
        {
            await SharedPostgres.ExecuteAsync(source, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'peeq_cdc_poison' AND NOT active");
        }

        foreach (var stage in new[] { "transform", "sink" })
        {
            var letters = DeadLetters(prefix, stage);
            foreach (var (what, _) in Poison)
            {
                var letter = letters.FirstOrDefault(m => m.Key is not null && Encoding.UTF8.GetString(m.Key) == what);
                Assert.True(letter is not null, $"{what}: not on the {stage} dead-letter topic");
                var reason = Header(letter, "peeq-error");
                var origin = Header(letter, "peeq-origin");
                output.WriteLine($"{stage}: {what}: {reason} (from {origin})");
                Assert.False(string.IsNullOrWhiteSpace(reason), $"{what}: dead-lettered by the {stage} without a reason");
                Assert.Matches(@"@\d+$", origin ?? "");
            }
        }

        var sinkLetters = DeadLetters(prefix, "sink");
        foreach (var (what, _, because) in UnifiedPoison)
        {
            var letter = sinkLetters.FirstOrDefault(m => m.Key is not null && Encoding.UTF8.GetString(m.Key) == what);
            Assert.True(letter is not null, $"{what}: not on the sink dead-letter topic");
            var reason = Header(letter, "peeq-error");
            output.WriteLine($"sink: {what}: {reason} (from {Header(letter, "peeq-origin")})");
            Assert.Contains(because, reason ?? "", StringComparison.Ordinal);
            Assert.Matches(@"@\d+$", Header(letter, "peeq-origin") ?? "");
        }
    }

    private List<Message<byte[], byte[]>> DeadLetters(string prefix, string stage) =>
        CaptureProbe.ReadAll(_kafka, $"{prefix}.dlq.{stage}").Select(r => r).ToList();

    private static string? Header(Message<byte[], byte[]> m, string name) =>
        m.Headers?.FirstOrDefault(h => h.Key == name) is { } h ? Encoding.UTF8.GetString(h.GetValueBytes()) : null;
}
