using Confluent.Kafka;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;

namespace Peeq.Cdc.Tests.Integration.Infrastructure;

/// <summary>Helpers for capture tests: snapshot state in the target, topics read back, a writer that keeps a table busy.</summary>
public static class CaptureProbe
{
    /// <summary>Waits until the target records <paramref name="table"/>'s snapshot of <paramref name="source"/> as done (at least <paramref name="generation"/>).</summary>
    public static async Task WaitForSnapshotAsync(string targetCs, string source, string table, long generation = 0, TimeSpan? timeout = null)
    {
        var id = TableId.Parse(table);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(120));
        while (DateTime.UtcNow < deadline)
        {
            if (await SnapshotDoneAsync(targetCs, source, id, generation))
            {
                return;
            }

            await Task.Delay(200);
        }

        Assert.Fail($"the snapshot of {table} (source {source}, generation >= {generation}) did not complete in time");
    }

    public static async Task<bool> SnapshotDoneAsync(string targetCs, string source, TableId table, long generation = 0)
    {
        try
        {
            await using var conn = new NpgsqlConnection(targetCs);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("""
                SELECT count(*) FROM peeq_cdc.source_table_state
                WHERE source = @s AND source_schema_name = @schema AND source_table_name = @name AND snapshot_state = 'done' AND snapshot_generation >= @g
                """, conn);
            cmd.Parameters.AddWithValue("s", source);
            cmd.Parameters.AddWithValue("schema", table.Schema);
            cmd.Parameters.AddWithValue("name", table.Name);
            cmd.Parameters.AddWithValue("g", generation);
            return (long)(await cmd.ExecuteScalarAsync())! > 0;
        }
        catch (PostgresException e) when (e.SqlState == "42P01")
        {
            return false;
        }
    }

    /// <summary>Every message of a topic (all partitions) as it is now.</summary>
    public static List<Message<byte[], byte[]>> ReadAll(EmbeddedKafka kafka, string topic)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(kafka.Endpoint.ConsumerConfig($"probe-{Guid.NewGuid():N}", "probe")).Build();
        var partitions = new List<TopicPartitionOffset>();
        using (var admin = new AdminClientBuilder(kafka.Endpoint.AdminConfig()).Build())
        {
            var meta = admin.GetMetadata(topic, TimeSpan.FromSeconds(10));
            foreach (var p in meta.Topics.Single().Partitions)
            {
                partitions.Add(new TopicPartitionOffset(topic, p.PartitionId, Offset.Beginning));
            }
        }

        var result = new List<Message<byte[], byte[]>>();
        foreach (var tpo in partitions)
        {
            var high = consumer.QueryWatermarkOffsets(tpo.TopicPartition, TimeSpan.FromSeconds(10)).High;
            if (high.Value <= 0)
            {
                continue;
            }

            consumer.Assign(tpo);
            // Up to the high watermark read when we started, however slow the broker is on a loaded machine: a
            // read that stopped early would hand the test a silently shortened topic.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            var read = 0L;
            while (true)
            {
                var r = consumer.Consume(TimeSpan.FromSeconds(1));
                if (r is null)
                {
                    if (DateTime.UtcNow > deadline)
                    {
                        throw new TimeoutException($"{tpo.TopicPartition}: read {read} of its {high.Value} messages in 90 s");
                    }

                    continue;
                }

                read++;
                result.Add(r.Message);
                if (r.Offset.Value + 1 >= high.Value)
                {
                    break;
                }
            }

            consumer.Unassign();
        }

        return result;
    }

    /// <summary>
    /// Updates, deletes and inserts rows of <c>(id bigint primary key, v int, note text)</c> tables until cancelled,
    /// at most about 250 statements a second (a pace the pipeline keeps up with on a shared machine, so the
    /// stream, and with it the snapshot, keeps moving); returns how many statements it ran.
    /// </summary>
    public static async Task<long> KeepBusyAsync(string sourceCs, string table, long maxId, CancellationToken ct, int seed = 11)
    {
        var random = new Random(seed);
        long statements = 0;
        await using var conn = new NpgsqlConnection(sourceCs);
        await conn.OpenAsync(CancellationToken.None);
        var nextId = maxId + 1;
        // Never outlives a failed test by long: the test host runs every other test after it.
        var until = DateTime.UtcNow.AddMinutes(4);
        while (!ct.IsCancellationRequested && DateTime.UtcNow < until)
        {
            await using var tx = await conn.BeginTransactionAsync(CancellationToken.None);
            for (var i = 0; i < 5; i++)
            {
                var roll = random.Next(10);
                var id = random.NextInt64(1, nextId);
                await using var cmd = conn.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = roll switch
                {
                    < 6 => $"UPDATE {table} SET v = v + 1, note = md5(random()::text) WHERE id = {id}",
                    < 8 => $"DELETE FROM {table} WHERE id = {id}",
                    _ => $"INSERT INTO {table} (id, v, note) VALUES ({nextId++}, 0, 'new') ON CONFLICT (id) DO NOTHING",
                };
                await cmd.ExecuteNonQueryAsync(CancellationToken.None);
                statements++;
            }

            await tx.CommitAsync(CancellationToken.None);
            await Task.Delay(20, CancellationToken.None);
        }

        return statements;
    }
}
