using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Security;

/// <summary>
/// Values at every type's extremes, snapshotted and streamed, through Capture, Transform and Sink: each row arrives
/// exactly or is parked with its reason, no stage stops, and a later ordinary change still arrives.
/// (Hostile table and column names: VerticalSliceTests.hostile_table_and_column_names_replicate_like_any_other.)
/// </summary>
public sealed class HostileValueTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    private const string Schema = """
        CREATE TABLE extremes (
            id int PRIMARY KEY,
            n numeric, n_scaled numeric(40, 20), f float8, r real,
            ts timestamptz, tsn timestamp, d date,
            i int, b bigint, s smallint,
            t text, ai int[], at text[], by bytea, j jsonb);
        """;

    // One row per kind of extreme, each its own transaction when streamed.
    private static readonly string[] Rows =
    [
        """
        INSERT INTO extremes (id, n, n_scaled, f, r, ts, tsn, d, i, b, s, t, ai, at, by, j) VALUES (1,
            '123456789012345678901234567890123456789012345678901234567890.123456789012345678901234567890123456789', '12345678901234567890.12345678901234567890',
            1.7976931348623157e308, 3.4028235e38, '9999-12-31 23:59:59.999999+00', '9999-12-31 23:59:59.999999', '9999-12-31',
            2147483647, 9223372036854775807, 32767, '', '{}', '{}', ''::bytea, '{}')
        """,
        """
        INSERT INTO extremes (id, n, n_scaled, f, r, ts, tsn, d, i, b, s, t, ai, at, j) VALUES (2,
            '-0.000000000000000000000000000000000000000000000000000000000000000000000000000001', '-0.00000000000000000001',
            4.9e-324, -1.1754944e-38, '0001-01-01 00:00:00+00', '0001-01-01 00:00:00', '0001-01-01',
            -2147483648, -9223372036854775808, -32768, 'ü 中文 𝄞 🚀 👩‍👩‍👧 ' || chr(8203) || ' ''"\;', '{1,NULL,-2147483648}', '{NULL,"a,b","\"q\"","",NULL}', '[null, "", 0, -0.0, 1e308]')
        """,
        """
        INSERT INTO extremes (id, n, f, r, ts, tsn, d) VALUES (3, 'NaN', 'NaN', 'NaN', 'infinity', 'infinity', 'infinity')
        """,
        """
        INSERT INTO extremes (id, n, f, r, ts, tsn, d) VALUES (4, 'Infinity', 'Infinity', '-Infinity', '-infinity', '-infinity', '-infinity')
        """,
        """
        INSERT INTO extremes (id, n, f) VALUES (5, '-Infinity', '-Infinity')
        """,
        """
        INSERT INTO extremes (id, by) SELECT 6, decode(string_agg(lpad(to_hex(g), 2, '0'), '' ORDER BY g), 'hex') FROM generate_series(0, 255) g
        """,
        """
        INSERT INTO extremes (id, t) SELECT 7, string_agg(md5(g::text), '') FROM generate_series(1, 32768) g
        """,
        """
        INSERT INTO extremes (id, j) SELECT 8, (repeat('{"a":[', 200) || '"deep"' || repeat(']}', 200))::jsonb
        """,
        """
        INSERT INTO extremes (id) VALUES (9)
        """,
    ];

    [Fact]
    public async Task values_at_every_types_extremes_arrive_exactly_or_park_with_a_reason_and_the_stream_goes_on()
    {
        var source = await SharedPostgres.CreateDatabaseAsync("hostile_val_src");
        var target = await SharedPostgres.CreateDatabaseAsync("hostile_val_dst");
        await SharedPostgres.ExecuteAsync(source, Schema + "CREATE TABLE after (id int PRIMARY KEY, v text);");
        // Snapshotted: rows 1..9 exist before the pipeline starts.
        foreach (var row in Rows)
        {
            await SharedPostgres.ExecuteAsync(source, row);
        }

        Assert.Equal(1_048_576, await SharedPostgres.ScalarAsync<int>(source, "SELECT length(t) FROM extremes WHERE id = 7"));
        var options = PipelineHarness.Identity("hostileval", source, target, _kafka.BootstrapServers, "extremes", "after");
        try
        {
            await using var pipeline = new PipelineHarness(options, _kafka, output);
            await pipeline.StartAsync();
            await CaptureProbe.WaitForSnapshotAsync(target, "hostileval", "extremes", timeout: TimeSpan.FromSeconds(90));

            // Streamed: the same values again under ids 101..109, one transaction each, then an ordinary change.
            for (var id = 1; id <= Rows.Length; id++)
            {
                await SharedPostgres.ExecuteAsync(source, $"INSERT INTO extremes SELECT id + 100, n, n_scaled, f, r, ts, tsn, d, i, b, s, t, ai, at, by, j FROM extremes WHERE id = {id}");
            }

            await SharedPostgres.ExecuteAsync(source, "UPDATE extremes SET i = i - 1 WHERE id IN (1, 101); INSERT INTO after VALUES (1, 'after the hostile values')");
            await pipeline.DrainAsync();
        }
        finally
        {
            await SharedPostgres.ExecuteAsync(source, "SELECT pg_drop_replication_slot('peeq_cdc_hostileval') FROM pg_replication_slots WHERE slot_name = 'peeq_cdc_hostileval' AND NOT active");
        }

        await TableComparer.AssertEqualAsync(source, target, TableId.Parse("after"));
        var parked = await TableComparer.DumpAsync(target, new TableId("peeq_cdc", "parked_rows"), ["source_key", "reason"]);
        foreach (var p in parked)
        {
            output.WriteLine($"parked: {p}");
        }

        // Row by row: in the target exactly as in the source, or parked with a reason.
        var sourceRows = await TableComparer.DumpAsync(source, TableId.Parse("extremes"));
        var targetRows = await TableComparer.DumpAsync(target, TableId.Parse("extremes"));
        Assert.Equal(18, sourceRows.Count);
        foreach (var row in sourceRows)
        {
            var id = row[..row.IndexOf('\t', StringComparison.Ordinal)];
            if (targetRows.Contains(row))
            {
                continue;
            }

            Assert.True(parked.Any(p => p.Contains($"\"id\": {id}}}", StringComparison.Ordinal) && p.Split('\t')[1].Length > 10),
                $"row {id} is neither in the target as it is in the source nor parked with a reason: {row[..Math.Min(row.Length, 300)]}");
        }

        Assert.All(targetRows, r => Assert.Contains(r, sourceRows));
    }
}
