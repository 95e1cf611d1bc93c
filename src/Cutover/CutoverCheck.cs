using Microsoft.Extensions.Logging;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Cutover.Progress;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Cutover;

/// <summary>One reason a domain is not ready.</summary>
/// <param name="Kind">lag, parked, dangling, reconciliation, writes, state.</param>
public sealed record NoGoReason(string Kind, string Message);

public sealed record CheckResult(string Domain, bool Go, IReadOnlyList<NoGoReason> Reasons, ReconciliationReport? Reconciliation, string? ReportDirectory);

/// <summary>
/// <c>cutover check</c>: go or no-go for a domain, with every reason at once. Go needs all of: zero lag (a marker
/// written into each source is applied), no open parked row of the domain's sources, no dangling reference a
/// constraint will enforce without a decision, a clean reconciliation of the domain, and no source change committed
/// after that reconciliation's watermark (read back from the target after a second marker, so a write still on its way
/// counts too). Nothing is changed, except that the reconciliation records its run like any other.
/// </summary>
public sealed class CutoverCheck(CutoverDomain domain, IReadOnlyDictionary<string, ITargetMapping> mappings, ILogger logger)
{
    public TimeSpan LagWait { get; init; } = TimeSpan.FromSeconds(30);

    public async Task<CheckResult> RunAsync(string directory, CancellationToken ct)
    {
        var reasons = new List<NoGoReason>();
        await using var progress = await CutoverProgress.OpenAsync(domain.Target.ConnectionString, domain.Name, ct);
        var target = progress.Connection;
        if (await progress.RunAsync(ct) is { } run)
        {
            if (run.State == "done")
            {
                reasons.Add(new NoGoReason("state", $"domain {domain.Name} was cut over at {run.UpdatedAt:u} by {run.StartedBy}"));
                return new CheckResult(domain.Name, false, reasons, null, null);
            }

            if (run.State is "running" or "failed")
            {
                reasons.Add(new NoGoReason("state", $"a cutover run of {domain.Name} is {run.State} (started {run.StartedAt:u} by {run.StartedBy}{(run.Error is null ? "" : ": " + run.Error)}): resume it with 'cutover run'"));
            }
        }

        foreach (var lag in await DomainState.LagAsync(domain, target, LagWait, ct))
        {
            if (!lag.Reached)
            {
                reasons.Add(new NoGoReason("lag", $"source {lag.Source}: applied to {lag.Applied ?? "nothing"}, a marker written at {lag.Goal} not applied after {lag.WaitedSeconds:0} s"));
            }
        }

        foreach (var (source, count, examples) in await DomainState.ParkedAsync(domain, target, ct))
        {
            reasons.Add(new NoGoReason("parked", $"source {source}: {count} parked row(s) (replay or discard them: 'peeq-cdc parked list --target {domain.Name}'), e.g. "
                + string.Join("; ", examples.Select(p => $"#{p.id} {p.source_table}: {p.reason}"))));
        }

        foreach (var r in await DomainState.DanglingAsync(domain, target, 5, ct))
        {
            if (r.Undecided > 0)
            {
                reasons.Add(new NoGoReason("dangling", $"reference {r.Reference} ({r.ForeignKey}): {r.Undecided} of {r.Dangling} dangling row(s) undecided, e.g. "
                    + string.Join(", ", r.Examples.Where(e => e.Action is null).Select(e => $"{e.Key} → {e.Value}"))
                    + $" ('cutover decide --domain {domain.Name} --reference {r.Reference} --key KEY --action delete|keep|placeholder')"));
            }
        }

        var report = await ReconcileRunner.RunAsync(domain.DomainConfig, mappings, directory, logger, ct);
        if (report.Verdict != Verdict.Clean)
        {
            reasons.Add(new NoGoReason("reconciliation", $"reconciliation {report.RunId} is {report.Verdict.ToString().ToLowerInvariant()}: {report.Summary}"
                + (report.Errors.Count > 0 ? " (" + string.Join("; ", report.Errors.Take(3)) + ")" : "")));
        }

        // Writes after the watermark: a second marker, applied, then any change the target holds from after the watermark.
        var watermarks = report.Watermarks.Where(w => w.Round == 1).GroupBy(w => w.Source)
            .ToDictionary(g => g.Key, g => new Lsn(Lsn.Parse(g.First().ChangedAfter).Value - 1));
        var missing = domain.Sources.Where(s => !watermarks.ContainsKey(s.Name)).ToList();
        foreach (var s in missing)
        {
            reasons.Add(new NoGoReason("reconciliation", $"source {s.Name}: the reconciliation took no watermark"));
        }

        var second = await DomainState.LagAsync(domain, target, LagWait, ct);
        foreach (var lag in second.Where(l => !l.Reached))
        {
            reasons.Add(new NoGoReason("lag", $"source {lag.Source}: after the reconciliation, a marker written at {lag.Goal} not applied after {lag.WaitedSeconds:0} s"));
        }

        foreach (var (source, n) in await DomainState.ChangesAfterAsync(target, watermarks, ct))
        {
            if (n > 0)
            {
                reasons.Add(new NoGoReason("writes", $"source {source}: {n} change(s) committed after the reconciliation's watermark {new Lsn(watermarks[source].Value + 1)}: writes are still flowing"));
            }
        }

        foreach (var r in reasons)
        {
            logger.LogInformation("Cutover check {Domain}: no-go: {Kind}: {Message}", domain.Name, r.Kind, r.Message);
        }

        return new CheckResult(domain.Name, reasons.Count == 0, reasons, report, directory);
    }
}
