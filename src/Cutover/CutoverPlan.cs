using Dapper;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Cutover.Fencing;
using Peeq.Cdc.Cutover.Grants;
using Peeq.Cdc.Cutover.Progress;
using Peeq.Cdc.Cutover.Sequences;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Cutover;

/// <summary>
/// <c>cutover plan</c>: what <c>run</c> will do for a domain, in order, with what stands in its way now. Reads only
/// (the lag is the distance between each source's WAL position and what the Sink applied; no marker is written).
/// </summary>
public static class CutoverPlan
{
    public static async Task<List<string>> BuildAsync(CutoverDomain domain, IReadOnlyList<string> serviceRoles, bool servicesStopped, CancellationToken ct)
    {
        var lines = new List<string>();
        await using var progress = await CutoverProgress.OpenAsync(domain.Target.ConnectionString, domain.Name, ct);
        var target = progress.Connection;
        lines.Add($"Cutover plan for domain {domain.Name} (target database {domain.Database}); sources: {string.Join(", ", domain.Sources.Select(s => s.Name))}");
        if (await progress.RunAsync(ct) is { } run)
        {
            var steps = await progress.StepsAsync(ct);
            lines.Add($"  run: {run.State} (started {run.StartedAt:u} by {run.StartedBy}); steps done: {string.Join(", ", CutoverRunner.Steps.Where(s => steps.TryGetValue(s, out var x) && x.State == "done"))}{(run.Error is null ? "" : "; error: " + run.Error)}");
        }

        lines.Add("");
        lines.Add("1. fence: " + (servicesStopped
            ? "services stopped (confirmed): no database setting changed; refused while any other session is connected"
            : "ALTER DATABASE <db> SET default_transaction_read_only = on; end idle sessions, give open transactions --fence-wait to finish, then end them"));
        var applied = await PipelineSchema.ReadAppliedAsync(target, ct);
        foreach (var s in domain.Sources)
        {
            try
            {
                await using var conn = await PgConnections.OpenAsync(s.ConnectionString, $"source '{s.Name}'", ct, timeoutSeconds: 10);
                var db = SourceFence.DatabaseOf(s);
                var now = Lsn.Parse((await conn.ExecuteScalarAsync<string>(new CommandDefinition("SELECT pg_current_wal_lsn()::text", cancellationToken: ct)))!);
                var setting = await SourceFence.ReadSettingAsync(conn, db, ct);
                var sessions = await SourceFence.OtherSessionsAsync(conn, db, ct);
                var a = applied.TryGetValue(s.Name, out var p) ? p.EndLsn : (Lsn?)null;
                var lag = a is { } x ? (now.Value > x.Value ? now.Value - x.Value : 0) : (ulong?)null;
                lines.Add($"   {s.Name} ({db}): default_transaction_read_only {setting ?? "not set"}; {sessions.Count} other session(s), {sessions.Count(t => t.Session.Writing)} in a write transaction; "
                    + $"WAL at {now}, applied {a?.ToString() ?? "nothing"} (lag {(lag is null ? "unknown" : lag + " bytes of server WAL")}"
                    + (p?.SourceCommitTime is { } t ? $", last source commit applied {t:u}" : "") + ")");
            }
            catch (DatabaseUnavailableException e)
            {
                lines.Add($"   {s.Name}: {e.Message}");
            }
        }

        lines.Add("2. drain: wait until the Sink has applied each source up to its fence marker (--drain-timeout); refuse if the target holds a change committed after the fence, or a parked row");
        var parked = await DomainState.ParkedAsync(domain, target, ct);
        lines.Add(parked.Count == 0 ? "   parked rows: none" : "   parked rows (blocking): " + string.Join("; ", parked.Select(p => $"{p.Source}: {p.Count}")));
        lines.Add("3. reconcile: a full reconciliation of the domain's sources and target; it must be clean");
        lines.Add("4. sequences: set past the highest replicated values (never backwards)");
        var seqs = await TargetSequences.PlanAsync(target, ct);
        lines.AddRange(seqs.Count == 0 ? ["   none owned by a target column"] : seqs.Select(q =>
            $"   {q.Sequence} ({q.Table}.{q.Column}): max {q.MaxValue?.ToString() ?? "(empty)"}, sequence at {q.Current} → {(q.Changes ? "setval " + q.SetTo : "unchanged")}"));
        lines.Add($"5. foreign keys ({domain.ForeignKeysFrom}): carry out the dangling-reference decisions, then add and validate (NOT VALID where rows are kept)");
        var dangling = await DomainState.DanglingAsync(domain, target, 10, ct);
        foreach (var fk in domain.ForeignKeys)
        {
            var exists = await target.ExecuteScalarAsync<bool?>(new CommandDefinition(
                "SELECT convalidated FROM pg_constraint WHERE conname = @name AND conrelid = to_regclass(@table)", new { name = fk.Name, table = fk.Table }, cancellationToken: ct));
            lines.Add($"   {fk.Name} on {fk.Table}: {(exists is null ? "to add" : exists == true ? "exists, valid" : "exists, NOT VALID")}");
            foreach (var r in dangling.Where(r => r.ForeignKey == fk.Name))
            {
                lines.Add(r.Note is not null ? $"     {r.Reference}: {r.Note}"
                    : $"     {r.Reference}: {r.Dangling} dangling row(s), {r.Undecided} undecided{(r.Undecided > 0 ? " (BLOCKS)" : "")}");
                foreach (var e in r.Examples)
                {
                    lines.Add($"       {e.Key} → {e.Value}: {(e.Action is null ? "undecided" : $"{e.Action}{(e.Placeholder is null ? "" : " " + e.Placeholder)} (by {e.DecidedBy} at {e.DecidedAt:u})")}");
                }
            }
        }

        foreach (var r in domain.References.Where(r => r.CrossDatabase))
        {
            lines.Add($"   {r.Name} → {r.To}: crosses databases, no constraint can hold it; the reconciliation reports it");
        }

        lines.Add("6. grants: " + (serviceRoles.Count == 0 ? "no --service-role given: privileges left as they are" : $"roles {string.Join(", ", serviceRoles)}"));
        foreach (var g in await GrantSwitch.PlanAsync(domain, serviceRoles, target, ct))
        {
            lines.Add($"   {g.Where}: {g.Statement}");
        }

        lines.Add("7. report: cutover.json and cutover.html in --out");
        lines.Add("A failure before step 5 commits unfences the sources (legacy as it was). Step 5 commits together with the start of step 6 (the decisions change");
        lines.Add("rows the legacy databases still hold): from then on there is no unfence, and 'run' again finishes the run.");
        return lines;
    }
}
