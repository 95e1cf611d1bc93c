using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Transform.Mapping;

/// <summary>
/// Turns one source change into the target row operations it implies. Stateless and deterministic:
/// the same change always yields the same operations, so a replay produces the same result. State
/// that a decision needs (ownership, conflicts, identity maps) lives in the target, where the Sink
/// applies it.
/// </summary>
public interface ITargetMapping
{
    /// <summary>The target database this mapping fills.</summary>
    string Target { get; }

    /// <summary>Whether this mapping has anything to say about changes of a source table.</summary>
    bool Handles(string source, TableId table);

    /// <summary>
    /// Appends the operations for <paramref name="change"/> to <paramref name="output"/>. Throws
    /// <see cref="MappingException"/> when the change cannot be mapped; the Transform parks it.
    /// </summary>
    void Map(RawChange change, MappingOutput output);

    /// <summary>A source table's columns changed mid-stream: null when this mapping can take the change, else why the table must be parked.</summary>
    string? CheckSchema(string source, TableId table, IReadOnlyList<SourceColumn> columns);
}

/// <summary>A source table's column as a schema event describes it: <see cref="TypeSql"/> is format_type's text (<c>character varying(30)</c>).</summary>
public sealed record SourceColumn(string Name, string TypeSql, bool IsKey);

/// <summary>The operations produced for one change, numbered in order (the Sub of each RowOperation).</summary>
public sealed class MappingOutput
{
    private readonly List<RowOperation> _operations = [];

    public IReadOnlyList<RowOperation> Operations => _operations;

    public void Clear() => _operations.Clear();

    public void Add(RawChange change, RowOpKind op, TableId table, System.Text.Json.Nodes.JsonObject? key, System.Text.Json.Nodes.JsonObject? row,
        IReadOnlyList<string>? unchanged = null, IReadOnlyList<System.Text.Json.Nodes.JsonObject>? rows = null, ConflictClaim? claim = null)
    {
        _operations.Add(new RowOperation(
            change.Source,
            change.Position.CommitLsn,
            change.Position.Seq,
            _operations.Count,
            op,
            table,
            key,
            row,
            unchanged ?? [],
            new RowOrigin(change.Table, OriginKey(change)),
            change.TsMs,
            change.Snapshot,
            rows,
            claim));
    }

    private static System.Text.Json.Nodes.JsonObject OriginKey(RawChange change) =>
        change.Key is { } k ? (System.Text.Json.Nodes.JsonObject)k.DeepClone() : [];
}

/// <summary>A change cannot be mapped; the message is the reason recorded with the parked row.</summary>
public sealed class MappingException(string message, TableId? targetTable = null) : Exception(message)
{
    /// <summary>The target table the failed operation was for, when known.</summary>
    public TableId? TargetTable { get; } = targetTable;
}
