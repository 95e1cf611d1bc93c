using System.Text.Json;
using System.Text.Json.Serialization;

namespace Peeq.Cdc.Reconciler.Reports;

/// <summary>The verdict of a reconciliation run: clean, a real difference, or unresolved (still moving).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Verdict>))]
public enum Verdict
{
    Clean,
    Different,
    Unresolved,
    Failed,
}

/// <summary>One count comparison: a source table's rows against the target rows that came from it.</summary>
public sealed record CountCheck(
    string Source,
    string SourceTable,
    string Target,
    string TargetTable,
    long SourceRows,
    long TargetRows,
    Verdict Verdict,
    string? Note = null);

/// <summary>A reconciliation run, as finance and machines read it.</summary>
public sealed record ReconciliationReport(
    string RunId,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    Verdict Verdict,
    IReadOnlyList<CountCheck> Counts,
    IReadOnlyList<string> Errors)
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public int Matching => Counts.Count(c => c.Verdict == Verdict.Clean);

    public string Summary =>
        $"reconciliation {Verdict.ToString().ToLowerInvariant()}: {Matching}/{Counts.Count} table pairs match"
        + (Errors.Count > 0 ? $", {Errors.Count} error(s)" : "");

    public async Task WriteAsync(string directory, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        await using var f = File.Create(Path.Combine(directory, "reconciliation.json"));
        await JsonSerializer.SerializeAsync(f, this, Json, ct);
    }
}
