using Npgsql;

namespace Peeq.Cdc.Tests.Integration.Infrastructure;

/// <summary>
/// A deterministic mix of inserts, updates and deletes in transactions of 1–20 statements, over tables
/// with the types the legacy schemas use.
/// </summary>
public static class MixedWorkload
{
    public const string Schema = """
        CREATE TABLE accounts (
            id       bigint PRIMARY KEY,
            owner    uuid NOT NULL,
            balance  numeric(20,6) NOT NULL,
            note     text,
            tags     varchar(30)[],
            data     jsonb,
            blob     bytea,
            updated  timestamptz NOT NULL,
            born     date,
            local_at timestamp,
            active   boolean NOT NULL DEFAULT true,
            score    double precision
        );
        CREATE TABLE events (
            id          bigserial PRIMARY KEY,
            account_id  bigint NOT NULL,
            kind        varchar(20) NOT NULL,
            payload     json,
            at          timestamp NOT NULL
        );
        """;

    public static readonly string[] Tables = ["public.accounts", "public.events"];

    /// <summary>Commits about <paramref name="changes"/> row changes; returns how many it made.</summary>
    public static async Task<int> RunAsync(string connectionString, int changes, int seed, int firstId = 1, CancellationToken ct = default)
    {
        var random = new Random(seed);
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(ct);
        var ids = new List<long>();
        var nextId = (long)firstId;
        var done = 0;
        while (done < changes)
        {
            await using var tx = await conn.BeginTransactionAsync(ct);
            var statements = random.Next(1, 21);
            for (var i = 0; i < statements && done < changes; i++)
            {
                var roll = random.Next(10);
                await using var cmd = conn.CreateCommand();
                cmd.Transaction = tx;
                if (roll < 4 || ids.Count < 10)
                {
                    var id = nextId++;
                    ids.Add(id);
                    cmd.CommandText = """
                        INSERT INTO accounts (id, owner, balance, note, tags, data, blob, updated, born, local_at, score)
                        VALUES (@id, @owner, @balance, @note, @tags, @data::jsonb, @blob, @updated, @born, @local, @score)
                        """;
                    cmd.Parameters.AddWithValue("id", id);
                    cmd.Parameters.AddWithValue("owner", Guid.NewGuid());
                    cmd.Parameters.AddWithValue("balance", decimal.Parse($"{random.Next(-1000000, 1000000)}.{random.Next(0, 999999):D6}", System.Globalization.CultureInfo.InvariantCulture));
                    cmd.Parameters.AddWithValue("note", random.Next(5) == 0 ? DBNull.Value : $"note {id} \t tab \\ backslash \n newline ü {'"'}");
                    cmd.Parameters.AddWithValue("tags", new[] { $"t{id % 7}", "with,comma", "with \"quote\"", "" });
                    cmd.Parameters.AddWithValue("data", $$"""{"id": {{id}}, "nested": {"list": [1, 2.50, "x"]}, "unicode": "ñ✓"}""");
                    cmd.Parameters.AddWithValue("blob", random.Next(3) == 0 ? DBNull.Value : BitConverter.GetBytes(id).Concat(new byte[] { 0, 92, 255 }).ToArray());
                    cmd.Parameters.AddWithValue("updated", DateTime.UtcNow.AddTicks(random.Next(0, 10_000_000) * 10));
                    cmd.Parameters.AddWithValue("born", new DateOnly(1950 + random.Next(70), random.Next(1, 13), random.Next(1, 29)));
                    cmd.Parameters.AddWithValue("local", new DateTime(2020, 1, 1).AddTicks(random.NextInt64(0, 1_000_000_000_000) * 10));
                    cmd.Parameters.AddWithValue("score", random.NextDouble() * 1e6);
                }
                else if (roll < 8)
                {
                    var id = ids[random.Next(ids.Count)];
                    cmd.CommandText = "UPDATE accounts SET balance = balance + @d, note = coalesce(note, '') || '+', updated = now() WHERE id = @id";
                    cmd.Parameters.AddWithValue("d", random.Next(-500, 500) / 100m);
                    cmd.Parameters.AddWithValue("id", id);
                    if (random.Next(3) == 0)
                    {
                        await using var ev = conn.CreateCommand();
                        ev.Transaction = tx;
                        ev.CommandText = "INSERT INTO events (account_id, kind, payload, at) VALUES (@id, 'update', @p::json, now()::timestamp)";
                        ev.Parameters.AddWithValue("id", id);
                        ev.Parameters.AddWithValue("p", $$"""{"by": "workload", "n": {{done}}}""");
                        await ev.ExecuteNonQueryAsync(ct);
                        done++;
                    }
                }
                else
                {
                    var index = random.Next(ids.Count);
                    var id = ids[index];
                    ids.RemoveAt(index);
                    cmd.CommandText = "DELETE FROM accounts WHERE id = @id";
                    cmd.Parameters.AddWithValue("id", id);
                }

                await cmd.ExecuteNonQueryAsync(ct);
                done++;
            }

            await tx.CommitAsync(ct);
        }

        return done;
    }
}
