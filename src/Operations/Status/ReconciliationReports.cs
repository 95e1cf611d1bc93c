using System.Text.Json;
using Peeq.Cdc.Reconciler.Reports;

namespace Peeq.Cdc.Operations.Status;

/// <summary>
/// The reconciliation reports in a directory (<c>dashboard.reports</c>): <c>reconciliation.json</c> directly in
/// it or in one subdirectory per run, with any sibling renderings (HTML, CSV) linked too. The dashboard serves
/// them read-only under <c>/reports/</c>.
/// </summary>
public sealed class ReconciliationReports(string directory)
{
    public const string UrlPrefix = "/reports/";

    public string Directory { get; } = Path.GetFullPath(directory);

    public IReadOnlyList<ReconciliationSummary> Latest(int count, List<string> problems)
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return [];
        }

        var files = System.IO.Directory.EnumerateFiles(Directory, "reconciliation.json", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 2 })
            .Select(f => new FileInfo(f))
            .OrderByDescending(f => f.LastWriteTimeUtc)
            .Take(count);
        var result = new List<ReconciliationSummary>();
        foreach (var f in files)
        {
            try
            {
                using var stream = f.OpenRead();
                var report = JsonSerializer.Deserialize<ReconciliationReport>(stream, ReconciliationReport.Json);
                if (report is null)
                {
                    continue;
                }

                // A report written by an older version (no totals) is listed as a problem, not read half.
                if (report.Totals is null || report.Counts is null || report.Errors is null)
                {
                    problems.Add($"report {f.FullName}: not a reconciliation report of this version (no totals)");
                    continue;
                }

                var links = f.Directory!.EnumerateFiles("reconciliation.*")
                    .OrderBy(x => x.Extension == ".html" ? 0 : 1).ThenBy(x => x.Name, StringComparer.Ordinal)
                    .Select(x => new ReportLink(x.Extension.TrimStart('.'), UrlPrefix + Uri.EscapeDataString(Path.GetRelativePath(Directory, x.FullName)).Replace("%2F", "/", StringComparison.Ordinal)))
                    .ToList();
                result.Add(new ReconciliationSummary(report.RunId, report.FinishedAt, report.Verdict.ToString().ToLowerInvariant(), report.Summary,
                    report.Counts.Count, report.Matching, report.Errors.Count, links));
            }
            catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
            {
                problems.Add($"report {f.FullName}: {e.Message}");
            }
        }

        return result.OrderByDescending(r => r.FinishedAt).ToList();
    }

    /// <summary>The file behind a /reports/ URL path, or null when it is outside the directory or missing.</summary>
    public string? Resolve(string relative)
    {
        var full = Path.GetFullPath(Path.Combine(Directory, relative));
        return full.StartsWith(Directory + Path.DirectorySeparatorChar, StringComparison.Ordinal) && File.Exists(full) ? full : null;
    }
}
