using Dapper;
using Npgsql;

namespace Peeq.Cdc.Cli.Demo;

/// <summary>
/// A small sample source for the demo: typed columns the pipeline must carry exactly (numeric,
/// timestamps, jsonb, arrays, bytea), a keyless audit table, and a table whose name and columns
/// contain quotes, semicolons and unicode.
/// </summary>
public static class SampleShop
{
    public const string HostileTable = "Order \"items\"; --";

    public static readonly string[] Tables = ["public.customers", "public.orders", "public.audit_log", $"public.\"{HostileTable.Replace("\"", "\"\"")}\""];

    public const string Schema = """
        CREATE TABLE customers (
            id          uuid PRIMARY KEY,
            name        text NOT NULL,
            email       varchar(255),
            balance     numeric(19,4) NOT NULL DEFAULT 0,
            created_on  timestamptz NOT NULL,
            tags        text[],
            profile     jsonb,
            avatar      bytea
        );
        CREATE TABLE orders (
            id           bigserial PRIMARY KEY,
            customer_id  uuid NOT NULL,
            total        numeric(12,2) NOT NULL,
            items        jsonb,
            placed_at    timestamp NOT NULL,
            status       varchar(20) NOT NULL
        );
        CREATE TABLE audit_log (
            at     timestamptz NOT NULL DEFAULT now(),
            event  text NOT NULL
        );
        CREATE TABLE "Order ""items""; --" (
            id            int PRIMARY KEY,
            "qty; DROP"   int,
            "ünïcødé 🚀"  text
        );
        """;

    public static async Task CreateAsync(NpgsqlConnection conn, int customers, CancellationToken ct)
    {
        await conn.ExecuteAsync(new CommandDefinition(Schema, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO customers (id, name, email, balance, created_on, tags, profile, avatar)
            SELECT md5('c' || g)::uuid, 'Customer ' || g || ' ✓', 'c' || g || '@example.com', (g * 7919 % 1000000) / 100.0 + 0.0001,
                   timestamptz '2024-01-01 00:00:00.123456+00' + g * interval '37 minutes 0.000001 seconds',
                   ARRAY['tier-' || (g % 3), 'region "' || (g % 5) || '"'],
                   jsonb_build_object('n', g, 'note', repeat('x', g % 50), 'nested', jsonb_build_object('ok', g % 2 = 0),
                       -- every 50th profile is large enough to be TOASTed out of line: updates that do not touch it send "unchanged"
                       'history', CASE WHEN g % 50 = 0 THEN (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 400) i) END),
                   decode(md5(g::text), 'hex')
            FROM generate_series(1, @customers) g;
            INSERT INTO orders (customer_id, total, items, placed_at, status)
            SELECT md5('c' || (g % @customers + 1))::uuid, (g * 31 % 100000) / 100.0, jsonb_build_array(jsonb_build_object('sku', 'S' || g, 'qty', g % 4 + 1)),
                   timestamp '2024-02-01 08:00:00' + g * interval '11 minutes', (ARRAY['NEW', 'PAID', 'SHIPPED'])[g % 3 + 1]
            FROM generate_series(1, @customers * 3) g;
            INSERT INTO audit_log (at, event) SELECT now(), 'seeded ' || g FROM generate_series(1, 100) g;
            INSERT INTO "Order ""items""; --" (id, "qty; DROP", "ünïcødé 🚀") SELECT g, g * 2, 'ü ' || g || ' 🚀' FROM generate_series(1, 50) g;
            """, new { customers }, cancellationToken: ct));
    }
}

/// <summary>The demo's live workload: inserts, updates and deletes in multi-statement transactions.</summary>
public sealed class SampleWorkload(string connectionString, int customers)
{
    private long _transactions;

    public long Transactions => Interlocked.Read(ref _transactions);

    public async Task RunAsync(double ratePerSecond, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(ct);
        var random = new Random(42);
        var interval = TimeSpan.FromSeconds(1 / ratePerSecond);
        var next = DateTime.UtcNow;
        while (!ct.IsCancellationRequested)
        {
            await using (var tx = await conn.BeginTransactionAsync(ct))
            {
                var c = random.Next(1, customers + 1);
                switch (random.Next(6))
                {
                    case 0:
                        await conn.ExecuteAsync("""
                            INSERT INTO orders (customer_id, total, items, placed_at, status)
                            VALUES (md5('c' || @c)::uuid, @total, jsonb_build_array(jsonb_build_object('sku', 'W' || @c)), now()::timestamp, 'NEW')
                            """, new { c, total = random.Next(1, 100000) / 100m }, tx);
                        await conn.ExecuteAsync("UPDATE customers SET balance = balance - 1.25 WHERE id = md5('c' || @c)::uuid", new { c }, tx);
                        break;
                    case 1:
                        await conn.ExecuteAsync("UPDATE orders SET status = 'PAID' WHERE id IN (SELECT id FROM orders WHERE status = 'NEW' ORDER BY id DESC LIMIT 3)", transaction: tx);
                        break;
                    case 2:
                        await conn.ExecuteAsync("DELETE FROM orders WHERE id IN (SELECT id FROM orders WHERE status = 'SHIPPED' ORDER BY id LIMIT 2)", transaction: tx);
                        break;
                    case 3:
                        await conn.ExecuteAsync("UPDATE customers SET name = name || '.', profile = profile || jsonb_build_object('edited', now()::text) WHERE id = md5('c' || @c)::uuid", new { c }, tx);
                        break;
                    case 4:
                        await conn.ExecuteAsync("INSERT INTO audit_log (event) VALUES (@e)", new { e = $"event {random.Next()}" }, tx);
                        await conn.ExecuteAsync("""UPDATE "Order ""items""; --" SET "qty; DROP" = "qty; DROP" + 1 WHERE id = @id""", new { id = random.Next(1, 51) }, tx);
                        break;
                    default:
                        await conn.ExecuteAsync("UPDATE customers SET balance = balance + 0.0001, tags = tags || ARRAY['t' || @c] WHERE id = md5('c' || @c)::uuid", new { c }, tx);
                        break;
                }

                await tx.CommitAsync(ct);
            }

            Interlocked.Increment(ref _transactions);
            next += interval;
            var wait = next - DateTime.UtcNow;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, ct);
            }
        }
    }
}
