using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Schema;
using Peeq.Cdc.Sink.Apply;

namespace Peeq.Cdc.Sink.Upkeep;

/// <summary>
/// The periodic work of one target beside the apply loops: tombstone clean-up, the pending-lookup sweep,
/// the dangling-reference views and their counts, and the parked/held/shadowed gauges.
/// </summary>
public sealed class TargetUpkeep(TargetOptions target, PipelineOptions options, NpgsqlDataSource db, TargetTables tables, ILogger logger)
{
    private readonly List<(Reference Reference, string View)> _views = [];

    /// <summary>The consolidated database this target is (selects its references).</summary>
    public string Database => target.Database ?? new NpgsqlConnectionStringBuilder(target.ConnectionString).Database ?? "";

    public async Task RunAsync(CancellationToken ct)
    {
        var prepared = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (!prepared)
                {
                    await CreateDanglingViewsAsync(ct);
                    prepared = true;
                }

                await RunOnceAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or DatabaseUnavailableException)
            {
                logger.LogWarning("Sink upkeep of target {Target}: {Error}; retried at the next interval", target.Name, SinkErrors.Describe(e));
            }

            try
            {
                await Task.Delay(options.Sink.MaintenanceInterval, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public async Task RunOnceAsync(CancellationToken ct)
    {
        await RemoveTombstonesAsync(ct);
        await SweepLookupsAsync(ct);
        await RefreshGaugesAsync(ct);
    }

    /// <summary>
    /// One view per reference of references.yaml whose both ends are tables of this target database:
    /// <c>peeq_cdc.dangling_&lt;reference&gt;</c> lists the rows whose parent is missing (their key and the value).
    /// </summary>
    public async Task CreateDanglingViewsAsync(CancellationToken ct)
    {
        _views.Clear();
        await using var conn = await db.OpenConnectionAsync(ct);
        var mine = References.Default.Where(r => r.IsWithinOneDatabase && r.From.Database == Database).ToList();
        if (mine.Count == 0)
        {
            return;
        }

        var catalog = await Catalog.LoadTablesAsync(conn, mine.SelectMany(r => new[] { r.From.Table, r.To.Table }).Distinct().ToList(), ct);
        foreach (var r in mine)
        {
            if (!catalog.TryGetValue(r.From.Table, out var from) || !catalog.ContainsKey(r.To.Table))
            {
                continue;
            }

            var view = ("dangling_" + r.Name) is var v && v.Length > 63 ? v[..63] : "dangling_" + r.Name;
            var qualified = $"{Sql.QuoteIdent(PipelineSchema.Schema)}.{Sql.QuoteIdent(view)}";
            await using var tx = await conn.BeginTransactionAsync(ct);
            await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtext('peeq_cdc.dangling_views'))", transaction: tx, cancellationToken: ct));
            await conn.ExecuteAsync(new CommandDefinition($"""
                DROP VIEW IF EXISTS {qualified};
                CREATE VIEW {qualified} AS {r.DanglingQuery(from.KeyColumns)};
                COMMENT ON VIEW {qualified} IS {Sql.QuoteLiteral($"Rows of {r.From.Table} whose {string.Join(", ", r.From.Columns)} has no match in {r.To.Table} ({r.Name}, references.yaml); kept up to date by the Sink")};
                """, transaction: tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
            _views.Add((r, qualified));
        }

        logger.LogInformation("Target {Target}: {Count} dangling-reference views in {Schema}", target.Name, _views.Count, PipelineSchema.Schema);
    }

    /// <summary>
    /// A delete's tombstone goes once it can no longer stop anything: it is older than the retention, the
    /// source has applied past it (a redelivered or replayed transaction at or before it is skipped whole by
    /// position, never reaching the row), no snapshot is loading the table (a chunk may carry a row read before
    /// the delete), and no parked row of that source and table at or before it is still open (its replay
    /// is version-guarded by the tombstone).
    /// </summary>
    private async Task RemoveTombstonesAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        foreach (var (table, lineage) in await TargetTables.ListLineageAsync(conn, ct))
        {
            var qualified = $"{Sql.QuoteIdent(PipelineSchema.Schema)}.{Sql.QuoteIdent(lineage)}";
            while (true)
            {
                var n = await conn.ExecuteAsync(new CommandDefinition($"""
                    DELETE FROM {qualified} WHERE ctid IN (
                        SELECT l.ctid FROM {qualified} l JOIN peeq_cdc.applied_position a ON a.source = l.source
                        WHERE l.deleted AND l.updated_at < now() - @retention AND l.lsn <= a.commit_lsn
                          AND NOT EXISTS (SELECT 1 FROM peeq_cdc.table_state s WHERE s.target_table = @t AND s.state = 'loading')
                          AND NOT EXISTS (SELECT 1 FROM peeq_cdc.parked_rows p WHERE p.status = 'parked' AND p.source = l.source
                                          AND p.target_table = @t AND (p.commit_lsn, p.seq) <= (l.lsn, l.seq))
                        LIMIT 10000)
                    """, new { t = table, retention = options.Sink.TombstoneRetention }, cancellationToken: ct));
                SinkMetrics.TombstonesRemoved.WithLabels(target.Name).Inc(n);
                if (n < 10000)
                {
                    break;
                }
            }
        }
    }

    private async Task SweepLookupsAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        try
        {
            var n = await Lookups.SweepAsync(conn, tables, ct) + await Lookups.SweepForeignAsync(conn, tables, ct);
            await tx.CommitAsync(ct);
            if (n > 0)
            {
                logger.LogInformation("Target {Target}: {Count} pending lookups resolved by the sweep", target.Name, n);
            }
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure)
        {
            // An apply transaction got there first; the next sweep tries again.
        }
    }

    private async Task RefreshGaugesAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var counts = (await conn.QueryAsync<(string Source, long Parked, long Held)>(new CommandDefinition("""
            SELECT source, count(*) FILTER (WHERE held_behind IS NULL), count(DISTINCT commit_lsn) FILTER (WHERE held_behind IS NOT NULL)
            FROM peeq_cdc.parked_rows WHERE status = 'parked' GROUP BY source
            """, cancellationToken: ct))).ToDictionary(c => c.Source);
        foreach (var s in options.Sources.Where(s => s.Target == target.Name).Select(s => s.Name).Union(counts.Keys))
        {
            counts.TryGetValue(s, out var c);
            SinkMetrics.ParkedOpen.WithLabels(target.Name, s).Set(c.Parked);
            SinkMetrics.HeldTransactions.WithLabels(target.Name, s).Set(c.Held);
        }

        foreach (var (table, n) in await conn.QueryAsync<(string, long)>(new CommandDefinition(
            "SELECT target_table, count(*) FROM peeq_cdc.shadowed_claims GROUP BY 1", cancellationToken: ct)))
        {
            SinkMetrics.ShadowedClaims.WithLabels(target.Name, table).Set(n);
        }

        SinkMetrics.PendingLookups.WithLabels(target.Name).Set(await conn.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT count(*) FROM peeq_cdc.pending_lookups", cancellationToken: ct)));
        foreach (var (r, view) in _views)
        {
            SinkMetrics.Dangling.WithLabels(target.Name, r.Name).Set(await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                $"SELECT count(*) FROM {view}", cancellationToken: ct)));
        }
    }
}
