using System.Globalization;
using Dapper;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Reconciler.Rows;
using Peeq.Cdc.Reconciler.Values;
using Peeq.Cdc.Reconciler.Watermarks;

namespace Peeq.Cdc.Reconciler;

/// <summary>
/// What a run has found so far: every pair's result, the differences (a bounded list for the reports,
/// every one in differences.csv), and the origins still to be checked again.
/// </summary>
public sealed class RunCollector : IDisposable
{
    private readonly CsvWriter _csv;
    private readonly Dictionary<string, Lsn> _changedAfter = [];
    private int _pending;

    public RunCollector(string directory, int listLimit, int recheckLimit)
    {
        ListLimit = listLimit;
        RecheckLimit = recheckLimit;
        Directory.CreateDirectory(directory);
        _csv = new CsvWriter(Path.Combine(directory, "differences.csv"),
            ["status", "kind", "target", "target_table", "key", "source", "source_table", "origin_key", "column", "expected", "actual", "note"]);
    }

    public int ListLimit { get; }

    public int RecheckLimit { get; }

    /// <summary>Whether an inconclusive difference may wait for another round.</summary>
    public bool MoreRounds { get; set; }

    public Dictionary<PairId, PairResult> Pairs { get; } = [];

    public List<RowDifference> Listed { get; } = [];

    public List<RowDifference> Unmapped { get; } = [];

    public long UnmappedDifferent { get; private set; }

    public long UnmappedParked { get; private set; }

    public List<string> Notes { get; } = [];

    public List<string> Errors { get; } = [];

    public List<WatermarkInfo> Watermarks { get; } = [];

    public PairResult Pair(PairId id)
    {
        if (!Pairs.TryGetValue(id, out var p))
        {
            p = new PairResult(id);
            Pairs[id] = p;
        }

        return p;
    }

    /// <summary>Rows the mapping appends to tables without a key (compared by count in the table totals).</summary>
    public void AddAppends(PairId pair, long rows) => Pair(pair).ExpectedRows += rows;

    public void SetWatermark(string source, Lsn changedAfter) => _changedAfter[source] = changedAfter;

    /// <summary>For a key owned by another source: changes at or after this are after that source's watermark (unknown sources: never).</summary>
    public Lsn ChangedAfter(string source) => _changedAfter.TryGetValue(source, out var l) ? l : new Lsn(ulong.MaxValue);

    /// <summary>Records a classified difference; an inconclusive one waits for the next round while rounds and room remain.</summary>
    public void Report(PairResult pair, string?[] origin, RowDifference diff, bool conclusive)
    {
        if (!conclusive && MoreRounds && _pending < RecheckLimit)
        {
            if (!pair.Pending.TryGetValue(diff.OriginKey ?? "", out var p))
            {
                p = new PendingOrigin(origin, diff.OriginKey ?? "", []);
                pair.Pending[diff.OriginKey ?? ""] = p;
                _pending++;
            }

            p.Differences.Add(diff);
            return;
        }

        if (!conclusive && MoreRounds)
        {
            diff = diff with { Note = (diff.Note is null ? "" : diff.Note + "; ") + "not re-checked: over the re-check limit" };
        }

        Final(pair, diff);
    }

    /// <summary>The origins of a pair to check again (they leave the pending set; the re-check reports them anew).</summary>
    public List<PendingOrigin> TakePending(PairResult pair)
    {
        var list = pair.Pending.Values.ToList();
        _pending -= list.Count;
        pair.Pending.Clear();
        return list;
    }

    public int PendingCount => _pending;

    /// <summary>After the last round: whatever is still pending is unresolved, never clean.</summary>
    public void SettlePending()
    {
        foreach (var pair in Pairs.Values)
        {
            foreach (var p in TakePending(pair))
            {
                foreach (var d in p.Differences)
                {
                    Final(pair, d with { Status = DifferenceStatus.Unresolved });
                }
            }
        }
    }

    private void Final(PairResult pair, RowDifference diff)
    {
        pair.Count(diff);
        Write(diff);
    }

    public void ReportUnmapped(RowDifference diff)
    {
        if (diff.Status == DifferenceStatus.Parked)
        {
            UnmappedParked++;
        }
        else
        {
            UnmappedDifferent++;
        }

        if (Unmapped.Count < ListLimit)
        {
            Unmapped.Add(diff);
        }

        Write(diff);
    }

    /// <summary>Target rows no compared origin owns (no lineage, a tombstone, an unknown source): real extras.</summary>
    public void ReportUnattributed(RowDifference diff)
    {
        Write(diff);
    }

    private void Write(RowDifference d)
    {
        if (Listed.Count < ListLimit * 10 && Listed.Count(x => x.Target == d.Target && x.TargetTable == d.TargetTable && x.Status == d.Status) < ListLimit)
        {
            Listed.Add(d);
        }

        if (d.Columns.Count == 0)
        {
            _csv.Row(Name(d.Status), Name(d.Kind), d.Target, d.TargetTable, d.Key, d.Source, d.SourceTable, d.OriginKey, null, null, null, d.Note);
        }

        foreach (var c in d.Columns)
        {
            _csv.Row(Name(d.Status), Name(d.Kind), d.Target, d.TargetTable, d.Key, d.Source, d.SourceTable, d.OriginKey, c.Column, c.Expected, c.Actual, d.Note);
        }
    }

    private static string Name<T>(T value) where T : Enum => value.ToString().ToLowerInvariant();

    /// <summary>Which of these origins (jsonb text) have a parked (or operator-discarded) row, with its reason.</summary>
    public async Task<Dictionary<string, string>> ParkedOriginsAsync(TargetSnapshot target, SourceTable source, IReadOnlyList<string> origins, CancellationToken ct)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (origins.Count == 0)
        {
            return result;
        }

        var lease = await target.RentAsync(ct);
        try
        {
            var exists = await lease.Conn.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT to_regclass('peeq_cdc.parked_rows') IS NOT NULL", transaction: lease.Tx, cancellationToken: ct));
            if (!exists)
            {
                return result;
            }

            var rows = await lease.Conn.QueryAsync<(string key, string reason, string status)>(new CommandDefinition("""
                SELECT DISTINCT ON (source_key) source_key::text, reason, status FROM peeq_cdc.parked_rows
                WHERE source = @source AND source_table = @table AND status IN ('parked', 'discarded') AND source_key = ANY(@keys::jsonb[])
                ORDER BY source_key, id DESC
                """, new { source = source.Source.Name, table = source.Id.ToString(), keys = origins.ToArray() }, lease.Tx, cancellationToken: ct));
            foreach (var r in rows)
            {
                result[JsonbText.TryCanonical(r.key, out var k) ? k : r.key] = r.status == "discarded" ? $"discarded by an operator ({r.reason})" : r.reason;
            }
        }
        finally
        {
            target.Return(lease);
        }

        return result;
    }

    public void Dispose() => _csv.Dispose();

    public static string Format(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);
}
