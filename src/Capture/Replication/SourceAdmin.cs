using Dapper;
using Npgsql;
using Peeq.Cdc.Capture.Snapshot;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Capture.Replication;

/// <summary>A replication slot named like Capture's that no configured source owns.</summary>
public sealed record OrphanSlot(string Server, string Slot, string Database, bool Active, long RetainedBytes);

/// <summary>
/// Operator actions on a source's replication objects and pipeline state (<c>peeq-cdc source ...</c>,
/// <c>peeq-cdc snapshot</c>). Each is deliberate: a lost slot is never recreated by Capture on its own,
/// because doing so silently skips the changes the lost slot held; an operator decides, then resets.
/// </summary>
public static class SourceAdmin
{
    // An operator's command on a busy server: waits longer for a connection than a worker's quick check.
    private const int ConnectSeconds = 15;

    /// <summary>
    /// Drops the source's slot and forgets its applied position and snapshot state in the target, so the
    /// next capture start creates a new slot and takes a new snapshot of every table (rows the source
    /// no longer has are removed from the target as each table's snapshot completes).
    /// </summary>
    public static async Task<List<string>> ResetAsync(PipelineOptions o, string name, CancellationToken ct)
    {
        var source = o.Source(name);
        var done = new List<string>();
        await using (var conn = await PgConnections.OpenAsync(source.ConnectionString, $"source '{name}'", ct, ConnectSeconds))
        {
            done.Add(await DropSlotAsync(conn, source, ct));
        }

        done.AddRange(await ForgetAsync(o, source, ct));
        done.Add($"the next 'peeq-cdc capture' (or 'run') creates slot '{source.SlotName}' again and takes a new snapshot of every table of '{name}'");
        return done;
    }

    /// <summary>Drops the slot and, when Capture manages them, the publications; forgets the source in its target.</summary>
    public static async Task<List<string>> RemoveAsync(PipelineOptions o, string name, CancellationToken ct)
    {
        var source = o.Source(name);
        var done = new List<string>();
        await using (var conn = await PgConnections.OpenAsync(source.ConnectionString, $"source '{name}'", ct, ConnectSeconds))
        {
            done.Add(await DropSlotAsync(conn, source, ct));
            if (source.CreateReplicationObjects)
            {
                foreach (var publication in new[] { source.PublicationName, ReplicationSetup.AppendPublication(source) })
                {
                    var existed = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                        "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = @publication)", new { publication }, cancellationToken: ct));
                    if (existed)
                    {
                        await conn.ExecuteAsync(new CommandDefinition($"DROP PUBLICATION {Sql.QuoteIdent(publication)}", cancellationToken: ct));
                        done.Add($"dropped publication '{publication}'");
                    }
                }
            }
            else
            {
                done.Add($"left publication '{source.PublicationName}' alone (createReplicationObjects: false: a DBA manages it)");
            }
        }

        done.AddRange(await ForgetAsync(o, source, ct));
        await using (var target = await PgConnections.OpenAsync(o.Target(source.Target).ConnectionString, $"target '{source.Target}'", ct, ConnectSeconds))
        {
            if (await target.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT to_regclass('peeq_cdc.table_state') IS NOT NULL", cancellationToken: ct)))
            {
                await target.ExecuteAsync(new CommandDefinition("DELETE FROM peeq_cdc.table_state WHERE source = @name", new { name }, cancellationToken: ct));
            }
        }

        done.Add($"the rows '{name}' contributed stay in target '{source.Target}'; remove '{name}' from the configuration now");
        return done;
    }

    private static async Task<string> DropSlotAsync(NpgsqlConnection conn, SourceOptions source, CancellationToken ct)
    {
        var slot = await ReplicationSetup.ReadSlotAsync(conn, source.SlotName, ct);
        if (slot is null)
        {
            return $"slot '{source.SlotName}' did not exist";
        }

        if (slot.Active)
        {
            var pid = await conn.ExecuteScalarAsync<int?>(new CommandDefinition(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = @slot", new { slot = source.SlotName }, cancellationToken: ct));
            throw new CaptureSetupException(
                $"source '{source.Name}': slot '{source.SlotName}' is in use (walsender pid {pid}): a capture is running for this source. Stop it first, then run this again.");
        }

        await conn.ExecuteAsync(new CommandDefinition("SELECT pg_drop_replication_slot(@slot)", new { slot = source.SlotName }, cancellationToken: ct));
        return $"dropped slot '{source.SlotName}' (it was {slot.WalStatus}, confirmed up to {slot.ConfirmedFlush})";
    }

    private static async Task<List<string>> ForgetAsync(PipelineOptions o, SourceOptions source, CancellationToken ct)
    {
        var target = o.Target(source.Target);
        await using var conn = await PgConnections.OpenAsync(target.ConnectionString, $"target '{target.Name}'", ct, ConnectSeconds);
        var done = new List<string>();
        foreach (var table in new[] { "applied_position", "flow_position", "replay_requests", "source_table_state", "snapshot_requests" })
        {
            if (!await conn.ExecuteScalarAsync<bool>(new CommandDefinition($"SELECT to_regclass('peeq_cdc.{table}') IS NOT NULL", cancellationToken: ct)))
            {
                continue;
            }

            var n = await conn.ExecuteAsync(new CommandDefinition($"DELETE FROM peeq_cdc.{Sql.QuoteIdent(table)} WHERE source = @name", new { name = source.Name }, cancellationToken: ct));
            if (n > 0)
            {
                done.Add($"forgot {n} row(s) of peeq_cdc.{table} in target '{target.Name}'");
            }
        }

        return done;
    }

    /// <summary>Slots named <c>peeq_cdc_*</c> on the configured sources' servers that no configured source owns (temporary slots excluded).</summary>
    public static async Task<List<OrphanSlot>> OrphanSlotsAsync(PipelineOptions o, CancellationToken ct)
    {
        var owned = o.Sources.Select(s => s.SlotName).ToHashSet(StringComparer.Ordinal);
        var result = new List<OrphanSlot>();
        foreach (var server in o.Sources.GroupBy(s => ServerOf(s.ConnectionString)))
        {
            try
            {
                await using var conn = await PgConnections.OpenAsync(server.First().ConnectionString, $"source '{server.First().Name}'", ct);
                var rows = await conn.QueryAsync<(string slot, string? database, bool active, long? retained)>(new CommandDefinition("""
                    SELECT slot_name, database, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint
                    FROM pg_replication_slots WHERE slot_name LIKE 'peeq\_cdc\_%' AND NOT temporary ORDER BY slot_name
                    """, cancellationToken: ct));
                result.AddRange(rows.Where(r => !owned.Contains(r.slot)).Select(r => new OrphanSlot(server.Key, r.slot, r.database ?? "", r.active, r.retained ?? 0)));
            }
            catch (DatabaseUnavailableException)
            {
                // An unreachable server is reported by its source; its slots are looked at when it is back.
            }
        }

        return result;
    }

    /// <summary>host:port of a connection string: slots belong to a server, whatever database they decode.</summary>
    public static string ServerOf(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{b.Host}:{b.Port}";
    }

    /// <summary>Records a re-snapshot request; refuses what would silently go wrong.</summary>
    public static async Task<long> RequestSnapshotAsync(PipelineOptions o, string name, string tableText, bool append, CancellationToken ct)
    {
        var source = o.Source(name);
        var table = TableId.Parse(tableText);
        if (!source.Tables.Select(t => TableId.Parse(t)).Contains(table))
        {
            throw new CaptureSetupException($"source '{name}' does not capture {table} (its tables: {string.Join(", ", source.Tables)})");
        }

        await using (var conn = await PgConnections.OpenAsync(source.ConnectionString, $"source '{name}'", ct, ConnectSeconds))
        {
            var info = (await Catalog.LoadTablesAsync(conn, [table], ct)).GetValueOrDefault(table)
                ?? throw new CaptureSetupException($"source '{name}': table {table} does not exist in database '{conn.Database}'");
            if (info.IsKeyless && !append)
            {
                throw new CaptureSetupException(
                    $"source '{name}': {table} has no primary key, so its rows cannot be matched in the target: a re-snapshot would add every row again. "
                    + $"To reload it, empty the target table first (TRUNCATE {table.Quoted} in target '{source.Target}'), then run this again with --append.");
            }
        }

        var target = o.Target(source.Target);
        await using var t = await PgConnections.OpenAsync(target.ConnectionString, $"target '{target.Name}'", ct, ConnectSeconds);
        if (!await t.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT to_regclass('peeq_cdc.snapshot_requests') IS NOT NULL", cancellationToken: ct)))
        {
            throw new CaptureSetupException($"target '{target.Name}' has no peeq_cdc schema yet: start the Sink once first");
        }

        return await SnapshotStore.RequestAsync(t, name, table, $"{Environment.UserName}@{Environment.MachineName}", ct);
    }

    /// <summary>A table's snapshot state as the target holds it (null before its first chunk was applied).</summary>
    public static async Task<TableSnapshotState?> SnapshotStateAsync(PipelineOptions o, string name, TableId table, CancellationToken ct)
    {
        var source = o.Source(name);
        await using var t = await PgConnections.OpenAsync(o.Target(source.Target).ConnectionString, $"target '{source.Target}'", ct);
        return (await SnapshotStore.ReadAsync(t, name, ct)).GetValueOrDefault(table);
    }

    /// <summary>One line of snapshot progress: rows, percent of the estimate, rate.</summary>
    public static string Describe(TableSnapshotState s, DateTimeOffset now)
    {
        var seconds = Math.Max(0.001, ((s.FinishedAt ?? now) - s.StartedAt).TotalSeconds);
        var total = Math.Max(s.TotalRows, s.Rows);
        var percent = s.Done ? 100.0 : total == 0 ? 0.0 : 100.0 * s.Rows / total;
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{s.Table}: {(s.Done ? "done" : "loading")}, {s.Rows:N0} / ~{total:N0} rows ({percent:0.0}%), {s.Rows / seconds:N0} rows/s, generation {s.Generation}{(s.ParkedReason is null ? "" : $", PARKED: {s.ParkedReason}")}");
    }
}
