using System.Diagnostics;
using Dapper;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Cutover.Fencing;
using Peeq.Cdc.Cutover.References;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Sink.Apply;
using Peeq.Cdc.Sink.Parking;

namespace Peeq.Cdc.Cutover;

/// <summary>How far one source is applied against a goal position.</summary>
public sealed record SourceLag(string Source, string Goal, string? Applied, bool Reached, double WaitedSeconds);

/// <summary>What a reference's dangling rows look like now.</summary>
public sealed record ReferenceState(string Reference, string ForeignKey, long Dangling, long Undecided, IReadOnlyList<DanglingRow> Examples, string? Note);

/// <summary>The reads <c>plan</c>, <c>check</c> and <c>run</c> share: lag, parked rows, dangling references, changes after a position.</summary>
public static class DomainState
{
    /// <summary>
    /// Writes a marker (a heartbeat) into each source and waits, at most <paramref name="wait"/>, until the Sink has applied
    /// every source up to it: zero lag means exactly that, whatever else the source's server is writing.
    /// </summary>
    public static async Task<List<SourceLag>> LagAsync(CutoverDomain domain, NpgsqlConnection target, TimeSpan wait, CancellationToken ct)
    {
        var goals = new Dictionary<string, Lsn>();
        foreach (var s in domain.Sources)
        {
            await using var conn = await PgConnections.OpenAsync(s.ConnectionString, $"source '{s.Name}'", ct, timeoutSeconds: 10);
            goals[s.Name] = await SourceFence.EmitMarkerAsync(conn, "cutover lag check", ct);
        }

        return await WaitAppliedAsync(target, goals, wait, ct);
    }

    public static async Task<List<SourceLag>> WaitAppliedAsync(NpgsqlConnection target, IReadOnlyDictionary<string, Lsn> goals, TimeSpan wait, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var applied = await PipelineSchema.ReadAppliedAsync(target, ct);
            var result = goals.Select(g =>
            {
                var a = applied.TryGetValue(g.Key, out var p) ? p.EndLsn : (Lsn?)null;
                return new SourceLag(g.Key, g.Value.ToString(), a?.ToString(), a is { } x && x >= g.Value, clock.Elapsed.TotalSeconds);
            }).ToList();
            if (result.All(r => r.Reached) || clock.Elapsed >= wait)
            {
                return result;
            }

            await Task.Delay(100, ct);
        }
    }

    /// <summary>Open parked rows of the domain's sources (count per source, and a few of them, read with ParkedRows).</summary>
    public static async Task<List<(string Source, long Count, List<ParkedRow> Examples)>> ParkedAsync(CutoverDomain domain, NpgsqlConnection target, CancellationToken ct)
    {
        var counts = (await target.QueryAsync<(string, long)>(new CommandDefinition(
            "SELECT source, count(*) FROM peeq_cdc.parked_rows WHERE status = 'parked' AND source = ANY(@sources) GROUP BY source ORDER BY source",
            new { sources = domain.Sources.Select(s => s.Name).ToArray() }, cancellationToken: ct))).ToList();
        var result = new List<(string, long, List<ParkedRow>)>();
        foreach (var (source, n) in counts)
        {
            result.Add((source, n, await ParkedRows.ListAsync(target, source, "parked", 3, ct)));
        }

        return result;
    }

    /// <summary>Every enforced reference's dangling rows and how many are undecided.</summary>
    public static async Task<List<ReferenceState>> DanglingAsync(CutoverDomain domain, NpgsqlConnection target, int examples, CancellationToken ct)
    {
        var result = new List<ReferenceState>();
        foreach (var r in domain.Enforced)
        {
            var d = await DanglingDecisions.LoadAsync(target, r, ct);
            if (d is null)
            {
                result.Add(new ReferenceState(r.Name, r.ForeignKey!, 0, 0, [], $"not checked: {r.From.Table} or {r.To.Table} does not exist in the target"));
                continue;
            }

            var (count, undecided, rows) = await d.ListAsync(target, domain.Name, examples, ct);
            result.Add(new ReferenceState(r.Name, r.ForeignKey!, count, undecided, rows, null));
        }

        return result;
    }

    /// <summary>
    /// Changes of each source committed after <paramref name="after"/> (exclusive) that the target holds: lineage rows
    /// (upserts and deletes) and parked rows. Both record the source commit position, so this is exact for every
    /// captured table that maps to something.
    /// </summary>
    public static async Task<Dictionary<string, long>> ChangesAfterAsync(NpgsqlConnection target, IReadOnlyDictionary<string, Lsn> after, CancellationToken ct)
    {
        var result = after.Keys.ToDictionary(k => k, _ => 0L);
        foreach (var (_, lineage) in await TargetTables.ListLineageAsync(target, ct))
        {
            var qualified = $"{Sql.QuoteIdent(PipelineSchema.Schema)}.{Sql.QuoteIdent(lineage)}";
            foreach (var (source, lsn) in after)
            {
                result[source] += await target.ExecuteScalarAsync<long>(new CommandDefinition(
                    $"SELECT count(*) FROM {qualified} WHERE source = @source AND lsn > @lsn::pg_lsn", new { source, lsn = lsn.ToString() }, commandTimeout: 0, cancellationToken: ct));
            }
        }

        foreach (var (source, lsn) in after)
        {
            result[source] += await target.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT count(*) FROM peeq_cdc.parked_rows WHERE source = @source AND commit_lsn > @lsn::pg_lsn", new { source, lsn = lsn.ToString() }, cancellationToken: ct));
        }

        return result;
    }
}
