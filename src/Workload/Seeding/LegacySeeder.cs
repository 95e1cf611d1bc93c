using System.Diagnostics;
using System.Globalization;
using Dapper;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>What <see cref="LegacySeeder"/> creates: how much, from which seed, and how.</summary>
public sealed record SeedOptions
{
    /// <summary>1 = the seed's volumes (100,000 fans, 2,000,000 purchases, ...); 0.01 for the demo and tests.</summary>
    public double Scale { get; init; } = 0.01;

    /// <summary>Same seed, same data: every value is derived from it.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Drop databases of the same name first (with anything attached); otherwise an existing one is an error.</summary>
    public bool Recreate { get; init; }

    /// <summary>Databases loaded at the same time.</summary>
    public int Parallelism { get; init; } = 2;

    /// <summary>Only these databases (keys); null = all 22.</summary>
    public IReadOnlyCollection<string>? Only { get; init; }
}

/// <summary>
/// Creates the legacy databases from <c>schemas/legacy/</c> and fills them at the seed's proportions
/// with binary COPY: constraints and indexes are taken off while a table loads and put back after
/// (as pg_restore does), which also validates every key and in-database foreign key at the end.
/// </summary>
public sealed class LegacySeeder(LegacyWorld world, SeedOptions options, TextWriter? progressOutput = null)
{
    private delegate void Generator(DatabaseLoader loader, SeedUniverse universe, AnomalyCounter anomalies);

    private static readonly Dictionary<string, (Generator Load, Func<SeedUniverse, long> Planned)> Generators = new()
    {
        ["celebrity"] = (UsersGenerators.Celebrity, UsersGenerators.PlannedCelebrity),
        ["fan"] = (UsersGenerators.Fan, UsersGenerators.PlannedFan),
        ["group-profile"] = (UsersGenerators.GroupProfile, UsersGenerators.PlannedGroupProfile),
        ["content"] = (MediaGenerators.Content, MediaGenerators.PlannedContent),
        ["media"] = (MediaGenerators.Media, MediaGenerators.PlannedMedia),
        ["shoutout"] = (MediaGenerators.Shoutout, MediaGenerators.PlannedShoutout),
        ["mux-livestream"] = (MediaGenerators.MuxLivestream, MediaGenerators.PlannedLivestream),
        ["stripe"] = (CommerceGenerators.Stripe, CommerceGenerators.PlannedStripe),
        ["subscriptions"] = (CommerceGenerators.Subscriptions, CommerceGenerators.PlannedSubscriptions),
        ["wallet"] = (CommerceGenerators.Wallet, CommerceGenerators.PlannedWallet),
        ["transaction"] = (CommerceGenerators.Transaction, CommerceGenerators.PlannedTransaction),
        ["inventory"] = (CommerceGenerators.Inventory, CommerceGenerators.PlannedInventory),
        ["broadcast"] = (EventsGenerators.Broadcast, EventsGenerators.PlannedBroadcast),
        ["stream"] = (EventsGenerators.Stream, EventsGenerators.PlannedStream),
        ["onsite-event"] = (EventsGenerators.OnsiteEvent, EventsGenerators.PlannedOnsite),
        ["class-catalog"] = (EventsGenerators.ClassCatalog, EventsGenerators.PlannedClassCatalog),
        ["notification-service"] = (PlatformGenerators.NotificationService, PlatformGenerators.PlannedNotification),
        ["message-board"] = (PlatformGenerators.MessageBoard, PlatformGenerators.PlannedMessageBoard),
        ["sse"] = (PlatformGenerators.Sse, PlatformGenerators.PlannedSse),
        ["tags"] = (PlatformGenerators.Tags, PlatformGenerators.PlannedTags),
        ["encryption"] = (PlatformGenerators.Encryption, PlatformGenerators.PlannedEncryption),
        ["dwolla"] = (PlatformGenerators.Dwolla, PlatformGenerators.PlannedDwolla),
    };

    public async Task<SeedSummary> RunAsync(CancellationToken ct)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var universe = new SeedUniverse(options.Seed, options.Scale);
        var databases = world.Databases.Where(d => options.Only is null || options.Only.Contains(d.Key)).ToList();
        if (options.Only is not null && options.Only.FirstOrDefault(k => world.Databases.All(d => d.Key != k)) is { } unknown)
        {
            throw new ArgumentException($"'{unknown}' is not a legacy database");
        }

        var anomalies = new AnomalyCounter();
        var progress = new SeedProgress(databases.Sum(d => Generators[d.Key].Planned(universe)), progressOutput);
        using var ticker = new Timer(_ => progress.Tick(), null, 200, 200);
        using var gate = new SemaphoreSlim(Math.Max(1, options.Parallelism));
        // The largest databases first, so the parallel lanes finish together.
        var order = databases.OrderByDescending(d => Generators[d.Key].Planned(universe)).ToList();
        var tasks = order.Select(db => Task.Run(async () =>
        {
            await gate.WaitAsync(ct);
            try
            {
                var result = await SeedDatabaseAsync(db, universe, anomalies, progress, ct);
                progress.Say($"seed-data: {db.DatabaseName(world.Prefix)}: {result.Rows:N0} rows in {result.Tables.Count} tables, {result.ElapsedSeconds:0.0} s (COPY {result.CopySeconds:0.0} s, keys and indexes {result.IndexSeconds:0.0} s)");
                return result;
            }
            finally
            {
                gate.Release();
            }
        }, ct)).ToList();
        var results = await Task.WhenAll(tasks);
        progress.Finish();
        var byKey = results.ToDictionary(r => r.Key);
        return new SeedSummary(
            options.Seed,
            options.Scale,
            started,
            clock.Elapsed.TotalSeconds,
            databases.Select(d => byKey[d.Key]).ToList(),
            Anomalies.All.Where(x => databases.Any(d => d.Key == x.Database))
                .Select(x => new AnomalyCount(x.Name, x.Kind, x.Database, x.Table, x.Column, anomalies[x], x.Where, x.Description)).ToList());
    }

    private async Task<SeededDatabase> SeedDatabaseAsync(LegacyDatabase db, SeedUniverse universe, AnomalyCounter anomalies, SeedProgress progress, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var name = db.DatabaseName(world.Prefix);
        var serverCs = world.ServerConnectionString(db);
        await using (var server = await PgConnections.OpenAsync(serverCs, $"legacy server of '{db.Key}'", ct, 15))
        {
            var exists = await server.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = @name)", new { name }, cancellationToken: ct));
            if (exists && !options.Recreate)
            {
                throw new InvalidOperationException($"database '{name}' already exists on {PgConnections.Describe(serverCs)}; use --recreate to drop and re-create it");
            }

            if (exists)
            {
                await server.ExecuteAsync(new CommandDefinition(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = @name AND NOT active", new { name }, cancellationToken: ct));
                await server.ExecuteAsync(new CommandDefinition($"DROP DATABASE {Sql.QuoteIdent(name)} WITH (FORCE)", cancellationToken: ct));
            }

            await server.ExecuteAsync(new CommandDefinition($"CREATE DATABASE {Sql.QuoteIdent(name)}", cancellationToken: ct));
            var comment = $"peeq-cdc seed-data: legacy {db.Key}-db, seed {options.Seed}, scale {options.Scale.ToString(CultureInfo.InvariantCulture)}";
            await server.ExecuteAsync(new CommandDefinition($"COMMENT ON DATABASE {Sql.QuoteIdent(name)} IS {Sql.QuoteLiteral(comment)}", cancellationToken: ct));
        }

        var cs = new NpgsqlConnectionStringBuilder(world.ConnectionString(db)) { CommandTimeout = 0, Timezone = "UTC" }.ConnectionString;
        await using var conn = await PgConnections.OpenAsync(cs, $"legacy database '{name}'", ct, 15);
        await conn.ExecuteAsync(new CommandDefinition(db.Schema, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition("SET maintenance_work_mem = '256MB'; SET synchronous_commit = off", cancellationToken: ct));
        var deferred = await TakeOffConstraintsAsync(conn, ct);

        var loader = new DatabaseLoader(db, conn, progress, ct);
        var copyClock = Stopwatch.StartNew();
        await Task.Run(() => Generators[db.Key].Load(loader, universe, anomalies), ct);
        var copySeconds = copyClock.Elapsed.TotalSeconds;

        var indexClock = Stopwatch.StartNew();
        foreach (var statement in deferred)
        {
            await conn.ExecuteAsync(new CommandDefinition(statement, cancellationToken: ct));
        }

        // Sequences follow the explicit ids COPY wrote.
        var serials = await conn.QueryAsync<(string Table, string Column, string Sequence)>(new CommandDefinition("""
            SELECT c.relname, a.attname, s.relname
            FROM pg_depend d
            JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
            JOIN pg_class c ON c.oid = d.refobjid
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid
            WHERE d.deptype = 'a' AND c.relnamespace = 'public'::regnamespace
            """, cancellationToken: ct));
        foreach (var (table, column, sequence) in serials)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                $"SELECT setval({Sql.QuoteLiteral(Sql.QuoteIdent(sequence))}, COALESCE((SELECT max({Sql.QuoteIdent(column)}) FROM {Sql.QuoteIdent(table)}), 0) + 1, false)",
                cancellationToken: ct));
        }

        var indexSeconds = indexClock.Elapsed.TotalSeconds;
        await conn.ExecuteAsync(new CommandDefinition("ANALYZE", commandType: System.Data.CommandType.Text, cancellationToken: ct));
        var size = await conn.ExecuteScalarAsync<long>(new CommandDefinition("SELECT pg_database_size(current_database())", cancellationToken: ct));
        var tables = db.Tables.Select(t => new SeededTable(t, loader.Rows.GetValueOrDefault(t))).ToList();
        return new SeededDatabase(db.Key, name, PgConnections.Describe(serverCs), db.Domain, db.TargetDatabase, tables, tables.Sum(t => t.Rows), size, clock.Elapsed.TotalSeconds,
            Math.Round(copySeconds, 3), Math.Round(indexSeconds, 3));
    }

    /// <summary>
    /// Drops keys, unique constraints, foreign keys and indexes, and returns the statements that put
    /// them back in the order pg_restore uses: keys and uniques, indexes, then foreign keys (validated).
    /// </summary>
    private static async Task<List<string>> TakeOffConstraintsAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var constraints = (await conn.QueryAsync<(string Table, string Name, string Type, string Definition)>(new CommandDefinition("""
            SELECT c.conrelid::regclass::text, c.conname, c.contype::text, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.connamespace = 'public'::regnamespace AND c.contype IN ('p', 'u', 'f')
            ORDER BY c.contype = 'f' DESC, c.conrelid::regclass::text, c.conname
            """, cancellationToken: ct))).ToList();
        var indexes = (await conn.QueryAsync<(string Name, string Definition)>(new CommandDefinition("""
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
            WHERE t.relnamespace = 'public'::regnamespace
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            ORDER BY 1
            """, cancellationToken: ct))).ToList();
        foreach (var c in constraints)
        {
            await conn.ExecuteAsync(new CommandDefinition($"ALTER TABLE {c.Table} DROP CONSTRAINT {Sql.QuoteIdent(c.Name)}", cancellationToken: ct));
        }

        foreach (var i in indexes)
        {
            await conn.ExecuteAsync(new CommandDefinition($"DROP INDEX {i.Name}", cancellationToken: ct));
        }

        var restore = new List<string>();
        restore.AddRange(constraints.Where(c => c.Type != "f").Select(c => $"ALTER TABLE {c.Table} ADD CONSTRAINT {Sql.QuoteIdent(c.Name)} {c.Definition}"));
        restore.AddRange(indexes.Select(i => i.Definition));
        restore.AddRange(constraints.Where(c => c.Type == "f").Select(c => $"ALTER TABLE {c.Table} ADD CONSTRAINT {Sql.QuoteIdent(c.Name)} {c.Definition}"));
        return restore;
    }
}
