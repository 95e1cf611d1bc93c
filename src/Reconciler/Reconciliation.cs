using System.Diagnostics;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Reconciler.Balances;
using Peeq.Cdc.Reconciler.References;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Reconciler.Rows;
using Peeq.Cdc.Reconciler.Watermarks;
using Peeq.Cdc.Schema;
using Peeq.Cdc.Sink.Apply;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Reconciler;

/// <summary>
/// One reconciliation run (docs/reconciler.md): every source read at a watermark, every target read once
/// the Sink has applied past those watermarks; counts and checksums per mapping pair, table totals with
/// fan-in, balances and invariants, dangling references, parked rows; then bounded re-check rounds for
/// whatever moved after the watermark. Writes its CSV files into <c>directory</c> as it goes.
/// </summary>
public sealed class Reconciliation(PipelineConfig config, IReadOnlyDictionary<string, ITargetMapping> mappings, ILogger logger)
{
    private PipelineOptions Options => config.Options;

    private ReconcileOptions R => config.Options.Reconcile;

    /// <summary>The configured targets' identity maps, for lookups that name another target (resolved as the Sink resolves them).</summary>
    private ForeignIdentities Foreign { get; } = new(config.Options.Targets);

    public async Task<ReconciliationReport> RunAsync(string directory, CancellationToken ct)
    {
        var runId = DateTimeOffset.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6];
        var started = DateTimeOffset.UtcNow;
        Directory.CreateDirectory(directory);
        using var run = new RunCollector(directory, R.ListLimit, R.RecheckLimit) { MoreRounds = R.RecheckRounds > 0 };
        var checks = string.IsNullOrEmpty(R.Checks) ? null : CheckFile.Load(config.Resolve(R.Checks), Options);
        var references = string.IsNullOrEmpty(R.References) ? null : Schema.References.Load(config.Resolve(R.References));
        var balances = checks is null ? null : new BalanceReconciler(checks, R.ListLimit, directory);
        var sensitive = SensitiveHandling.For(Options);
        var tableTotals = new List<TableTotal>();
        var parked = new List<ParkedRowInfo>();
        IReadOnlyList<ReferenceResult> referenceResults = [];
        var rounds = 1;
        ReferenceReconciler? refs = null;
        try
        {
            await using (var round = await OpenRoundAsync(1, Options.Sources.Select(s => s.Name), run, ct))
            {
                refs = references is null ? null : new ReferenceReconciler(references, db => Resolve(round, db), s => Options.Sources.FirstOrDefault(x => x.Name == s)?.Target, R.ListLimit, directory);
                if (refs is not null)
                {
                    logger.LogInformation("Reconcile {Run}: dangling references ({Count} kinds)", runId, references!.Count);
                    await refs.FindAsync(ct);
                }

                await RowsAsync(round, run, sensitive, refs, ct);
                foreach (var target in round.Targets.Values)
                {
                    await TotalsAsync(target, run, tableTotals, ct);
                    await ParkedAsync(target, directory, parked, ct);
                }

                if (balances is not null)
                {
                    logger.LogInformation("Reconcile {Run}: balance checks", runId);
                    await balances.RunAsync(new RoundSnapshots(round.Sources, round.Targets), ct);
                }
            }

            for (var r = 2; r <= 1 + R.RecheckRounds; r++)
            {
                var rowPending = run.Pairs.Values.Where(p => p.Pending.Count > 0).ToList();
                var balancePending = balances?.PendingCount ?? 0;
                var refPending = refs?.Unclassified ?? 0;
                if (rowPending.Count == 0 && balancePending == 0 && refPending == 0)
                {
                    break;
                }

                rounds = r;
                run.MoreRounds = r < 1 + R.RecheckRounds;
                logger.LogInformation("Reconcile {Run}: round {Round}: re-checking {Origins} origins, {Groups} balance groups, {Parents} missing parents",
                    runId, r, rowPending.Sum(p => p.Pending.Count), balancePending, refPending);
                await Task.Delay(R.RecheckDelay, ct);
                var sources = rowPending.Select(p => p.Id.Source).Concat(balances?.SourcesNeeded() ?? []).Distinct().ToList();
                await using var round = await OpenRoundAsync(r, sources, run, ct, extraTargets: refPending > 0 ? Options.Targets.Select(t => t.Name) : []);
                await RecheckRowsAsync(round, run, rowPending, sensitive, ct);
                if (balances is not null && balancePending > 0)
                {
                    await balances.RecheckAsync(new RoundSnapshots(round.Sources, round.Targets), ct);
                }

                if (refs is not null && refPending > 0)
                {
                    await refs.RecheckAsync(t => round.Targets.GetValueOrDefault(t), ct);
                }
            }

            run.SettlePending();
            referenceResults = refs?.Finish() ?? [];
        }
        catch (Exception e) when (e is DatabaseUnavailableException or NpgsqlException or ConfigurationException or TimeoutException)
        {
            run.Errors.Add(e is PostgresException pg ? $"{pg.MessageText} (SQLSTATE {pg.SqlState})" : e.Message);
            run.SettlePending();
        }
        finally
        {
            refs?.Dispose();
        }

        var (balanceResults, invariants, balanceErrors) = balances?.Finish(R.RecheckRounds > 0) ?? ([], [], []);
        run.Errors.AddRange(balanceErrors);
        return Assemble(runId, started, rounds, run, tableTotals, balanceResults, invariants, referenceResults, parked);
    }

    /// <summary>A database named in the references file: a configured target by <c>reconcile.databases</c>, by name, or by its database name.</summary>
    private TargetCatalog? Resolve(Round round, string database) =>
        R.Databases.TryGetValue(database, out var name)
            ? round.Targets.Values.FirstOrDefault(t => t.Snapshot.Name == name)
            : round.Targets.Values.FirstOrDefault(t => t.Snapshot.Database == database || t.Snapshot.Name == database);

    /// <summary>The snapshots of one round.</summary>
    private sealed class Round : IAsyncDisposable
    {
        public Dictionary<string, SourceSnapshot> Sources { get; } = [];

        public Dictionary<string, TargetCatalog> Targets { get; } = [];

        public Dictionary<string, string?> Moving { get; } = [];

        public async ValueTask DisposeAsync()
        {
            foreach (var t in Targets.Values)
            {
                await t.Snapshot.DisposeAsync();
            }

            foreach (var s in Sources.Values)
            {
                await s.DisposeAsync();
            }
        }
    }

    private async Task<Round> OpenRoundAsync(int number, IEnumerable<string> sourceNames, RunCollector run, CancellationToken ct, IEnumerable<string>? extraTargets = null)
    {
        var round = new Round();
        try
        {
            foreach (var name in sourceNames)
            {
                var source = Options.Source(name);
                try
                {
                    var snap = await SourceSnapshot.TakeAsync(source, ct);
                    round.Sources[name] = snap;
                    run.SetWatermark(name, snap.ChangedAfter);
                    if (snap.Note is not null && number == 1)
                    {
                        run.Notes.Add($"source {name}: {snap.Note}");
                    }
                }
                catch (Exception e) when (e is DatabaseUnavailableException or NpgsqlException)
                {
                    run.Errors.Add($"source '{name}': {(e is PostgresException pg ? pg.MessageText : e.Message)}");
                }
            }

            // Wait until the Sink has applied every source past its watermark (bounded).
            var clock = Stopwatch.StartNew();
            var reached = new Dictionary<string, Lsn?>();
            var pending = round.Sources.Values.ToList();
            while (pending.Count > 0)
            {
                foreach (var group in pending.GroupBy(s => s.Source.Target).ToList())
                {
                    var target = Options.Target(group.Key);
                    await using var conn = await PgConnections.OpenAsync(target.ConnectionString, $"target '{target.Name}'", ct);
                    var applied = await PipelineSchema.ReadAppliedAsync(conn, ct);
                    foreach (var s in group)
                    {
                        var a = applied.TryGetValue(s.Name, out var p) ? p.EndLsn : (Lsn?)null;
                        reached[s.Name] = a;
                        if (a is { } lsn && lsn >= s.ApplyGoal)
                        {
                            pending.Remove(s);
                            run.Watermarks.Add(new WatermarkInfo(s.Name, target.Name, s.Method, s.ApplyGoal.ToString(), s.ChangedAfter.ToString(), lsn.ToString(), true,
                                clock.Elapsed.TotalSeconds, number, s.Note));
                        }
                    }
                }

                if (pending.Count == 0 || clock.Elapsed >= R.WatermarkWait)
                {
                    break;
                }

                await Task.Delay(100, ct);
            }

            foreach (var s in pending)
            {
                var a = reached.GetValueOrDefault(s.Name);
                var reason = $"the Sink had applied {s.Name} only to {a?.ToString() ?? "nothing"}, short of the watermark {s.ApplyGoal}, after waiting {clock.Elapsed.TotalSeconds:0} s: differences on it cannot be told from changes in flight";
                round.Moving[s.Name] = reason;
                run.Watermarks.Add(new WatermarkInfo(s.Name, s.Source.Target, s.Method, s.ApplyGoal.ToString(), s.ChangedAfter.ToString(), a?.ToString(), false,
                    clock.Elapsed.TotalSeconds, number, reason));
                logger.LogWarning("Reconcile: {Reason}", reason);
            }

            var targets = round.Sources.Values.Select(s => s.Source.Target).Concat(extraTargets ?? []).Distinct();
            if (number == 1)
            {
                targets = Options.Targets.Select(t => t.Name);
            }

            foreach (var name in targets)
            {
                var target = Options.Target(name);
                try
                {
                    round.Targets[name] = new TargetCatalog(await TargetSnapshot.TakeAsync(target, ct));
                }
                catch (Exception e) when (e is DatabaseUnavailableException or NpgsqlException)
                {
                    run.Errors.Add($"target '{name}': {(e is PostgresException pg ? pg.MessageText : e.Message)}");
                }
            }

            return round;
        }
        catch
        {
            await round.DisposeAsync();
            throw;
        }
    }

    private async Task RowsAsync(Round round, RunCollector run, SensitiveHandling sensitive, IOriginObserver? observer, CancellationToken ct)
    {
        var rows = new RowReconciler(run, sensitive, R.RangeRows, observer, Foreign);
        foreach (var (name, snap) in round.Sources)
        {
            var source = snap.Source;
            if (!round.Targets.TryGetValue(source.Target, out var catalog))
            {
                continue;
            }

            if (!mappings.TryGetValue(source.Target, out var mapping))
            {
                run.Errors.Add($"target '{source.Target}': no mapping loaded");
                continue;
            }

            var ids = source.Tables.Select(t => TableId.Parse(t)).ToList();
            var infos = await Catalog.LoadTablesAsync(snap.Connection, ids, ct);
            foreach (var id in ids)
            {
                if (!infos.TryGetValue(id, out var info))
                {
                    run.Errors.Add($"source '{name}': table {id} does not exist");
                    continue;
                }

                if (!mapping.Handles(name, id))
                {
                    run.Notes.Add($"source {name}: table {id} is not mapped by target {source.Target}'s mapping");
                    continue;
                }

                var clock = Stopwatch.StartNew();
                var table = new SourceTable(source, info);
                try
                {
                    await rows.ReconcileAsync(snap, table, mapping, catalog, round.Moving.GetValueOrDefault(name), null, ct);
                    if (table.Keyless)
                    {
                        foreach (var p in run.Pairs.Values.Where(p => p.Id.Source == name && p.Id.SourceTable == id && !p.Keyless))
                        {
                            p.Note ??= "the source table has no key: its rows are matched by origin only through the target key";
                        }
                    }
                }
                catch (Exception e) when (e is NpgsqlException or InvalidOperationException or FormatException)
                {
                    run.Errors.Add($"{name} {id}: {(e is PostgresException pg ? $"{pg.MessageText} (SQLSTATE {pg.SqlState})" : e.Message)}");
                    foreach (var p in run.Pairs.Values.Where(p => p.Id.Source == name && p.Id.SourceTable == id))
                    {
                        p.Failed = true;
                    }
                }

                logger.LogInformation("Reconcile: {Source} {Table} compared in {Seconds:0.0} s", name, id, clock.Elapsed.TotalSeconds);
            }
        }
    }

    private async Task RecheckRowsAsync(Round round, RunCollector run, List<PairResult> pending, SensitiveHandling sensitive, CancellationToken ct)
    {
        var rows = new RowReconciler(run, sensitive, int.MaxValue, foreign: Foreign);
        foreach (var bySource in pending.GroupBy(p => (p.Id.Source, p.Id.SourceTable)))
        {
            var items = bySource.SelectMany(p => run.TakePending(p).Select(o => new PendingRecheck(p.Id, o))).ToList();
            if (!round.Sources.TryGetValue(bySource.Key.Source, out var snap) || !round.Targets.TryGetValue(snap.Source.Target, out var catalog))
            {
                foreach (var item in items)
                {
                    foreach (var d in item.Origin.Differences)
                    {
                        run.Report(run.Pair(item.Pair), item.Origin.Key, d, conclusive: false);
                    }
                }

                continue;
            }

            var info = (await Catalog.LoadTablesAsync(snap.Connection, [bySource.Key.SourceTable], ct)).GetValueOrDefault(bySource.Key.SourceTable);
            if (info is null)
            {
                continue;
            }

            // In batches, so one re-check never holds more than a range's worth of rows.
            foreach (var chunk in items.Chunk(Math.Max(1, R.RangeRows)))
            {
                await rows.ReconcileAsync(snap, new SourceTable(snap.Source, info), mappings[snap.Source.Target], catalog, round.Moving.GetValueOrDefault(snap.Name), chunk, ct);
            }
        }
    }

    /// <summary>Every row of each target table, added up by the source and source table that owns it; rows no compared source owns are listed.</summary>
    private async Task TotalsAsync(TargetCatalog catalog, RunCollector run, List<TableTotal> totals, CancellationToken ct)
    {
        var target = catalog.Snapshot;
        var configured = Options.Sources.Where(s => s.Target == target.Name)
            .SelectMany(s => s.Tables.Select(t => (Source: s.Name, Table: TableId.Parse(t).ToString()))).ToHashSet();
        var tables = run.Pairs.Keys.Where(p => p.Target == target.Name).Select(p => p.TargetTable)
            .Concat((await catalog.LineageTablesAsync(ct)).Keys).Distinct().OrderBy(t => t).ToList();
        foreach (var id in tables)
        {
            var info = await catalog.GetAsync(id, ct);
            var pairs = run.Pairs.Values.Where(p => p.Id.Target == target.Name && p.Id.TargetTable == id).ToList();
            var expected = pairs.Sum(p => p.ExpectedRows);
            if (info is null)
            {
                totals.Add(new TableTotal(target.Name, id.ToString(), pairs.Count, expected, 0, 0, 0, expected == 0 ? Verdict.Clean : Verdict.Different, "the target table does not exist"));
                continue;
            }

            if (info.Keyless || info.LineageTable is null)
            {
                var all = await target.Connection.ExecuteScalarAsync<long>(new CommandDefinition($"SELECT count(*) FROM {id.Quoted}", transaction: target.Transaction, cancellationToken: ct));
                var v = all == expected ? Verdict.Clean : Verdict.Unresolved;
                totals.Add(new TableTotal(target.Name, id.ToString(), pairs.Count, expected, all, 0, all, v,
                    info.Keyless ? "no key and no lineage: compared by count only; a difference cannot be told from rows in flight" : "no lineage: the Sink has not written this table"));
                continue;
            }

            var join = string.Join(" AND ", info.Key.Select(k => $"t.{Sql.QuoteIdent(k)} = l.{Sql.QuoteIdent(k)}"));
            var groups = await target.Connection.QueryAsync<(string? source, string? origin_table, bool deleted, long rows)>(new CommandDefinition(
                $"SELECT l.source, l.origin_table, coalesce(l.deleted, false), count(*) FROM {id.Quoted} t LEFT JOIN {info.QuotedLineage} l ON {join} GROUP BY 1, 2, 3",
                transaction: target.Transaction, cancellationToken: ct));
            long attributed = 0, unattributed = 0, total = 0;
            foreach (var g in groups)
            {
                total += g.rows;
                if (g.source is not null && !g.deleted && configured.Contains((g.source, g.origin_table!)))
                {
                    attributed += g.rows;
                }
                else
                {
                    unattributed += g.rows;
                }
            }

            if (unattributed > 0)
            {
                await UnattributedAsync(target, info, configured, run, ct);
            }

            var pairVerdicts = pairs.Select(PairVerdict).ToList();
            var verdict = unattributed > 0 || pairVerdicts.Contains(Verdict.Different) ? Verdict.Different
                : pairVerdicts.Contains(Verdict.Failed) ? Verdict.Failed
                : pairVerdicts.Contains(Verdict.Unresolved) ? Verdict.Unresolved : Verdict.Clean;
            totals.Add(new TableTotal(target.Name, id.ToString(), pairs.Count, expected, attributed, unattributed, total, verdict,
                unattributed > 0 ? $"{unattributed} row(s) that no configured source owns (no lineage, a tombstone, or an unknown origin): not written by the pipeline" : null));
        }
    }

    private async Task UnattributedAsync(TargetSnapshot target, TargetTableInfo info, HashSet<(string Source, string Table)> configured, RunCollector run, CancellationToken ct)
    {
        var join = string.Join(" AND ", info.Key.Select(k => $"t.{Sql.QuoteIdent(k)} = l.{Sql.QuoteIdent(k)}"));
        var lease = await target.RentAsync(ct);
        try
        {
            await using var cmd = new NpgsqlCommand($"""
                SELECT l.source, l.origin_table, l.origin_key::text, l.deleted, {string.Join(", ", info.Columns.Select(c => "t." + Sql.QuoteIdent(c.Name)))}
                FROM {info.Id.Quoted} t LEFT JOIN {info.QuotedLineage} l ON {join}
                WHERE l.source IS NULL OR l.deleted
                   OR NOT EXISTS (SELECT 1 FROM unnest(@sources::text[], @tables::text[]) AS c(s, o) WHERE c.s = l.source AND c.o = l.origin_table)
                """, lease.Conn, lease.Tx) { CommandTimeout = 0, AllResultTypesAreUnknown = true };
            cmd.Parameters.Add(new NpgsqlParameter("sources", configured.Select(c => c.Source).ToArray()));
            cmd.Parameters.Add(new NpgsqlParameter("tables", configured.Select(c => c.Table).ToArray()));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var values = new string?[info.Columns.Count];
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = r.IsDBNull(4 + i) ? null : r.GetString(4 + i);
                }

                var source = r.IsDBNull(0) ? null : r.GetString(0);
                var note = source is null ? "no lineage: the pipeline never wrote this row"
                    : r.GetString(3) is "t" ? $"the lineage records it deleted ({source} {r.GetString(1)} {r.GetString(2)}), yet the row is there"
                    : $"owned by {source} {r.GetString(1)}, which is not configured for this target";
                var diff = new RowDifference(DifferenceKind.Extra, DifferenceStatus.Different, target.Name, info.Id.ToString(), info.KeyJson(values),
                    source ?? "(none)", r.IsDBNull(1) ? "(none)" : r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), [], note);
                run.ReportUnattributed(diff);
            }
        }
        finally
        {
            target.Return(lease);
        }
    }

    private async Task ParkedAsync(TargetCatalog catalog, string directory, List<ParkedRowInfo> listed, CancellationToken ct)
    {
        var target = catalog.Snapshot;
        var exists = await target.Connection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT to_regclass('peeq_cdc.parked_rows') IS NOT NULL", transaction: target.Transaction, cancellationToken: ct));
        var path = Path.Combine(directory, "parked.csv");
        var fresh = !File.Exists(path);
        await using var stream = new FileStream(path, FileMode.Append);
        await using var w = new StreamWriter(stream);
        if (fresh)
        {
            await w.WriteAsync("target,id,source,source_table,source_key,target_table,reason,whole_transaction,commit_lsn,parked_at\r\n");
        }

        if (!exists)
        {
            return;
        }

        var lease = await target.RentAsync(ct);
        try
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT id, source, source_table, source_key::text, target_table, reason, whole_transaction, commit_lsn::text, parked_at, status
                FROM peeq_cdc.parked_rows WHERE status = 'parked' ORDER BY id
                """, lease.Conn, lease.Tx) { CommandTimeout = 0 };
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var p = new ParkedRowInfo(target.Name, r.GetInt64(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4),
                    r.GetString(5), r.GetBoolean(6), r.GetString(7), new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(8), DateTimeKind.Utc)), r.GetString(9));
                ParkedCount++;
                if (listed.Count(x => x.Target == target.Name) < R.ListLimit)
                {
                    listed.Add(p);
                }

                await w.WriteAsync(string.Join(",", new[] { p.Target, p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), p.Source, p.SourceTable, p.SourceKey, p.TargetTable, p.Reason,
                    p.WholeTransaction ? "true" : "false", p.CommitLsn, p.ParkedAt.ToString("O") }.Select(CsvWriter.Escape)) + "\r\n");
            }
        }
        finally
        {
            target.Return(lease);
        }
    }

    private long ParkedCount { get; set; }

    private static Verdict PairVerdict(PairResult p) =>
        p.Failed ? Verdict.Failed
        : p.Status(DifferenceStatus.Different) > 0 ? Verdict.Different
        : p.Status(DifferenceStatus.Unresolved) > 0 ? Verdict.Unresolved
        : Verdict.Clean;

    private ReconciliationReport Assemble(string runId, DateTimeOffset started, int rounds, RunCollector run, List<TableTotal> tableTotals,
        IReadOnlyList<BalanceResult> balances, IReadOnlyList<InvariantResult> invariants, IReadOnlyList<ReferenceResult> references, List<ParkedRowInfo> parked)
    {
        var pairs = run.Pairs.Values.OrderBy(p => p.Id.Target).ThenBy(p => p.Id.TargetTable).ThenBy(p => p.Id.Source).ThenBy(p => p.Id.SourceTable).ToList();
        var counts = new List<CountCheck>();
        var checksums = new List<ChecksumCheck>();
        foreach (var p in pairs)
        {
            var verdict = PairVerdict(p);
            var accounted = p.Status(DifferenceStatus.Parked) + p.Status(DifferenceStatus.Shadowed);
            var realRows = p.RealByKind.GetValueOrDefault(DifferenceKind.Missing) + p.RealByKind.GetValueOrDefault(DifferenceKind.Extra);
            var countVerdict = p.Failed ? Verdict.Failed
                : p.ExpectedRows == p.TargetRows ? Verdict.Clean
                : p.Keyless ? tableTotals.FirstOrDefault(t => t.Target == p.Id.Target && t.TargetTable == p.Id.TargetTable.ToString())?.Verdict ?? Verdict.Unresolved
                : realRows > 0 ? Verdict.Different
                : p.Status(DifferenceStatus.Unresolved) > 0 ? Verdict.Unresolved : Verdict.Clean;
            var countNote = p.Note;
            if (countVerdict == Verdict.Clean && p.ExpectedRows != p.TargetRows && !p.Keyless)
            {
                countNote = accounted > 0
                    ? $"the counts differ by {p.ExpectedRows - p.TargetRows}: accounted for by {accounted} parked or shadowed row(s) and rows that moved after the watermark and matched when re-checked"
                    : $"the counts differ by {p.ExpectedRows - p.TargetRows} rows that moved after the watermark; every one matched when re-checked";
            }

            counts.Add(new CountCheck(p.Id.Source, p.Id.SourceTable.ToString(), p.Id.Target, p.Id.TargetTable.ToString(), p.ExpectedRows, p.TargetRows, countVerdict, countNote));
            if (!p.Keyless)
            {
                checksums.Add(new ChecksumCheck(p.Id.Source, p.Id.SourceTable.ToString(), p.Id.Target, p.Id.TargetTable.ToString(), p.Ranges, p.RangesDiffering,
                    PairResult.Hex(p.ExpectedDigest), PairResult.Hex(p.TargetDigest), p.RowsCompared,
                    p.RealByKind.GetValueOrDefault(DifferenceKind.Missing), p.RealByKind.GetValueOrDefault(DifferenceKind.Extra), p.RealByKind.GetValueOrDefault(DifferenceKind.Changed),
                    p.Status(DifferenceStatus.Unresolved), p.Status(DifferenceStatus.Parked), p.Status(DifferenceStatus.Shadowed), verdict, p.DifferingRanges, p.Note));
            }
        }

        var unattributed = tableTotals.Sum(t => t.UnattributedRows);
        var real = pairs.Sum(p => p.Status(DifferenceStatus.Different)) + run.UnmappedDifferent + unattributed;
        var unresolved = pairs.Sum(p => p.Status(DifferenceStatus.Unresolved)) + tableTotals.Count(t => t.Verdict == Verdict.Unresolved && t.UnattributedRows == 0 && t.Note is not null && t.Note.StartsWith("no key", StringComparison.Ordinal));
        var totals = new ReportTotals(
            TablePairs: counts.Count,
            TablePairsClean: counts.Count(c => c.Verdict == Verdict.Clean && PairVerdict(run.Pairs[new PairId(c.Target, TableId.Parse(c.TargetTable), c.Source, TableId.Parse(c.SourceTable))]) == Verdict.Clean),
            RowsExpected: pairs.Sum(p => p.ExpectedRows),
            RowsInTarget: tableTotals.Sum(t => t.TotalRows),
            Differences: real,
            Unresolved: unresolved,
            Parked: ParkedCount,
            Shadowed: pairs.Sum(p => p.Status(DifferenceStatus.Shadowed)),
            UnattributedRows: unattributed,
            BalanceChecks: balances.Count,
            BalanceDifferences: balances.Sum(b => b.GroupsDiffering),
            BalanceUnresolved: balances.Sum(b => b.GroupsUnresolved),
            Observations: invariants.Sum(i => i.Breaks),
            DanglingReferences: references.Sum(r => r.DanglingRows),
            DanglingInFlight: references.Sum(r => r.InFlight),
            DanglingOrphaned: references.Sum(r => r.Orphaned));
        var verdictAll = run.Errors.Count > 0 || pairs.Any(p => p.Failed) ? Verdict.Failed
            : totals.Differences + totals.BalanceDifferences > 0 ? Verdict.Different
            : totals.Unresolved + totals.BalanceUnresolved > 0 || tableTotals.Any(t => t.Verdict == Verdict.Unresolved) ? Verdict.Unresolved
            : Verdict.Clean;
        var notes = run.Notes.ToList();
        if (ParkedCount > parked.Count)
        {
            notes.Add($"{ParkedCount} parked rows in all; the report lists the first {parked.Count}, parked.csv lists every one");
        }

        return new ReconciliationReport(runId, started, DateTimeOffset.UtcNow, verdictAll, totals, rounds, run.Watermarks, counts, tableTotals, checksums,
            run.Listed, balances, invariants, references, parked, notes, run.Errors);
    }
}
