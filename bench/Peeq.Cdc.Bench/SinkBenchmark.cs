using System.Diagnostics;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Kafka;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Bench;

/// <summary>
/// The Sink alone: N row operations (half inserts, half updates, in source transactions of 1–100 rows) fed
/// onto the unified topic as the Transform would (paced by the Sink's flow position, as Capture's in-flight
/// window paces the real pipeline), timed until the target has applied the last one. Baseline in the same
/// run, on the same server: a staged binary COPY + one set-based upsert of the resulting rows.
/// </summary>
public sealed class SinkBenchmark(int operations)
{
    private const long WindowBytes = 3L * 1024 * 1024;

    public async Task<SinkBenchResult> RunAsync()
    {
        await using var targetPg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "bench-sink", Settings = StatementProfile.Settings });
        using var kafka = EmbeddedKafka.Start();
        var targetCs = await targetPg.CreateDatabaseAsync("bench_sink");
        await BenchRig.Exec(targetCs, BenchRig.Table);
        var options = new PipelineOptions
        {
            Kafka = new KafkaOptions { BootstrapServers = kafka.BootstrapServers, TopicPrefix = "bench" },
            Sources = [new SourceOptions { Name = "bench", ConnectionString = "Host=127.0.0.1;Port=1;Database=unused", Target = "target", Tables = ["rows"] }],
            Targets = [new TargetOptions { Name = "target", ConnectionString = targetCs, CreateTables = false }],
            Http = new HttpOptions { Urls = "" },
        };
        var config = PipelineConfig.FromOptions(options);

        // The events, serialized before the clock starts (the Transform's cost is not the Sink's).
        var events = new List<(byte[] Value, SourcePosition Position)>();
        var random = new Random(7);
        var inserts = operations / 2;
        var lsn = 0x1_0000_0000UL;
        var prevEnd = Lsn.Zero;
        var done = 0;
        var lastCommit = Lsn.Zero;
        while (done < operations)
        {
            var n = Math.Min(random.Next(1, 101), operations - done);
            var commit = new Lsn(lsn);
            lsn += 0x1000;
            events.Add((UnifiedEventCodec.Write(new UnifiedBegin("bench", commit, prevEnd, 1, 0, TransactionKind.Transaction, "bench")), new SourcePosition(commit, 0)));
            for (var i = 0; i < n; i++)
            {
                var k = done < inserts ? done + 1 : done - inserts + 1;
                var update = done >= inserts;
                var key = new JsonObject { ["id"] = k };
                var row = new JsonObject
                {
                    ["id"] = k,
                    ["account"] = DeterministicUuid(k),
                    ["amount"] = ((k % 100000) / 100.0m + (update ? 1 : 0)).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture),
                    ["note"] = "row " + k,
                    ["at"] = update ? "2024-06-01 12:00:00.123456+00" : "2024-01-01 12:00:00+00",
                };
                var op = new RowOperation("bench", commit, i + 1, 0, RowOpKind.Upsert, new TableId("public", "rows"), key, row, [],
                    new RowOrigin(new TableId("public", "rows"), (JsonObject)key.DeepClone()), 0, false);
                events.Add((UnifiedEventCodec.Write(op), new SourcePosition(commit, i + 1)));
                done++;
            }

            var end = new Lsn(commit.Value + 0x10);
            events.Add((UnifiedEventCodec.Write(new UnifiedCommit("bench", commit, end, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), n)), new SourcePosition(commit, long.MaxValue)));
            prevEnd = end;
            lastCommit = commit;
        }

        var route = Topics.UnifiedRoute(options, "bench");
        kafka.CreateTopic(route.Topic, 1);
        var app = PipelineHost.Build(config, kafka.Endpoint, Stages.Sink, null, LogLevel.Warning);
        await app.StartAsync();
        using var producer = new ProducerBuilder<byte[], byte[]>(kafka.Endpoint.ProducerConfig("bench-feed")).Build();
        await using var flowConn = new NpgsqlConnection(targetCs);
        await flowConn.OpenAsync();
        while (await Scalar<string?>(flowConn, "SELECT to_regclass('peeq_cdc.flow_position')::text") is null)
        {
            await Task.Delay(20); // the Sink creates its schema as it starts
        }

        var tp = new TopicPartition(route.Topic, route.Partition);
        var messageKey = "bench"u8.ToArray();
        var sw = Stopwatch.StartNew();
        var received = SourcePosition.Start;
        var sent = 0;
        var bytesAhead = new Queue<(SourcePosition Position, int Bytes)>();
        long inFlight = 0;
        while (true)
        {
            while (sent < events.Count && inFlight < WindowBytes)
            {
                var (value, position) = events[sent++];
                producer.Produce(tp, new Message<byte[], byte[]> { Key = messageKey, Value = value });
                bytesAhead.Enqueue((position, value.Length));
                inFlight += value.Length;
            }

            producer.Poll(TimeSpan.Zero);
            var applied = await Scalar<string?>(flowConn, "SELECT commit_lsn::text FROM peeq_cdc.applied_position WHERE source = 'bench'");
            if (applied is not null && Lsn.Parse(applied) >= lastCommit)
            {
                break;
            }

            var flow = await flowConn.QueryFlowAsync();
            var appliedPosition = applied is null ? SourcePosition.Start : new SourcePosition(Lsn.Parse(applied), long.MaxValue);
            received = new[] { received, flow, appliedPosition }.Max();
            while (bytesAhead.TryPeek(out var head) && head.Position <= received)
            {
                inFlight -= bytesAhead.Dequeue().Bytes;
            }

            await Task.Delay(5);
        }

        sw.Stop();
        await StatementProfile.ReportAsync(targetCs, sw.Elapsed, targetPg.LogFile);
        await app.StopAsync();
        await app.DisposeAsync();

        // Baseline: the same final rows through a staging table with binary COPY and one upsert.
        var copy = await BenchRig.CopyUpsertBaselineAsync(targetCs, targetCs);
        await using var check = new NpgsqlConnection(targetCs);
        await check.OpenAsync();
        var equal = await Scalar<long>(check, "SELECT count(*) FROM (SELECT * FROM rows EXCEPT SELECT * FROM baseline_rows) d") == 0
            && await Scalar<long>(check, "SELECT count(*) FROM rows") == inserts;
        return new SinkBenchResult(operations, events.Count, sw.Elapsed, copy, equal);
    }

    private static string DeterministicUuid(long k) => new Guid(System.Security.Cryptography.MD5.HashData(BitConverter.GetBytes(k))).ToString();

    private static async Task<T> Scalar<T>(NpgsqlConnection conn, string sql) => (T)(await new NpgsqlCommand(sql, conn).ExecuteScalarAsync() is { } v and not DBNull ? v : default(T)!);
}

internal static class FlowQueries
{
    public static async Task<SourcePosition> QueryFlowAsync(this NpgsqlConnection conn)
    {
        await using var cmd = new NpgsqlCommand("SELECT commit_lsn::text, seq FROM peeq_cdc.flow_position WHERE source = 'bench'", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        return await r.ReadAsync() ? new SourcePosition(Lsn.Parse(r.GetString(0)), r.GetInt64(1)) : SourcePosition.Start;
    }
}

public sealed record SinkBenchResult(int Operations, int Events, TimeSpan Sink, TimeSpan CopyUpsert, bool TargetEqualsBaseline)
{
    public double SinkRowsPerSecond => Operations / Sink.TotalSeconds;

    public double Ratio => Sink.TotalSeconds / CopyUpsert.TotalSeconds;
}
