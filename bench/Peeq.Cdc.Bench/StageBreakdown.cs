using System.Text;
using Confluent.Kafka;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Kafka;

namespace Peeq.Cdc.Bench;

/// <summary>
/// Where a transaction's latency goes, stage by stage, from the timestamps the pipeline leaves behind:
/// the source commit (<c>pg_xact_commit_timestamp</c>), the moment Capture produced the transaction's
/// END marker and the moment the Transform produced its COMMIT (each Kafka message's create time, set
/// by the producer when it was handed the message, in ms), and the target commit (the target row's
/// <c>pg_xact_commit_timestamp</c>, matched to the source transaction through the lineage's commit LSN).
/// Only the transactions still held by the embedded broker (about 5 MiB per partition, so the last few
/// thousand) are broken down.
/// </summary>
public sealed record StageBreakdown(int Transactions, StageFigures Capture, StageFigures Transform, StageFigures Sink, StageFigures Total)
{
    public static async Task<StageBreakdown?> MeasureAsync(BenchRig rig, IReadOnlyDictionary<long, DateTime> sourceCommits)
    {
        var prefix = rig.Options.Kafka.TopicPrefix;
        var rawEnds = ReadTopic(rig, Topics.Raw(prefix, "bench"), m =>
            m.Headers.TryGetLastBytes(RawEventCodec.TypeHeader, out var t) && Encoding.ASCII.GetString(t) == "end" && RawEventCodec.Read(m.Value) is TxEnd e
                ? e.CommitLsn
                : (Lsn?)null);
        var unifiedCommits = ReadTopic(rig, Topics.Unified(prefix, "target"), m => UnifiedEventCodec.Read(m.Value) is UnifiedCommit c ? c.CommitLsn : (Lsn?)null);

        // Target: each row's commit time and the source commit LSN its lineage records.
        var target = new List<(long Id, Lsn Lsn, DateTime Commit)>();
        await using (var conn = new NpgsqlConnection(rig.TargetCs))
        {
            await conn.OpenAsync();
            string lineage;
            await using (var cmd = new NpgsqlCommand("SELECT lineage_table FROM peeq_cdc.lineage_tables WHERE target_table IN ('public.rows', 'rows')", conn))
            {
                lineage = (string)(await cmd.ExecuteScalarAsync())!;
            }

            await using var q = new NpgsqlCommand($"SELECT r.id, l.lsn::text, pg_xact_commit_timestamp(r.xmin) FROM rows r JOIN peeq_cdc.\"{lineage}\" l USING (id)", conn);
            await using var r = await q.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
                target.Add((r.GetInt64(0), Lsn.Parse(r.GetString(1)), r.GetFieldValue<DateTime>(2)));
            }
        }

        var capture = new List<double>();
        var transform = new List<double>();
        var sink = new List<double>();
        var total = new List<double>();
        foreach (var (id, lsn, commit) in target)
        {
            if (!sourceCommits.TryGetValue(id, out var sourceCommit) || !rawEnds.TryGetValue(lsn, out var produced) || !unifiedCommits.TryGetValue(lsn, out var transformed))
            {
                continue;
            }

            var source = new DateTimeOffset(DateTime.SpecifyKind(sourceCommit, DateTimeKind.Utc)).ToUnixTimeMilliseconds() + sourceCommit.Ticks % TimeSpan.TicksPerMillisecond / 10_000.0;
            var target2 = new DateTimeOffset(DateTime.SpecifyKind(commit, DateTimeKind.Utc)).ToUnixTimeMilliseconds() + commit.Ticks % TimeSpan.TicksPerMillisecond / 10_000.0;
            capture.Add(produced - source);
            transform.Add(transformed - produced);
            sink.Add(target2 - transformed);
            total.Add(target2 - source);
        }

        return total.Count == 0 ? null : new StageBreakdown(total.Count, StageFigures.Of(capture), StageFigures.Of(transform), StageFigures.Of(sink), StageFigures.Of(total));
    }

    /// <summary>The create time (Unix ms) of every message of partition 0 of <paramref name="topic"/> that <paramref name="pick"/> maps to a commit LSN.</summary>
    private static Dictionary<Lsn, double> ReadTopic(BenchRig rig, string topic, Func<Message<byte[], byte[]>, Lsn?> pick)
    {
        var result = new Dictionary<Lsn, double>();
        var config = new ConsumerConfig
        {
            BootstrapServers = rig.Kafka.BootstrapServers,
            GroupId = $"bench-breakdown-{Guid.NewGuid():N}",
            EnableAutoCommit = false,
            EnablePartitionEof = true,
            AutoOffsetReset = AutoOffsetReset.Earliest,
        };
        using var consumer = new ConsumerBuilder<byte[], byte[]>(config).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var m = consumer.Consume(TimeSpan.FromSeconds(1));
            if (m is null)
            {
                continue;
            }

            if (m.IsPartitionEOF)
            {
                break;
            }

            if (pick(m.Message) is { } lsn)
            {
                result[lsn] = m.Message.Timestamp.UnixTimestampMs;
            }
        }

        consumer.Close();
        return result;
    }
}

/// <summary>p50, p99 and max of one stage, in ms.</summary>
public sealed record StageFigures(double P50Ms, double P99Ms, double MaxMs)
{
    public static StageFigures Of(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return new StageFigures(LatencyBenchmark.Percentile(sorted, 0.5), LatencyBenchmark.Percentile(sorted, 0.99), sorted[^1]);
    }

    public override string ToString() => $"{P50Ms:0.0} / {P99Ms:0.0} / {MaxMs:0.0}";
}
