using Dapper;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Postgres;

/// <summary>How far each source has been applied, compared with where the source's WAL is now.</summary>
public static class PipelineProgress
{
    /// <summary>The source servers' current WAL positions.</summary>
    public static async Task<Dictionary<string, Lsn>> SourcePositionsAsync(PipelineOptions o, CancellationToken ct)
    {
        var result = new Dictionary<string, Lsn>();
        foreach (var s in o.Sources)
        {
            await using var conn = await PgConnections.OpenAsync(s.ConnectionString, $"source '{s.Name}'", ct);
            var text = await conn.ExecuteScalarAsync<string>(new CommandDefinition("SELECT pg_current_wal_lsn()::text", cancellationToken: ct));
            result[s.Name] = Lsn.Parse(text!);
        }

        return result;
    }

    /// <summary>Every source's applied position, read from its target.</summary>
    public static async Task<Dictionary<string, AppliedPosition>> AppliedAsync(PipelineOptions o, CancellationToken ct)
    {
        var result = new Dictionary<string, AppliedPosition>();
        foreach (var t in o.Targets)
        {
            await using var conn = await PgConnections.OpenAsync(t.ConnectionString, $"target '{t.Name}'", ct);
            foreach (var (source, p) in await PipelineSchema.ReadAppliedAsync(conn, ct))
            {
                result[source] = p;
            }
        }

        return result;
    }

    /// <summary>
    /// The configured tables of each Capture source whose snapshot the target does not yet hold whole
    /// (peeq_cdc.source_table_state not 'done', or no state yet). Snapshots are read in chunks while
    /// streaming continues, so an applied position past the source's WAL position does not by itself
    /// mean the target holds the source's rows. Debezium sources take no snapshot of ours and are left out.
    /// </summary>
    public static async Task<Dictionary<string, List<TableId>>> SnapshotsPendingAsync(PipelineOptions o, CancellationToken ct)
    {
        var done = new HashSet<(string Source, string Schema, string Table)>();
        foreach (var t in o.Targets)
        {
            await using var conn = await PgConnections.OpenAsync(t.ConnectionString, $"target '{t.Name}'", ct);
            var exists = await conn.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT to_regclass('peeq_cdc.source_table_state') IS NOT NULL", cancellationToken: ct));
            if (!exists)
            {
                continue;
            }

            foreach (var r in await conn.QueryAsync<(string source, string schema, string table)>(new CommandDefinition(
                "SELECT source, source_schema_name, source_table_name FROM peeq_cdc.source_table_state WHERE snapshot_state = 'done'", cancellationToken: ct)))
            {
                done.Add((r.source, r.schema, r.table));
            }
        }

        var pending = new Dictionary<string, List<TableId>>();
        foreach (var s in o.Sources.Where(s => !s.IsDebezium))
        {
            var missing = s.Tables.Select(x => TableId.Parse(x)).Where(t => !done.Contains((s.Name, t.Schema, t.Name))).ToList();
            if (missing.Count > 0)
            {
                pending[s.Name] = missing;
            }
        }

        return pending;
    }

    /// <summary>
    /// Waits until every source has been applied at least up to its WAL position at the time of the
    /// call (heartbeats carry quiet sources past it) and every table's snapshot is complete in its
    /// target. Returns false on timeout.
    /// </summary>
    public static async Task<bool> WaitForDrainAsync(PipelineOptions o, TimeSpan timeout, CancellationToken ct)
    {
        var goal = await SourcePositionsAsync(o, ct);
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var applied = await AppliedAsync(o, ct);
            if (goal.All(g => applied.TryGetValue(g.Key, out var a) && a.EndLsn >= g.Value)
                && (await SnapshotsPendingAsync(o, ct)).Count == 0)
            {
                return true;
            }

            await Task.Delay(200, ct);
        }

        return false;
    }

    /// <summary>
    /// Waits for the pipeline to drain on its progress rather than on a fixed window: drained when every source
    /// has been applied up to its WAL position at the time of the call, every table's snapshot is complete, and
    /// <see cref="DrainWait.AlsoPending"/> (if any) counts nothing. The deadline extends while progress is
    /// made (a source short of its goal gets closer, snapshot rows are loaded, the pending count changes; a
    /// heartbeat carrying a caught-up source further is not progress): it gives up
    /// only after <see cref="DrainWait.Stall"/> without any progress, or at <see cref="DrainWait.Limit"/>.
    /// </summary>
    public static async Task<DrainOutcome> WaitForDrainAsync(PipelineOptions o, DrainWait wait, CancellationToken ct)
    {
        var goal = await SourcePositionsAsync(o, ct);
        var started = DateTime.UtcNow;
        var lastProgress = started;
        var lastReport = DateTime.MinValue;
        DrainStatus? previous = null;
        while (true)
        {
            var status = await StatusAsync(o, goal, wait.AlsoPending, ct);
            var now = DateTime.UtcNow;
            if (previous is null || status.Fingerprint != previous.Fingerprint)
            {
                lastProgress = now;
            }

            previous = status;
            if (status.Drained)
            {
                wait.Progress?.Invoke(status);
                return new DrainOutcome(true, now - started, status, null);
            }

            if (wait.Progress is not null && now - lastReport >= wait.ReportEvery)
            {
                lastReport = now;
                wait.Progress(status);
            }

            if (now - lastProgress >= wait.Stall)
            {
                return new DrainOutcome(false, now - started, status, $"no progress for {wait.Stall.TotalSeconds:0} s ({status})");
            }

            if (now - started >= wait.Limit)
            {
                return new DrainOutcome(false, now - started, status, $"still moving after the limit of {wait.Limit.TotalSeconds:0} s ({status})");
            }

            await Task.Delay(wait.Poll, ct);
        }
    }

    private static async Task<DrainStatus> StatusAsync(PipelineOptions o, Dictionary<string, Lsn> goal, Func<CancellationToken, Task<long>>? alsoPending, CancellationToken ct)
    {
        var applied = await AppliedAsync(o, ct);
        ulong behind = 0;
        var sourcesBehind = 0;
        foreach (var (source, g) in goal)
        {
            var a = applied.TryGetValue(source, out var p) ? p.EndLsn : Lsn.Zero;
            if (a < g)
            {
                sourcesBehind++;
                behind += (ulong)Lsn.Distance(g, a);
            }
        }

        long snapshotRows = 0;
        foreach (var t in o.Targets)
        {
            await using var conn = await PgConnections.OpenAsync(t.ConnectionString, $"target '{t.Name}'", ct);
            snapshotRows += await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT CASE WHEN to_regclass('peeq_cdc.source_table_state') IS NULL THEN 0 ELSE (SELECT coalesce(sum(snapshot_rows), 0)::bigint FROM peeq_cdc.source_table_state) END",
                cancellationToken: ct));
        }

        var snapshots = (await SnapshotsPendingAsync(o, ct)).Sum(p => p.Value.Count);
        var other = alsoPending is null ? 0 : await alsoPending(ct);
        return new DrainStatus(sourcesBehind, behind, snapshots, snapshotRows, other, $"{behind}/{snapshotRows}/{snapshots}/{other}");
    }
}

/// <summary>How <see cref="PipelineProgress.WaitForDrainAsync(PipelineOptions, DrainWait, CancellationToken)"/> waits.</summary>
public sealed record DrainWait
{
    /// <summary>Give up after this long without any progress.</summary>
    public TimeSpan Stall { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Give up after this long in all, progress or not.</summary>
    public TimeSpan Limit { get; init; } = TimeSpan.FromHours(1);

    public TimeSpan Poll { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Something else that must reach zero (e.g. pending lookups whose identity has arrived); a change in it counts as progress.</summary>
    public Func<CancellationToken, Task<long>>? AlsoPending { get; init; }

    /// <summary>Called with the state every <see cref="ReportEvery"/> and once drained.</summary>
    public Action<DrainStatus>? Progress { get; init; }

    public TimeSpan ReportEvery { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>One look at the drain: sources short of their goal (and by how many bytes), tables whose snapshot is not complete.</summary>
public sealed record DrainStatus(int SourcesBehind, ulong BytesBehind, int SnapshotsPending, long SnapshotRows, long OtherPending, string Fingerprint)
{
    public bool Drained => SourcesBehind == 0 && SnapshotsPending == 0 && OtherPending == 0;

    public override string ToString() =>
        $"{SourcesBehind} source(s) behind by {BytesBehind / 1024.0:0.0} KiB, {SnapshotsPending} table snapshot(s) pending ({SnapshotRows:N0} snapshot rows loaded), {OtherPending} other pending";
}

/// <summary>The result of a drain wait.</summary>
public sealed record DrainOutcome(bool Drained, TimeSpan Waited, DrainStatus Last, string? Reason);
