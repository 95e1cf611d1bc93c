using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Transform.Mapping;

/// <summary>
/// Every captured table to the table of the same schema and name in the target (or of the same name in
/// the source's <c>targetSchema</c>), column for column, keyed by the source key. Tables without a key
/// are append-only: inserts replicate once; an update or delete on them cannot be placed and is parked
/// with the reason, never guessed. The target follows the source's columns: an added column is added to
/// it (the Sink does, on the schema event the Transform passes on), a dropped one simply stops appearing.
/// </summary>
public sealed class IdentityMapping : ITargetMapping
{
    private readonly string _target;
    private readonly IReadOnlyDictionary<string, string?> _targetSchemas;

    // The columns last seen per source table, to tell what a schema event changed.
    private readonly ConcurrentDictionary<(string Source, TableId Table), IReadOnlyList<SourceColumn>> _seen = new();

    /// <summary>Each source's tables keep their own schema.</summary>
    public IdentityMapping(string target, IReadOnlySet<string> sources)
        : this(target, sources.ToDictionary(s => s, _ => (string?)null))
    {
    }

    /// <summary>Each source's tables go to the given target schema (null: the source table's own).</summary>
    public IdentityMapping(string target, IReadOnlyDictionary<string, string?> targetSchemas)
    {
        _target = target;
        _targetSchemas = targetSchemas;
    }

    public string Target => _target;

    /// <summary>
    /// Takes added and dropped columns. Parks the table when its key changed (rows could no longer be
    /// matched to the target's) or a column changed to a type its previous type's column cannot hold
    /// (the target column was made from the previous definition). Only a change seen in this process can
    /// be judged here; the Sink checks every schema event against the target table itself, so a change
    /// made while the Transform was down is caught there.
    /// </summary>
    public string? CheckSchema(string source, TableId table, IReadOnlyList<SourceColumn> columns)
    {
        var before = _seen.GetValueOrDefault((source, table));
        _seen[(source, table)] = columns;
        if (before is null)
        {
            return null;
        }

        var oldKey = before.Where(c => c.IsKey).Select(c => c.Name).ToList();
        var newKey = columns.Where(c => c.IsKey).Select(c => c.Name).ToList();
        if (!oldKey.SequenceEqual(newKey))
        {
            return $"schema change: the key of {table} changed from ({string.Join(", ", oldKey)}) to ({string.Join(", ", newKey)}); its rows can no longer be matched to the target's";
        }

        foreach (var c in columns)
        {
            if (before.FirstOrDefault(o => o.Name == c.Name) is { } old && !TypeCompatibility.CanHold(old.TypeSql, c.TypeSql))
            {
                return $"schema change: column {c.Name} of {table} changed type from {old.TypeSql} to {c.TypeSql}, which the target column (made as {old.TypeSql}) cannot hold without loss";
            }
        }

        return null;
    }

    public bool Handles(string source, TableId table) => _targetSchemas.ContainsKey(source);

    public void Map(RawChange change, MappingOutput output)
    {
        var table = _targetSchemas.GetValueOrDefault(change.Source) is { Length: > 0 } schema ? new TableId(schema, change.Table.Name) : change.Table;
        var keyed = change.Key is { Count: > 0 };
        switch (change.Op)
        {
            case ChangeOp.Create or ChangeOp.Read:
                var after = change.After ?? throw new MappingException("insert without a row image");
                if (keyed)
                {
                    output.Add(change, RowOpKind.Upsert, table, KeyOf(change.Key!, after), after, change.Unchanged);
                }
                else
                {
                    output.Add(change, RowOpKind.Insert, table, null, after);
                }

                break;
            case ChangeOp.Update:
                if (!keyed)
                {
                    throw new MappingException(
                        $"update on append-only table {table} (no primary key): it cannot be placed in the target without guessing; "
                        + $"give the source table a primary key, or ALTER TABLE {table.Quoted} REPLICA IDENTITY FULL and map it explicitly");
                }

                var newRow = change.After ?? throw new MappingException("update without a new row image");
                var newKey = KeyOf(change.Key!, newRow);
                if (change.Before is { } before && !SameKey(newKey, before))
                {
                    // The key itself changed: the old row goes, the new one comes.
                    output.Add(change, RowOpKind.Delete, table, KeyOf(change.Key!, before), null);
                }

                output.Add(change, RowOpKind.Upsert, table, newKey, newRow, change.Unchanged);
                break;
            case ChangeOp.Delete:
                if (!keyed)
                {
                    throw new MappingException($"delete on append-only table {table} (no primary key): it cannot be placed in the target without guessing");
                }

                output.Add(change, RowOpKind.Delete, table, KeyOf(change.Key!, change.Before ?? change.Key!), null);
                break;
            case ChangeOp.Truncate:
                output.Add(change, RowOpKind.Truncate, table, null, null);
                break;
        }
    }

    private static JsonObject KeyOf(JsonObject keyShape, JsonObject row)
    {
        var key = new JsonObject();
        foreach (var (name, value) in keyShape)
        {
            key[name] = row.TryGetPropertyValue(name, out var v) ? v?.DeepClone() : value?.DeepClone();
        }

        return key;
    }

    private static bool SameKey(JsonObject key, JsonObject before)
    {
        foreach (var (name, value) in key)
        {
            if (!before.TryGetPropertyValue(name, out var old) || !JsonNode.DeepEquals(old, value))
            {
                return false;
            }
        }

        return true;
    }
}
