using Dapper;
using Npgsql;
using Npgsql.Replication.PgOutput.Messages;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Capture.Replication;

/// <summary>
/// A relation as pgoutput last described it, with the type and key knowledge needed to encode its rows.
/// <see cref="Schema"/> is the column list a schema event carries for it.
/// </summary>
public sealed record CapturedRelation(uint RelationId, TableId Table, CapturedColumn[] Columns, bool HasKey, IReadOnlyList<SchemaColumn> Schema);

/// <summary>
/// Relations by pgoutput id. A Relation message precedes the first change of a table in a session and
/// every change after its definition changed (ADD/DROP COLUMN, a type change), so the columns here are
/// always those of the rows that follow. <see cref="UpdateAsync"/> says whether the definition is new
/// to this session or different from the one before: that is when a schema event is due.
/// </summary>
public sealed class RelationCache(NpgsqlDataSource control, PreparedSource source)
{
    private readonly Dictionary<uint, CapturedRelation> _relations = [];
    private readonly Dictionary<uint, PgType> _types = [];
    private readonly Dictionary<(uint Oid, int Mod), string> _typeSql = [];
    private readonly HashSet<ColumnRef> _sensitive = source.Options.SensitiveColumns
        .Select(c => ColumnRef.TryParse(c, out var r, out _) ? r : default)
        .ToHashSet();

    public CapturedRelation this[uint relationId] => _relations.TryGetValue(relationId, out var r)
        ? r
        : throw new InvalidOperationException($"change for relation {relationId} arrived before its Relation message");

    /// <summary>Records a Relation message; returns the relation and whether its definition is new or changed.</summary>
    public async Task<(CapturedRelation Relation, bool Changed)> UpdateAsync(RelationMessage message, CancellationToken ct)
    {
        var table = new TableId(message.Namespace, message.RelationName);
        var oids = message.Columns.Select(c => c.DataTypeId).Where(o => !_types.ContainsKey(o)).Distinct().ToArray();
        var mods = message.Columns.Select(c => (c.DataTypeId, c.TypeModifier)).Where(m => !_typeSql.ContainsKey(m)).Distinct().ToArray();
        if (oids.Length > 0 || mods.Length > 0)
        {
            await using var conn = await control.OpenConnectionAsync(ct);
            foreach (var (oid, type) in await Catalog.LoadTypesAsync(conn, oids, ct))
            {
                _types[oid] = type;
            }

            var sql = await conn.QueryAsync<(long oid, int mod, string sql)>(new CommandDefinition(
                "SELECT o, m, format_type(o::oid, m) FROM unnest(@oids::bigint[], @mods::int[]) AS u(o, m)",
                new { oids = mods.Select(m => (long)m.DataTypeId).ToArray(), mods = mods.Select(m => m.TypeModifier).ToArray() }, cancellationToken: ct));
            foreach (var (oid, mod, text) in sql)
            {
                _typeSql[((uint)oid, mod)] = text;
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
        var schema = message.Columns.Select(c => new SchemaColumn(
            c.ColumnName,
            _typeSql[(c.DataTypeId, c.TypeModifier)],
            (c.Flags & RelationMessage.Column.ColumnFlags.PartOfKey) != 0)).ToList();
        var changed = !_relations.TryGetValue(message.RelationId, out var before)
            || before.Table != table
            || !before.Schema.Select(c => (c.Name, c.TypeSql, c.IsKey)).SequenceEqual(schema.Select(c => (c.Name, c.TypeSql, c.IsKey)));
        if (changed)
        {
            // What rows that existed before a column was added hold in it (ADD COLUMN ... DEFAULT), for a
            // target that has to add the column too. Never for a sensitive column.
            await using var conn = await control.OpenConnectionAsync(ct);
            var existing = await ExistingValuesAsync(conn, table, ct);
            schema = schema.Select((c, i) => columns[i].Sensitive || !existing.TryGetValue(c.Name, out var v) ? c : c with { ExistingValue = v }).ToList();
        }

        var relation = new CapturedRelation(message.RelationId, table, columns, columns.Any(c => c.IsKey), schema);
        _relations[message.RelationId] = relation;
        return (relation, changed);
    }

    /// <summary>
    /// The values that rows existing before a column was added hold in it (pg_attribute.attmissingval, set by
    /// ADD COLUMN with a non-volatile default). Read from the current catalog; a role that may not read it
    /// gets none, and such columns start as NULL in the target until rows are updated or re-snapshotted.
    /// </summary>
    private async Task<Dictionary<string, string>> ExistingValuesAsync(NpgsqlConnection conn, TableId table, CancellationToken ct)
    {
        if (!source.Tables.TryGetValue(table, out var info))
        {
            return [];
        }

        try
        {
            var rows = await conn.QueryAsync<(string name, string values, string delimiter)>(new CommandDefinition("""
                SELECT a.attname, a.attmissingval::text, t.typdelim::text
                FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                WHERE a.attrelid = @oid::oid AND a.atthasmissing AND NOT a.attisdropped
                """, new { oid = (long)info.Oid }, cancellationToken: ct));
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (name, values, delimiter) in rows)
            {
                if (PgArrayLiteral.Parse(values, delimiter[0]) is [string value])
                {
                    result[name] = value;
                }
            }

            return result;
        }
        catch (PostgresException e) when (e.SqlState == "42501")
        {
            return [];
        }
    }

    /// <summary>Columns of a table from the catalog (snapshots read tables before or apart from Relation messages). Thread-safe.</summary>
    public CapturedColumn[] ColumnsFromCatalog(TableInfo info)
    {
        var keys = PreparedSource.IsAppendOnly(info) ? [] : info.KeyColumns.ToHashSet();
        return info.Columns
            .Select(c => new CapturedColumn(c.Name, c.Type, keys.Contains(c.Name), _sensitive.Contains(new ColumnRef(info.Id, c.Name))))
            .ToArray();
    }
}
