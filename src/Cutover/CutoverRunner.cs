using System.Diagnostics;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Cutover.Fencing;
using Peeq.Cdc.Cutover.Grants;
using Peeq.Cdc.Cutover.Progress;
using Peeq.Cdc.Cutover.References;
using Peeq.Cdc.Cutover.Reports;
using Peeq.Cdc.Cutover.Sequences;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Cutover;

/// <summary>What <c>cutover run</c> is asked to do.</summary>
public sealed class CutoverRunOptions
{
    /// <summary>The services' roles: granted writes on the target, revoked on the sources. None: grants are left as they are.</summary>
    public IReadOnlyList<string> ServiceRoles { get; init; } = [];

    /// <summary>The operator confirms the services are stopped: no ALTER DATABASE, but no other session may be connected.</summary>
    public bool ServicesStopped { get; init; }

    /// <summary>How long open transactions on a source get to finish before their sessions are ended.</summary>
    public TimeSpan FenceWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the Sink gets to apply every source up to its fence marker.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Where the final reconciliation and the cutover report are written.</summary>
    public string Out { get; init; } = "cutover";

    /// <summary>Who runs (and signs off) the cutover.</summary>
    public string By { get; init; } = $"{Environment.UserName}@{Environment.MachineName}";

    /// <summary>Tests only: fail (or crash, leaving everything as a kill would) right after a step.</summary>
    internal FailurePoint? Inject { get; init; }
}

/// <summary>Tests only: where <see cref="CutoverRunner"/> stops. Crash = as if the process were killed: no rollback runs.</summary>
internal sealed record FailurePoint(string AfterStep, bool Crash);

/// <summary>Tests only: a simulated kill, which the runner does not handle.</summary>
internal sealed class SimulatedCrashException(string step) : Exception($"simulated crash after step {step}");

public sealed record CutoverOutcome(bool Done, string State, string Message, string? ReportJson, string? ReportHtml);

/// <summary>
/// <c>cutover run</c> (docs in README.md "Cutover"): fence the domain's sources, drain to the fence, reconcile, set the
/// sequences, carry out the dangling-reference decisions and add/validate the foreign keys, switch the grants, write the
/// report. Progress is recorded per step in peeq_cdc.cutover_steps; a run started again after an interruption resumes:
/// fence and drain are done again (idempotent, and they prove that nothing was written since), every other step
/// recorded done is skipped. Any failure before the grant switch starts unfences the sources (their setting restored,
/// as before the run) and forgets the steps; once the grant switch has started there is no automatic way back, and a
/// failure leaves the run 'failed' for a resume to finish. The foreign-key step (decisions carried out, constraints
/// added) commits in one target transaction together with the start of the grant switch: the decisions change rows the
/// legacy databases still hold, so they are made only once there is no going back.
/// </summary>
public sealed class CutoverRunner(CutoverDomain domain, IReadOnlyDictionary<string, ITargetMapping> mappings, CutoverRunOptions options, ILogger logger)
{
    public static readonly string[] Steps = ["fence", "drain", "reconcile", "sequences", "foreign-keys", "grants", "report"];

    public async Task<CutoverOutcome> RunAsync(CancellationToken ct)
    {
        await using var progress = await CutoverProgress.OpenAsync(domain.Target.ConnectionString, domain.Name, ct);
        var run = await progress.RunAsync(ct);
        if (run?.State == "done")
        {
            var (json, html) = await WriteReportAsync(progress, run, ct);
            return new CutoverOutcome(true, "done", $"domain {domain.Name} was cut over at {run.UpdatedAt:u}; report written again", json, html);
        }

        IReadOnlyList<string> roles;
        bool servicesStopped;
        if (run?.State is "running" or "failed")
        {
            roles = run.Options["serviceRoles"]?.AsArray().Select(n => n!.GetValue<string>()).ToList() ?? [];
            servicesStopped = run.Options["servicesStopped"]?.GetValue<bool>() ?? false;
            logger.LogWarning("Cutover {Domain}: resuming the run started {Started:u} by {By} ({State}{Error})", domain.Name, run.StartedAt, run.StartedBy, run.State,
                run.Error is null ? "" : ": " + run.Error);
        }
        else
        {
            roles = options.ServiceRoles;
            servicesStopped = options.ServicesStopped;
            // Before any source is touched: what no fence can fix.
            var blockers = new List<string>();
            foreach (var (source, count, _) in await DomainState.ParkedAsync(domain, progress.Connection, ct))
            {
                blockers.Add($"source {source}: {count} parked row(s)");
            }

            foreach (var r in (await DomainState.DanglingAsync(domain, progress.Connection, 3, ct)).Where(r => r.Undecided > 0))
            {
                blockers.Add($"reference {r.Reference}: {r.Undecided} dangling row(s) undecided");
            }

            if (blockers.Count > 0)
            {
                return new CutoverOutcome(false, run?.State ?? "none", "refused before fencing: " + string.Join("; ", blockers), null, null);
            }

            await progress.StartAsync(options.By, new JsonObject
            {
                ["serviceRoles"] = new JsonArray([.. roles.Select(r => JsonValue.Create(r))]),
                ["servicesStopped"] = servicesStopped,
                ["by"] = options.By,
            }, ct);
        }

        var steps = await progress.StepsAsync(ct);
        var grantsStarted = steps.ContainsKey("grants");
        try
        {
            var fence = await FenceAsync(progress, servicesStopped, ct);
            Inject("fence");
            await DrainAsync(progress, fence, ct);
            Inject("drain");
            if (!Done(steps, "reconcile"))
            {
                await ReconcileAsync(progress, ct);
            }

            Inject("reconcile");
            if (!Done(steps, "sequences"))
            {
                var seqs = await TargetSequences.SetAsync(progress.Connection, ct);
                await progress.MarkDoneAsync("sequences", new JsonObject { ["sequences"] = CutoverProgress.ToJsonArray(seqs) }, ct);
            }

            Inject("sequences");
            if (!Done(steps, "foreign-keys"))
            {
                await ForeignKeysAsync(progress, ct);
            }

            // The foreign-key step commits together with the start of the grant switch: from here on there is no unfence.
            grantsStarted = true;
            Inject("foreign-keys");
            if (!Done(steps, "grants"))
            {
                var changes = await GrantSwitch.ApplyAsync(domain, roles, progress.Connection, ct);
                await progress.MarkDoneAsync("grants", new JsonObject
                {
                    ["roles"] = new JsonArray([.. roles.Select(r => JsonValue.Create(r))]),
                    ["changes"] = CutoverProgress.ToJsonArray(changes),
                    ["note"] = roles.Count == 0 ? "no service roles given: privileges left as they were" : null,
                }, ct);
            }

            Inject("grants");
            await progress.SetStateAsync("done", null, ct);
            run = await progress.RunAsync(ct);
            var directory = Path.GetFullPath(options.Out);
            await progress.MarkDoneAsync("report", new JsonObject
            {
                ["json"] = Path.Combine(directory, CutoverReport.Json),
                ["html"] = Path.Combine(directory, CutoverReport.Html),
            }, ct);
            var (json, html) = await WriteReportAsync(progress, run!, ct);
            Inject("report");
            logger.LogInformation("Cutover {Domain}: done; report {Report}", domain.Name, html);
            return new CutoverOutcome(true, "done", $"domain {domain.Name} cut over", json, html);
        }
        catch (SimulatedCrashException)
        {
            throw;
        }
        catch (Exception e) when (!grantsStarted)
        {
            var message = e is CutoverRefusedException or PostgresException ? PgOrMessage(e) : e.ToString();
            logger.LogError("Cutover {Domain}: failed before the grant switch: {Error}; unfencing the sources", domain.Name, PgOrMessage(e));
            await UnfenceAllAsync(progress, CancellationToken.None);
            await progress.SetStateAsync("rolled_back", PgOrMessage(e), CancellationToken.None);
            return new CutoverOutcome(false, "rolled_back", $"failed before the grant switch, the sources are unfenced (as before the run): {message}", null, null);
        }
        catch (Exception e)
        {
            logger.LogError("Cutover {Domain}: failed after the grant switch started: {Error}", domain.Name, PgOrMessage(e));
            await progress.SetStateAsync("failed", PgOrMessage(e), CancellationToken.None);
            return new CutoverOutcome(false, "failed", $"failed after the grant switch started (the sources stay fenced); fix the cause and run again to finish: {PgOrMessage(e)}", null, null);
        }
    }

    private static string PgOrMessage(Exception e) => e is PostgresException pg ? $"{pg.MessageText} (SQLSTATE {pg.SqlState})" : e.Message;

    private static bool Done(Dictionary<string, CutoverStepState> steps, string step) => steps.TryGetValue(step, out var s) && s.State == "done";

    private void Inject(string step)
    {
        if (options.Inject is { } p && p.AfterStep == step)
        {
            if (p.Crash)
            {
                throw new SimulatedCrashException(step);
            }

            throw new InvalidOperationException($"injected failure after step {step}");
        }
    }

    private async Task<List<FenceResult>> FenceAsync(CutoverProgress progress, bool servicesStopped, CancellationToken ct)
    {
        var fences = await progress.FencesAsync(ct);
        var results = new List<FenceResult>();
        foreach (var s in domain.Sources)
        {
            string? prior;
            if (fences.TryGetValue(s.Name, out var f))
            {
                prior = f.PriorSetting;
            }
            else
            {
                await using (var conn = await SourceFence.OpenAsync(s, ct))
                {
                    prior = await SourceFence.ReadSettingAsync(conn, SourceFence.DatabaseOf(s), ct);
                }

                // Recorded before the database is changed: an unfence always knows what to restore.
                await progress.RecordPriorAsync(s.Name, SourceFence.DatabaseOf(s), prior, ct);
            }

            var r = await SourceFence.FenceAsync(s, prior, servicesStopped, options.FenceWait, ct);
            await progress.RecordFenceLsnAsync(s.Name, r.FenceLsn.ToString(), ct);
            results.Add(r);
            logger.LogInformation("Cutover {Domain}: source {Source} fenced at {Lsn}; {Count} session(s) ended", domain.Name, s.Name, r.FenceLsn, r.Terminated.Count);
        }

        var first = await progress.FencesAsync(ct);
        await progress.MarkDoneAsync("fence", new JsonObject
        {
            ["mode"] = servicesStopped ? "services stopped (confirmed by the operator; no other session connected)" : "default_transaction_read_only = on, sessions ended",
            ["sources"] = new JsonArray([.. results.Select(r => new JsonObject
            {
                ["source"] = r.Source,
                ["database"] = r.Database,
                ["priorSetting"] = r.PriorSetting,
                ["firstFenceLsn"] = first[r.Source].FenceLsn,
                ["fenceLsn"] = r.FenceLsn.ToString(),
                ["sessionsEnded"] = CutoverProgress.ToJsonArray(r.Terminated),
            })]),
        }, ct);
        return results;
    }

    private async Task DrainAsync(CutoverProgress progress, List<FenceResult> fence, CancellationToken ct)
    {
        var lags = await DomainState.WaitAppliedAsync(progress.Connection, fence.ToDictionary(f => f.Source, f => f.FenceLsn), options.DrainTimeout, ct);
        foreach (var lag in lags.Where(l => !l.Reached))
        {
            throw new CutoverRefusedException($"drain: source {lag.Source} applied only to {lag.Applied ?? "nothing"}, short of its fence marker {lag.Goal}, after {lag.WaitedSeconds:0} s");
        }

        // Every change the target holds from after the *first* fence marker was written by a session the fence did not stop.
        var first = (await progress.FencesAsync(ct)).ToDictionary(f => f.Key, f => Lsn.Parse(f.Value.FenceLsn!));
        var late = (await DomainState.ChangesAfterAsync(progress.Connection, first, ct)).Where(c => c.Value > 0).ToList();
        if (late.Count > 0)
        {
            throw new CutoverRefusedException("changes were committed after the fence: " + string.Join("; ", late.Select(l => $"{l.Key}: {l.Value} change(s) after {first[l.Key]}")));
        }

        var parked = await DomainState.ParkedAsync(domain, progress.Connection, ct);
        if (parked.Count > 0)
        {
            throw new CutoverRefusedException("parked rows after the drain: " + string.Join("; ", parked.Select(p => $"{p.Source}: {p.Count}")));
        }

        await progress.MarkDoneAsync("drain", new JsonObject { ["sources"] = CutoverProgress.ToJsonArray(lags) }, ct);
    }

    private async Task ReconcileAsync(CutoverProgress progress, CancellationToken ct)
    {
        var directory = Path.GetFullPath(Path.Combine(options.Out, "reconciliation"));
        var clock = Stopwatch.StartNew();
        var report = await ReconcileRunner.RunAsync(domain.DomainConfig, mappings, directory, logger, ct);
        if (report.Verdict != Verdict.Clean || report.Totals.Parked > 0)
        {
            throw new CutoverRefusedException($"the final reconciliation {report.RunId} is {report.Verdict.ToString().ToLowerInvariant()}: {report.Summary} (see {Path.Combine(directory, ReportFiles.Html)})"
                + (report.Errors.Count > 0 ? ": " + string.Join("; ", report.Errors.Take(3)) : ""));
        }

        await progress.MarkDoneAsync("reconcile", new JsonObject
        {
            ["runId"] = report.RunId,
            ["verdict"] = report.Verdict.ToString().ToLowerInvariant(),
            ["summary"] = report.Summary,
            ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1),
            ["totals"] = CutoverProgress.ToJson(report.Totals),
            ["tables"] = CutoverProgress.ToJsonArray(report.TableTotals),
            ["counts"] = CutoverProgress.ToJsonArray(report.Counts),
            ["watermarks"] = CutoverProgress.ToJsonArray(report.Watermarks),
            ["report"] = Path.Combine(directory, ReportFiles.Html),
        }, ct);
    }

    private async Task ForeignKeysAsync(CutoverProgress progress, CancellationToken ct)
    {
        var conn = progress.Connection;
        await using var tx = await conn.BeginTransactionAsync(ct);
        var applied = new List<AppliedDecision>();
        var kept = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in domain.Enforced)
        {
            var d = await DanglingDecisions.LoadAsync(conn, r, ct);
            if (d is null)
            {
                continue;
            }

            var (done, keep) = await d.ApplyAsync(conn, tx, domain.Name, ct);
            applied.AddRange(done);
            if (keep)
            {
                kept.Add(r.ForeignKey!);
            }
        }

        var constraints = new JsonArray();
        foreach (var fk in domain.ForeignKeys)
        {
            var validated = await conn.ExecuteScalarAsync<bool?>(new CommandDefinition(
                "SELECT convalidated FROM pg_constraint WHERE conname = @name AND conrelid = to_regclass(@table)", new { name = fk.Name, table = fk.Table }, tx, cancellationToken: ct));
            var keep = kept.Contains(fk.Name);
            string action;
            if (validated is null)
            {
                await conn.ExecuteAsync(new CommandDefinition(fk.Sql(notValid: keep), transaction: tx, commandTimeout: 0, cancellationToken: ct));
                action = keep ? "added NOT VALID (rows kept by decision are not checked; new rows are)" : "added and validated";
            }
            else if (validated == false && !keep)
            {
                await conn.ExecuteAsync(new CommandDefinition($"ALTER TABLE {fk.Table} VALIDATE CONSTRAINT {fk.Name}", transaction: tx, commandTimeout: 0, cancellationToken: ct));
                action = "validated";
            }
            else
            {
                action = validated == true ? "already there, valid" : "already there, NOT VALID (kept rows)";
            }

            constraints.Add(new JsonObject { ["name"] = fk.Name, ["table"] = fk.Table, ["definition"] = fk.Definition, ["action"] = action, ["valid"] = !keep });
        }

        await progress.MarkDoneAsync("foreign-keys", new JsonObject
        {
            ["from"] = domain.ForeignKeysFrom,
            ["constraints"] = constraints,
            ["decisions"] = CutoverProgress.ToJsonArray(applied),
        }, ct, tx);
        // The decisions change target rows that the sources still hold: once they are committed, syncing on would
        // undo or trip over them, so this commit is also the start of the grant switch (the point of no return).
        await progress.MarkStartedAsync("grants", ct, tx);
        await tx.CommitAsync(ct);
    }

    private async Task UnfenceAllAsync(CutoverProgress progress, CancellationToken ct)
    {
        foreach (var (name, f) in await progress.FencesAsync(ct))
        {
            var source = domain.Sources.FirstOrDefault(s => s.Name == name);
            if (source is null)
            {
                continue;
            }

            try
            {
                await SourceFence.UnfenceAsync(source, f.PriorSetting, f.FencedAt, ct);
                await progress.ForgetFenceAsync(name, ct);
                logger.LogWarning("Cutover {Domain}: source {Source} unfenced (default_transaction_read_only {Setting})", domain.Name, name, f.PriorSetting ?? "reset");
            }
            catch (Exception e) when (e is NpgsqlException or Postgres.DatabaseUnavailableException)
            {
                // The fence record stays, so the next run (or a retry) unfences it.
                logger.LogError("Cutover {Domain}: source {Source} could not be unfenced: {Error}; it is still read-only: run 'cutover run' again or ALTER DATABASE ... RESET default_transaction_read_only",
                    domain.Name, name, e.Message);
            }
        }
    }

    private async Task<(string Json, string Html)> WriteReportAsync(CutoverProgress progress, CutoverRunState run, CancellationToken ct)
    {
        var steps = await progress.StepsAsync(ct);
        var report = CutoverReport.Build(domain, run, steps, options.By);
        return await CutoverReport.WriteAsync(report, Path.GetFullPath(options.Out), ct);
    }
}
