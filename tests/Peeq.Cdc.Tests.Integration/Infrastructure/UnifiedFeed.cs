using System.Text.Json.Nodes;
using Confluent.Kafka;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Kafka;

namespace Peeq.Cdc.Tests.Integration.Infrastructure;

/// <summary>
/// Produces unified events by hand onto a target's unified topic, as the Transform would for one source:
/// begin, row operations, commit, with the chain links (prev_end_lsn) a capture session gives. Lets a test
/// drive the Sink alone, including what a healthy pipeline never sends (a missing end marker, a gap).
/// </summary>
public sealed class UnifiedFeed : IDisposable
{
    private readonly IProducer<byte[], byte[]> _producer;
    private readonly TopicPartition _route;
    private readonly string _source;
    private ulong _next;

    public UnifiedFeed(EmbeddedKafka kafka, PipelineOptions options, string source, ulong start = 0x1_0000_0000)
    {
        _source = source;
        var (topic, partition) = Topics.UnifiedRoute(options, source);
        kafka.CreateTopic(topic, Topics.UnifiedPartitionCount(options, options.Source(source).Target));
        _route = new TopicPartition(topic, partition);
        _producer = new ProducerBuilder<byte[], byte[]>(kafka.Endpoint.ProducerConfig("test-feed-" + source)).Build();
        _next = start;
        PrevEnd = Lsn.Zero;
    }

    /// <summary>How far this source's clock is off: added to every timestamp the feed writes (commit times, row times).</summary>
    public TimeSpan ClockSkew { get; set; }

    private long NowMs => (DateTimeOffset.UtcNow + ClockSkew).ToUnixTimeMilliseconds();

    /// <summary>The end LSN of the last transaction produced (the next one's prev_end_lsn).</summary>
    public Lsn PrevEnd { get; private set; }

    /// <summary>
    /// Produces one source transaction; <paramref name="build"/> adds its operations. Returns its commit LSN.
    /// <paramref name="commit"/> false leaves it without its end marker.
    /// </summary>
    public Lsn Transaction(Action<TxBuilder> build, bool commit = true, TransactionKind kind = TransactionKind.Transaction)
    {
        var lsn = new Lsn(_next);
        _next += 0x100;
        var b = new TxBuilder(_source, lsn, kind == TransactionKind.Snapshot, NowMs);
        build(b);
        Produce(new UnifiedBegin(_source, lsn, PrevEnd, (long)(lsn.Value & 0xFFFFFF), NowMs, kind, "feed"));
        foreach (var op in b.Ops)
        {
            Produce(op);
        }

        if (commit)
        {
            var end = new Lsn(lsn.Value + 0x10);
            Produce(new UnifiedCommit(_source, lsn, end, (long)(lsn.Value & 0xFFFFFF), NowMs, b.Ops.Count));
            PrevEnd = end;
        }

        _producer.Flush(TimeSpan.FromSeconds(30));
        return lsn;
    }

    /// <summary>Produces the same events again under an explicit commit LSN (a re-produced or replayed transaction).</summary>
    public void Replay(Lsn lsn, Lsn prevEnd, Action<TxBuilder> build)
    {
        var b = new TxBuilder(_source, lsn, false);
        build(b);
        Produce(new UnifiedBegin(_source, lsn, prevEnd, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), TransactionKind.Transaction, "feed"));
        foreach (var op in b.Ops)
        {
            Produce(op);
        }

        Produce(new UnifiedCommit(_source, lsn, new Lsn(lsn.Value + 0x10), 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), b.Ops.Count));
        _producer.Flush(TimeSpan.FromSeconds(30));
    }

    public void Produce(UnifiedEvent e)
    {
        while (true)
        {
            try
            {
                _producer.Produce(_route, new Message<byte[], byte[]> { Key = System.Text.Encoding.UTF8.GetBytes(_source), Value = UnifiedEventCodec.Write(e) });
                return;
            }
            catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
            {
                _producer.Poll(TimeSpan.FromMilliseconds(20));
            }
        }
    }

    public void Flush() => _producer.Flush(TimeSpan.FromSeconds(60));

    /// <summary>Waits until the Sink has applied this source up to <paramref name="lsn"/>.</summary>
    public static async Task WaitAppliedAsync(string targetCs, string source, Lsn lsn, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            await using var conn = new NpgsqlConnection(targetCs);
            await conn.OpenAsync();
            var positions = await Postgres.PipelineSchema.ReadAppliedAsync(conn, CancellationToken.None);
            if (positions.TryGetValue(source, out var p) && p.CommitLsn >= lsn)
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"source {source} was not applied up to {lsn} in time");
    }

    public void Dispose() => _producer.Dispose();

    /// <summary>Options for Sink-only tests: the given sources feed one target; nothing reads the sources themselves.</summary>
    public static PipelineOptions SinkOnly(string name, string targetCs, string bootstrap, params string[] sources) => new()
    {
        Kafka = new KafkaOptions { BootstrapServers = bootstrap, TopicPrefix = $"t-{name}" },
        Sources = sources.Select(s => new SourceOptions
        {
            Name = s,
            ConnectionString = "Host=127.0.0.1;Port=1;Database=unused",
            Target = "target",
            Tables = ["unused"],
        }).ToList(),
        Targets = [new TargetOptions { Name = "target", ConnectionString = targetCs, CreateTables = false }],
        Sink = new SinkOptions { RetryDelay = TimeSpan.FromMilliseconds(200), MaxRetryDelay = TimeSpan.FromSeconds(2), MaintenanceInterval = TimeSpan.FromMilliseconds(300) },
        Http = new HttpOptions { Urls = "" },
    };
}

/// <summary>The operations of one hand-made source transaction.</summary>
public sealed class TxBuilder(string source, Lsn lsn, bool snapshot, long? tsMs = null)
{
    private readonly long _ts = tsMs ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private long _seq;

    public List<UnifiedEvent> Ops { get; } = [];

    public Lsn Lsn => lsn;

    public TxBuilder Upsert(string table, JsonObject key, JsonObject row, ConflictClaim? claim = null, string? originTable = null, JsonObject? originKey = null,
        IReadOnlyList<string>? unchanged = null)
    {
        var t = TableId.Parse(table);
        Ops.Add(new RowOperation(source, lsn, ++_seq, 0, RowOpKind.Upsert, t, key, row, unchanged ?? [],
            new RowOrigin(originTable is null ? t : TableId.Parse(originTable), originKey ?? (JsonObject)key.DeepClone()), _ts, snapshot,
            Claim: claim));
        return this;
    }

    public TxBuilder Delete(string table, JsonObject key, ConflictClaim? claim = null, string? originTable = null, JsonObject? originKey = null)
    {
        var t = TableId.Parse(table);
        Ops.Add(new RowOperation(source, lsn, ++_seq, 0, RowOpKind.Delete, t, key, null, [],
            new RowOrigin(originTable is null ? t : TableId.Parse(originTable), originKey ?? (JsonObject)key.DeepClone()), _ts, snapshot,
            Claim: claim));
        return this;
    }

    public TxBuilder Insert(string table, JsonObject row)
    {
        var t = TableId.Parse(table);
        Ops.Add(new RowOperation(source, lsn, ++_seq, 0, RowOpKind.Insert, t, null, row, [], new RowOrigin(t, []), _ts, snapshot));
        return this;
    }

    public TxBuilder Park(string sourceTable, JsonObject sourceKey, string reason)
    {
        Ops.Add(new ParkedChange(source, lsn, ++_seq, TableId.Parse(sourceTable), sourceKey, null, reason, "{\"raw\": true}", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        return this;
    }
}
