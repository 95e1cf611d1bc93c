using Microsoft.Extensions.Logging;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Transform.Stream;

/// <summary>
/// What a raw schema event becomes (docs/contracts.md, "Schema changes"): the mapping is asked whether it
/// can take the table's new columns. If not, a table-state event parks the table at the Sink (every
/// later change of it from this source is parked, nothing lost); if it can and it mirrors the table
/// (identity), the Sink is told the columns so the target table follows; otherwise nothing.
/// </summary>
public static class SchemaEvents
{
    public static UnifiedEvent? Map(RawSchemaChange sc, string source, ITargetMapping mapping, ILogger logger)
    {
        if (!mapping.Handles(source, sc.Table))
        {
            return null;
        }

        string? reason;
        try
        {
            reason = mapping.CheckSchema(source, sc.Table, sc.Columns.Select(c => new SourceColumn(c.Name, c.TypeSql, c.IsKey)).ToList());
        }
        catch (Exception e)
        {
            reason = $"schema change: the mapping could not check the new columns of {sc.Table} ({e.GetType().Name}: {e.Message})";
        }

        if (reason is not null)
        {
            TransformMetrics.TablesParked.WithLabels(source, sc.Table.ToString()).Inc();
            logger.LogWarning("Source {Source}: table {Table} is parked from {Position} on: {Reason}", source, sc.Table, sc.Position, reason);
            return new TableStateChange(source, sc.Position.CommitLsn, sc.Position.Seq, sc.Table, "parked", reason, sc.TsMs);
        }

        return mapping is IdentityMapping
            ? new TableSchemaChange(source, sc.Position.CommitLsn, sc.Position.Seq, sc.Table, sc.Table, sc.Columns, sc.TsMs)
            : null;
    }
}

/// <summary>The target tables a snapshot transaction's rows went to, per source table, for the Sink's per-target-table state.</summary>
public static class SnapshotTargets
{
    public static void Note(Dictionary<TableId, HashSet<TableId>> targets, TableId source, IReadOnlyList<RowOperation> operations)
    {
        if (!targets.TryGetValue(source, out var set))
        {
            set = [];
            targets[source] = set;
        }

        foreach (var op in operations)
        {
            set.Add(op.Table);
        }
    }

    public static IReadOnlyList<SnapshotMark>? Attach(IReadOnlyList<SnapshotMark>? marks, Dictionary<TableId, HashSet<TableId>> targets, ITargetMapping mapping) =>
        marks?.Select(m =>
        {
            var set = targets.TryGetValue(m.Table, out var s) ? new HashSet<TableId>(s) : [];
            if (mapping is IdentityMapping)
            {
                // Mirrored: the table's target is known even when a chunk holds no rows.
                set.Add(m.Table);
            }

            return m with { TargetTables = set.OrderBy(t => t).ToList() };
        }).ToList();
}
