using System.Text.Json;

namespace Peeq.Cdc.Reconciler.Reports;

/// <summary>Writes a run's JSON and HTML reports next to the CSV files the run wrote.</summary>
public static class ReportFiles
{
    public const string Json = "reconciliation.json";
    public const string Html = "reconciliation.html";

    public static async Task WriteAsync(ReconciliationReport report, string directory, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        await using (var f = File.Create(Path.Combine(directory, Json)))
        {
            await JsonSerializer.SerializeAsync(f, report, ReconciliationReport.Json, ct);
        }

        await File.WriteAllTextAsync(Path.Combine(directory, Html), HtmlReport.Render(report), ct);
    }
}
