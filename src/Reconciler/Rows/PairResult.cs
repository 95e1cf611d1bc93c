using System.Globalization;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Reconciler.Reports;

namespace Peeq.Cdc.Reconciler.Rows;

/// <summary>One mapping pair: a target table and a source table that feeds it.</summary>
public readonly record struct PairId(string Target, TableId TargetTable, string Source, TableId SourceTable)
{
    public override string ToString() => $"{Source}.{SourceTable} → {Target}.{TargetTable}";
}

/// <summary>Everything known about one pair across the rounds of a run.</summary>
public sealed class PairResult(PairId id)
{
    public PairId Id { get; } = id;

    public long ExpectedRows { get; set; }

    public long TargetRows { get; set; }

    public long RowsCompared { get; set; }

    public long Ranges { get; set; }

    public ulong ExpectedDigest { get; set; }

    public ulong TargetDigest { get; set; }

    public List<RangeDifference> DifferingRanges { get; } = [];

    public long RangesDiffering { get; set; }

    public string? Note { get; set; }

    public bool Keyless { get; set; }

    public bool Failed { get; set; }

    /// <summary>Final differences by status (pending ones are counted when they settle).</summary>
    public Dictionary<DifferenceStatus, long> ByStatus { get; } = [];

    public Dictionary<DifferenceKind, long> RealByKind { get; } = [];

    /// <summary>Differences on origins that moved after the watermark, to check again, by origin (JSON text).</summary>
    public Dictionary<string, PendingOrigin> Pending { get; } = new(StringComparer.Ordinal);

    public void Count(RowDifference d)
    {
        ByStatus[d.Status] = ByStatus.GetValueOrDefault(d.Status) + 1;
        if (d.Status == DifferenceStatus.Different)
        {
            RealByKind[d.Kind] = RealByKind.GetValueOrDefault(d.Kind) + 1;
        }
    }

    public long Status(DifferenceStatus s) => ByStatus.GetValueOrDefault(s);

    public static string Hex(ulong v) => v.ToString("x16", CultureInfo.InvariantCulture);
}

/// <summary>An origin whose differences are not conclusive yet.</summary>
public sealed record PendingOrigin(string?[] Key, string KeyJson, List<RowDifference> Differences);
