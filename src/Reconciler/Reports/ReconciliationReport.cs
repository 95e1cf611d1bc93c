using System.Text.Json;
using System.Text.Json.Serialization;

namespace Peeq.Cdc.Reconciler.Reports;

/// <summary>The verdict of a reconciliation run: clean, a real difference, unresolved (still moving), or failed.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Verdict>))]
public enum Verdict
{
    Clean,
    Different,
    Unresolved,
    Failed,
}

/// <summary>What kind of row difference.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DifferenceKind>))]
public enum DifferenceKind
{
    /// <summary>The mapping says the target should hold the row; it does not.</summary>
    Missing,
    /// <summary>The target holds a row that the mapped source does not produce.</summary>
    Extra,
    /// <summary>Both hold the row; some columns differ.</summary>
    Changed,
    /// <summary>The source row cannot be mapped, and nothing records it as parked.</summary>
    Unmapped,
}

/// <summary>How a difference is accounted for.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DifferenceStatus>))]
public enum DifferenceStatus
{
    /// <summary>A real discrepancy: the key did not move after the watermark.</summary>
    Different,
    /// <summary>The key kept moving after the watermark through every re-check: neither clean nor proven different.</summary>
    Unresolved,
    /// <summary>Expected to be absent or stale: the origin is parked (peeq_cdc.parked_rows), with its reason.</summary>
    Parked,
    /// <summary>Expected to be absent: another source's claim on the key ranks higher (shadowed claim).</summary>
    Shadowed,
}

/// <summary>The headline numbers (the HTML report shows the same ones; a test checks they agree).</summary>
public sealed record ReportTotals(
    int TablePairs,
    int TablePairsClean,
    long RowsExpected,
    long RowsInTarget,
    long Differences,
    long Unresolved,
    long Parked,
    long Shadowed,
    long UnattributedRows,
    int BalanceChecks,
    long BalanceDifferences,
    long BalanceUnresolved,
    long Observations,
    long DanglingReferences,
    long DanglingInFlight,
    long DanglingOrphaned);

/// <summary>Where one source was read, and whether the Sink reached it.</summary>
public sealed record WatermarkInfo(string Source, string Target, string Method, string Watermark, string ChangedAfter, string? Applied, bool Reached, double WaitedSeconds, int Round, string? Note);

/// <summary>One count comparison per mapping: the operations the mapping yields for the source table, against the target rows whose lineage traces them to it.</summary>
public sealed record CountCheck(
    string Source,
    string SourceTable,
    string Target,
    string TargetTable,
    long SourceRows,
    long TargetRows,
    Verdict Verdict,
    string? Note = null);

/// <summary>A target table's rows added up over every source that feeds it (fan-in), plus rows no compared source owns.</summary>
public sealed record TableTotal(
    string Target,
    string TargetTable,
    int Sources,
    long ExpectedRows,
    long AttributedRows,
    long UnattributedRows,
    long TotalRows,
    Verdict Verdict,
    string? Note = null);

/// <summary>Checksums of one mapping pair, per range of source keys.</summary>
public sealed record ChecksumCheck(
    string Source,
    string SourceTable,
    string Target,
    string TargetTable,
    long Ranges,
    long RangesDiffering,
    string ExpectedDigest,
    string TargetDigest,
    long RowsCompared,
    long Missing,
    long Extra,
    long Changed,
    long Unresolved,
    long Parked,
    long Shadowed,
    Verdict Verdict,
    IReadOnlyList<RangeDifference> DifferingRanges,
    string? Note = null);

/// <summary>A range of source keys whose checksums differ, with what it narrowed down to.</summary>
public sealed record RangeDifference(string FirstKey, string LastKey, string ExpectedChecksum, string TargetChecksum, int Differences);

/// <summary>A column whose value differs: the mapped source value and the target's (masked for sensitive columns).</summary>
public sealed record ColumnDifference(string Column, string? Expected, string? Actual);

/// <summary>One row difference, located to its target key and its origin.</summary>
public sealed record RowDifference(
    DifferenceKind Kind,
    DifferenceStatus Status,
    string Target,
    string TargetTable,
    string Key,
    string Source,
    string SourceTable,
    string? OriginKey,
    IReadOnlyList<ColumnDifference> Columns,
    string? Note);

/// <summary>One balance check (reconcile/checks.yaml): the same sums on the sources and on the target.</summary>
public sealed record BalanceResult(
    string Name,
    string Title,
    string Domain,
    string? Description,
    IReadOnlyList<string> Key,
    IReadOnlyList<string> Values,
    long Groups,
    long GroupsDiffering,
    long GroupsUnresolved,
    IReadOnlyList<string> SourceTotals,
    IReadOnlyList<string> TargetTotals,
    Verdict Verdict,
    IReadOnlyList<BalanceDifference> Differences,
    string? Note = null);

/// <summary>A group whose sums differ between sources and target.</summary>
public sealed record BalanceDifference(string Check, IReadOnlyDictionary<string, string?> Group, string Value, string? Source, string? Target, string? Delta, DifferenceStatus Status);

/// <summary>An invariant inside one database (a wallet's balance against its transactions), with the rows that break it.</summary>
public sealed record InvariantResult(
    string Name,
    string Title,
    string Domain,
    string? Description,
    string Side,
    string Database,
    long Rows,
    long Breaks,
    long TargetOnly,
    IReadOnlyList<Observation> Observations,
    string? Note = null);

/// <summary>A row that breaks an invariant: reported as an observation, not as a pipeline difference.</summary>
public sealed record Observation(string Check, string Side, IReadOnlyDictionary<string, string?> Group, string Left, string Right, string Delta, bool AlsoInSource);

/// <summary>The dangling references of one kind (schemas/target/references.yaml).</summary>
public sealed record ReferenceResult(
    string Name,
    bool CrossDatabase,
    string From,
    string To,
    long DanglingRows,
    long DanglingValues,
    long InFlight,
    long Orphaned,
    long Excluded,
    long Undetermined,
    IReadOnlyList<DanglingReference> Samples,
    string? Note = null);

/// <summary>A child row whose parent is missing, and what the legacy sources say about that parent.</summary>
public sealed record DanglingReference(string Reference, string ChildKey, string Value, string Class, string? Detail);

/// <summary>A parked row: absent from the target on purpose, with the reason, until an operator acts.</summary>
public sealed record ParkedRowInfo(string Target, long Id, string Source, string SourceTable, string? SourceKey, string? TargetTable, string Reason, bool WholeTransaction, string CommitLsn, DateTimeOffset ParkedAt, string Status);

/// <summary>A reconciliation run, as finance and machines read it.</summary>
public sealed record ReconciliationReport(
    string RunId,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    Verdict Verdict,
    ReportTotals Totals,
    int Rounds,
    IReadOnlyList<WatermarkInfo> Watermarks,
    IReadOnlyList<CountCheck> Counts,
    IReadOnlyList<TableTotal> TableTotals,
    IReadOnlyList<ChecksumCheck> Checksums,
    IReadOnlyList<RowDifference> Differences,
    IReadOnlyList<BalanceResult> Balances,
    IReadOnlyList<InvariantResult> Invariants,
    IReadOnlyList<ReferenceResult> References,
    IReadOnlyList<ParkedRowInfo> Parked,
    IReadOnlyList<string> Notes,
    IReadOnlyList<string> Errors)
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public int Matching => Counts.Count(c => c.Verdict == Verdict.Clean);

    public string Summary =>
        $"reconciliation {Verdict.ToString().ToLowerInvariant()}: {Totals.TablePairsClean}/{Totals.TablePairs} table pairs match"
        + $", {Totals.Differences} difference(s), {Totals.Unresolved} unresolved, {Totals.Parked} parked, {Totals.Shadowed} shadowed"
        + (Totals.BalanceChecks > 0 ? $", {Totals.BalanceChecks} balance check(s) with {Totals.BalanceDifferences} difference(s)" : "")
        + (Totals.DanglingReferences > 0 ? $", {Totals.DanglingReferences} dangling reference(s)" : "")
        + (Errors.Count > 0 ? $", {Errors.Count} error(s)" : "");
}
