using Npgsql;
using Npgsql.Replication.PgOutput.Messages;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Capture.Replication;

/// <summary>A relation as pgoutput last described it, with the type and key knowledge needed to encode its rows.</summary>
public sealed record CapturedRelation(uint RelationId, TableId Table, CapturedColumn[] Columns, bool HasKey);

/// <summary>
/// Relations by pgoutput id. A Relation message precedes the first change of a table in a session and
/// every change after its definition changed (ADD/DROP COLUMN), so the columns here are always those of
/// the rows that follow.
/// </summary>
public sealed class RelationCache(NpgsqlDataSource control, PreparedSource source)
{
    private readonly Dictionary<uint, CapturedRelation> _relations = [];
    private readonly Dictionary<uint, PgType> _types = [];
    private readonly HashSet<ColumnRef> _sensitive = source.Options.SensitiveColumns
        .Select(c => ColumnRef.TryParse(c, out var r, out _) ? r : default)
        .ToHashSet();

    public CapturedRelation this[uint relationId] => _relations.TryGetValue(relationId, out var r)
        ? r
        : throw new InvalidOperationException($"change for relation {relationId} arrived before its Relation message");

    public async Task<CapturedRelation> UpdateAsync(RelationMessage message, CancellationToken ct)
    {
        var table = new TableId(message.Namespace, message.RelationName);
        var oids = message.Columns.Select(c => c.DataTypeId).Where(o => !_types.ContainsKey(o)).Distinct().ToArray();
        if (oids.Length > 0)
        {
            await using var conn = await control.OpenConnectionAsync(ct);
            foreach (var (oid, type) in await Catalog.LoadTypesAsync(conn, oids, ct))
            {
                _types[oid] = type;
            }
        }

        var keyColumns = source.Tables.TryGetValue(table, out var info) && info.KeyColumns.Count > 0
            ? info.KeyColumns.ToHashSet()
            : message.Columns.Where(c => (c.Flags & RelationMessage.Column.ColumnFlags.PartOfKey) != 0).Select(c => c.ColumnName).ToHashSet();
        if (info is not null && PreparedSource.IsAppendOnly(info))
        {
            keyColumns.Clear();
        }

        var columns = message.Columns
            .Select(c => new CapturedColumn(c.ColumnName, _types[c.DataTypeId], keyColumns.Contains(c.ColumnName), _sensitive.Contains(new ColumnRef(table, c.ColumnName))))
            .ToArray();
        var relation = new CapturedRelation(message.RelationId, table, columns, columns.Any(c => c.IsKey));
        _relations[message.RelationId] = relation;
        return relation;
    }

    /// <summary>Columns of a table from the catalog (snapshots read the table before any Relation message).</summary>
    public CapturedColumn[] ColumnsFromCatalog(TableInfo info)
    {
        foreach (var c in info.Columns)
        {
            _types.TryAdd(c.Type.Oid, c.Type);
        }

        var keys = PreparedSource.IsAppendOnly(info) ? [] : info.KeyColumns.ToHashSet();
        return info.Columns
            .Select(c => new CapturedColumn(c.Name, c.Type, keys.Contains(c.Name), _sensitive.Contains(new ColumnRef(info.Id, c.Name))))
            .ToArray();
    }
}
