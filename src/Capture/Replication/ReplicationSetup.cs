using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Capture.Replication;

/// <summary>What a source offers for capture, checked and prepared.</summary>
public sealed record PreparedSource(
    SourceOptions Options,
    string Database,
    int ServerVersionNum,
    IReadOnlyDictionary<TableId, TableInfo> Tables,
    IReadOnlyList<string> Publications)
{
    /// <summary>Tables without a primary key or replica identity index: captured as append-only.</summary>
    public IEnumerable<TableInfo> AppendOnlyTables => Tables.Values.Where(IsAppendOnly);

    public static bool IsAppendOnly(TableInfo t) => t.IsKeyless && t.ReplicaIdentity != 'f';

    /// <summary>pgoutput's "messages" option (heartbeats and watermarks as logical messages) needs PostgreSQL 14.</summary>
    public bool SupportsMessages => ServerVersionNum >= 140000;

    /// <summary>The server's wal_sender_timeout (zero: disabled): standby status must reach it well within this.</summary>
    public TimeSpan WalSenderTimeout { get; init; }

    /// <summary>
    /// The standby status interval to use: the configured one, but at most a quarter of the server's
    /// wal_sender_timeout, so a stream that waits for the Sink (nothing read for minutes) is never
    /// taken for a dead one and terminated, even when a status update is delayed on a busy machine.
    /// </summary>
    public TimeSpan StatusInterval(TimeSpan configured) =>
        WalSenderTimeout > TimeSpan.Zero && WalSenderTimeout / 4 < configured
            ? TimeSpan.FromMilliseconds(Math.Max(100, WalSenderTimeout.TotalMilliseconds / 4))
            : configured;
}

/// <summary>
/// Checks a source before capture and creates what is missing: precise errors for wal_level,
/// privileges and missing tables; the publication made to list exactly the configured tables.
/// </summary>
public static class ReplicationSetup
{
    /// <summary>Name of the second publication, for append-only tables (publishes inserts and truncates only).</summary>
    public static string AppendPublication(SourceOptions s) => s.PublicationName + "_append";

    /// <param name="sameServer">
    /// Every source configured on the same server (host:port) as <paramref name="source"/>, itself included;
    /// null = only this one. Each needs a slot and a WAL sender, so the server's limits are checked for all of them.
    /// </param>
    public static async Task<PreparedSource> PrepareAsync(SourceOptions source, NpgsqlConnection conn, ILogger logger, CancellationToken ct,
        IReadOnlyCollection<SourceOptions>? sameServer = null)
    {
        var name = source.Name;
        var settings = (await conn.QueryAsync<(string name, string setting)>(new CommandDefinition(
            "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_replication_slots', 'max_wal_senders', 'server_version_num', 'wal_sender_timeout')",
            cancellationToken: ct))).ToDictionary(r => r.name, r => r.setting);
        if (settings["wal_level"] != "logical")
        {
            throw new CaptureSetupException(
                $"source '{name}': wal_level is '{settings["wal_level"]}', logical replication needs 'logical'. "
                + "Run ALTER SYSTEM SET wal_level = logical; then restart the server.");
        }

        var role = await conn.QuerySingleAsync<(string user, bool replication, bool super)>(new CommandDefinition(
            "SELECT current_user, rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user", cancellationToken: ct));
        if (!role.replication && !role.super)
        {
            throw new CaptureSetupException(
                $"source '{name}': role '{role.user}' has no REPLICATION privilege. Run ALTER ROLE {Sql.QuoteIdent(role.user)} REPLICATION; "
                + "(docs/configuration.md, \"Start-up errors\").");
        }

        // Before anything is created on the source: a server that cannot serve every source configured on it is
        // refused for all of them, not found full by whichever starts last.
        await CheckSlotCapacityAsync(conn, source, sameServer ?? [source], settings, ct);

        var wanted = source.Tables.Select(t => TableId.Parse(t)).ToList();
        var tables = await Catalog.LoadTablesAsync(conn, wanted, ct);
        var missing = wanted.Where(t => !tables.ContainsKey(t)).ToList();
        if (missing.Count > 0)
        {
            throw new CaptureSetupException(
                $"source '{name}': configured table{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} "
                + $"do{(missing.Count > 1 ? "" : "es")} not exist in database '{conn.Database}' (or the role cannot see {(missing.Count > 1 ? "them" : "it")}). "
                + $"Create {(missing.Count > 1 ? "them" : "it")}, grant the capture role USAGE on {(missing.Count > 1 ? "their schemas" : "its schema")}, or remove {(missing.Count > 1 ? "them" : "it")} from sources[].tables.");
        }

        // SELECT on the table is not enough: without USAGE on its schema the catalog still lists it, and the
        // snapshot would fail later with a bare "permission denied for schema". Both are named here, with the grants.
        var unreadable = new List<TableId>();
        var closedSchemas = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var t in wanted)
        {
            var (canRead, canUse) = await conn.QuerySingleAsync<(bool, bool)>(new CommandDefinition(
                "SELECT has_table_privilege(@oid::oid, 'SELECT'), has_schema_privilege(@schema, 'USAGE')",
                new { oid = (long)tables[t].Oid, schema = t.Schema }, cancellationToken: ct));
            if (!canRead)
            {
                unreadable.Add(t);
            }

            if (!canUse)
            {
                closedSchemas.Add(t.Schema);
            }
        }

        if (unreadable.Count > 0 || closedSchemas.Count > 0)
        {
            var blocked = unreadable.Concat(wanted.Where(t => closedSchemas.Contains(t.Schema))).Distinct().ToList();
            var grants = closedSchemas.Select(schema => $"GRANT USAGE ON SCHEMA {Sql.QuoteIdent(schema)} TO {Sql.QuoteIdent(role.user)};")
                .Concat(unreadable.Count > 0 ? [$"GRANT SELECT ON {string.Join(", ", unreadable.Select(t => t.Quoted))} TO {Sql.QuoteIdent(role.user)};"] : []);
            throw new CaptureSetupException(
                $"source '{name}': role '{role.user}' may not read {string.Join(", ", blocked)}"
                + (closedSchemas.Count > 0 ? $" (no USAGE on schema {string.Join(", ", closedSchemas)})" : "")
                + $". Run {string.Join(" ", grants)}");
        }

        var sensitiveKeys = source.SensitiveColumns
            .Select(c => ColumnRef.TryParse(c, out var r, out _) ? r : default)
            .Where(r => tables.TryGetValue(r.Table, out var t) && t.KeyColumns.Contains(r.Column))
            .ToList();
        if (sensitiveKeys.Count > 0)
        {
            throw new CaptureSetupException(
                $"source '{name}': {string.Join(", ", sensitiveKeys.Select(r => $"{r.Table}.{r.Column}"))} {(sensitiveKeys.Count > 1 ? "are" : "is")} marked sensitive but part of the primary key: "
                + "a key travels as the event key, orders snapshots and identifies rows in the target, so it cannot be sealed or left out. Remove it from sensitiveColumns.");
        }

        foreach (var t in tables.Values.Where(PreparedSource.IsAppendOnly))
        {
            logger.LogWarning(
                "Source {Source}: table {Table} has no primary key or replica identity; it is captured as append-only (inserts replicate, updates and deletes are reported, not replicated). "
                + "To replicate its updates and deletes too, run: ALTER TABLE {Quoted} REPLICA IDENTITY FULL;",
                name, t.Id, t.Id.Quoted);
        }

        var keyed = tables.Values.Where(t => !PreparedSource.IsAppendOnly(t)).Select(t => t.Id).OrderBy(t => t).ToList();
        var appendOnly = tables.Values.Where(PreparedSource.IsAppendOnly).Select(t => t.Id).OrderBy(t => t).ToList();
        var publications = new List<string>();
        foreach (var (publication, list, publish) in new[]
        {
            (source.PublicationName, keyed, "insert, update, delete, truncate"),
            (AppendPublication(source), appendOnly, "insert, truncate"),
        })
        {
            // Both publications exist from the start, even empty: the slot decodes old WAL with the catalog as
            // it was then, so a publication created later (for the first append-only table added to a running
            // source) would be "does not exist" for every change before its creation.
            if (list.Count == 0 && !source.CreateReplicationObjects)
            {
                if (await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = @publication)", new { publication }, cancellationToken: ct)))
                {
                    publications.Add(publication);
                }

                continue;
            }

            await EnsurePublicationAsync(conn, source, publication, list, publish, logger, ct);
            publications.Add(publication);
        }

        return new PreparedSource(source, conn.Database, int.Parse(settings["server_version_num"], System.Globalization.CultureInfo.InvariantCulture), tables, publications)
        {
            // pg_settings gives wal_sender_timeout in milliseconds.
            WalSenderTimeout = TimeSpan.FromMilliseconds(long.Parse(settings["wal_sender_timeout"], System.Globalization.CultureInfo.InvariantCulture)),
        };
    }

    private static async Task EnsurePublicationAsync(NpgsqlConnection conn, SourceOptions source, string publication, IReadOnlyList<TableId> tables, string publish, ILogger logger, CancellationToken ct)
    {
        var exists = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = @publication)", new { publication }, cancellationToken: ct));
        var current = exists
            ? (await conn.QueryAsync<(string schemaname, string tablename)>(new CommandDefinition(
                "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = @publication", new { publication }, cancellationToken: ct)))
                .Select(r => new TableId(r.schemaname, r.tablename)).OrderBy(t => t).ToList()
            : [];
        if (exists && current.SequenceEqual(tables))
        {
            return;
        }

        if (!source.CreateReplicationObjects)
        {
            var lacking = tables.Except(current).ToList();
            if (!exists || lacking.Count > 0)
            {
                var list = string.Join(", ", tables.Select(t => t.Quoted));
                throw new CaptureSetupException(
                    $"source '{source.Name}': publication '{publication}' {(exists ? $"does not include {string.Join(", ", lacking)}" : "does not exist")} "
                    + $"and createReplicationObjects is false. Ask a DBA to run: {(exists ? $"ALTER PUBLICATION {Sql.QuoteIdent(publication)} SET TABLE {list}" : $"CREATE PUBLICATION {Sql.QuoteIdent(publication)} FOR TABLE {list} WITH (publish = '{publish}')")};");
            }

            return;
        }

        var tableList = string.Join(", ", tables.Select(t => t.Quoted));
        var sql = (exists, tables.Count > 0) switch
        {
            (true, true) => $"ALTER PUBLICATION {Sql.QuoteIdent(publication)} SET TABLE {tableList}",
            (true, false) => $"ALTER PUBLICATION {Sql.QuoteIdent(publication)} DROP TABLE {string.Join(", ", current.Select(t => t.Quoted))}",
            (false, true) => $"CREATE PUBLICATION {Sql.QuoteIdent(publication)} FOR TABLE {tableList} WITH (publish = {Sql.QuoteLiteral(publish)})",
            (false, false) => $"CREATE PUBLICATION {Sql.QuoteIdent(publication)} WITH (publish = {Sql.QuoteLiteral(publish)})",
        };
        try
        {
            await conn.ExecuteAsync(new CommandDefinition(sql, cancellationToken: ct));
        }
        catch (PostgresException e) when (e.SqlState is "42501" or "42P01")
        {
            throw new CaptureSetupException(
                $"source '{source.Name}': cannot {(exists ? "alter" : "create")} publication '{publication}': {e.MessageText}. "
                + "Either grant the capture role ownership of the tables and CREATE on the database, or have a DBA create the publication and set createReplicationObjects: false.", e);
        }

        logger.LogInformation("Source {Source}: publication {Publication} {Action} with {Tables}", source.Name, publication, exists ? "altered" : "created",
            tables.Count > 0 ? tableList : "no tables yet");
    }

    /// <summary>
    /// Every source configured on this server needs a slot and, while it streams, a WAL sender (one more of
    /// each while an exported snapshot is held). Checked for all of them at once, so the error comes at start
    /// and names the figure to raise to, rather than the last source to start finding the server full.
    /// </summary>
    private static async Task CheckSlotCapacityAsync(NpgsqlConnection conn, SourceOptions source, IReadOnlyCollection<SourceOptions> sameServer,
        Dictionary<string, string> settings, CancellationToken ct)
    {
        var ours = sameServer.Select(s => s.SlotName).Append(source.SlotName).Distinct(StringComparer.Ordinal).ToArray();
        var needed = ours.Length;
        // Slots and WAL senders that none of these sources uses (other tools, standbys, other pipelines);
        // our temporary snapshot slots (<slot>_snap_<session>) come and go and are ours.
        var (otherSlots, otherSenders) = await conn.QuerySingleAsync<(int slots, int senders)>(new CommandDefinition(
            """
            SELECT (SELECT count(*)::int FROM pg_replication_slots s
                    WHERE NOT (s.slot_name = ANY(@ours)) AND NOT EXISTS (SELECT 1 FROM unnest(@ours) o WHERE s.temporary AND s.slot_name LIKE o || '\_snap\_%')),
                   (SELECT count(*)::int FROM pg_stat_replication r
                    WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots s WHERE s.active_pid = r.pid
                                      AND (s.slot_name = ANY(@ours) OR EXISTS (SELECT 1 FROM unnest(@ours) o WHERE s.slot_name LIKE o || '\_snap\_%'))))
            """, new { ours }, cancellationToken: ct));
        var maxSlots = int.Parse(settings["max_replication_slots"], System.Globalization.CultureInfo.InvariantCulture);
        var maxSenders = int.Parse(settings["max_wal_senders"], System.Globalization.CultureInfo.InvariantCulture);
        var short_ = new List<string>();
        var fix = new List<string>();
        foreach (var (setting, max, others) in new[] { ("max_replication_slots", maxSlots, otherSlots), ("max_wal_senders", maxSenders, otherSenders) })
        {
            if (needed + others > max)
            {
                // One more than needed: a source takes a temporary slot and sender while it reads an exported snapshot.
                var to = needed + others + 1;
                short_.Add($"{setting} = {max}, but {needed} source{(needed > 1 ? "s" : "")} need one each and {others} {(others == 1 ? "is" : "are")} used by others");
                fix.Add($"ALTER SYSTEM SET {setting} = {to};");
            }
        }

        if (short_.Count > 0)
        {
            throw new CaptureSetupException(
                $"source '{source.Name}': the server {SourceAdmin.ServerOf(source.ConnectionString)} is configured for too few replication connections for the "
                + $"{needed} source{(needed > 1 ? "s" : "")} configured on it ({string.Join(", ", sameServer.Select(s => s.Name).Append(source.Name).Distinct(StringComparer.Ordinal))}): "
                + $"{string.Join("; ", short_)}. Raise {(fix.Count > 1 ? "them" : "it")} (run {string.Join(" ", fix)} then restart the server), or drop slots nobody uses.");
        }
    }

    /// <summary>The slot as the server sees it, or null when it does not exist.</summary>
    public static async Task<SlotState?> ReadSlotAsync(NpgsqlConnection conn, string slot, CancellationToken ct)
    {
        var row = await conn.QuerySingleOrDefaultAsync<SlotRow>(new CommandDefinition(
            """
            SELECT slot_name, plugin, database, active, confirmed_flush_lsn::text AS confirmed_flush_lsn, restart_lsn::text AS restart_lsn,
                   wal_status, safe_wal_size,
                   pg_current_wal_lsn()::text AS current_lsn
            FROM pg_replication_slots WHERE slot_name = @slot
            """, new { slot }, cancellationToken: ct));
        if (row is null)
        {
            return null;
        }

        return new SlotState(row.slot_name, row.plugin, row.database, row.active,
            row.confirmed_flush_lsn is null ? Lsn.Zero : Lsn.Parse(row.confirmed_flush_lsn),
            row.restart_lsn is null ? Lsn.Zero : Lsn.Parse(row.restart_lsn),
            row.wal_status ?? "unknown", row.safe_wal_size, Lsn.Parse(row.current_lsn));
    }

    private sealed record SlotRow(string slot_name, string plugin, string database, bool active, string? confirmed_flush_lsn, string? restart_lsn, string? wal_status, long? safe_wal_size, string current_lsn);
}

/// <summary>A replication slot's state, from pg_replication_slots.</summary>
public sealed record SlotState(string Name, string Plugin, string Database, bool Active, Lsn ConfirmedFlush, Lsn Restart, string WalStatus, long? SafeWalSize, Lsn CurrentLsn)
{
    public bool IsLost => WalStatus == "lost" || Restart.IsZero;
}
