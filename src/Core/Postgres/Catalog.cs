using Dapper;
using Npgsql;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Postgres;

/// <summary>A column as the catalog describes it.</summary>
/// <summary>
/// A column as the catalog describes it. <see cref="TypeSql"/> carries the type modifier
/// (<c>character varying(255)</c>); <see cref="BaseTypeSql"/> does not (<c>character varying</c>), for casts
/// that must not truncate or round (assignment to the column then checks the modifier).
/// <see cref="DefaultSql"/> is the column default from the catalog, if any.
/// </summary>
public sealed record ColumnInfo(string Name, int Number, PgType Type, string TypeSql, bool NotNull, bool HasDefault, string BaseTypeSql = "", string? DefaultSql = null);

/// <summary>
/// A table as the catalog describes it. <see cref="KeyColumns"/> is the primary key in key order, or,
/// without one, the replica identity index's columns; empty for a table that can only be appended to.
/// </summary>
public sealed record TableInfo(TableId Id, uint Oid, IReadOnlyList<ColumnInfo> Columns, IReadOnlyList<string> KeyColumns, bool HasPrimaryKey, char ReplicaIdentity)
{
    public bool IsKeyless => KeyColumns.Count == 0;

    public ColumnInfo? Column(string name) => Columns.FirstOrDefault(c => c.Name == name);
}

/// <summary>Reads table and type definitions from pg_catalog. Identifiers never pass through SQL text here.</summary>
public static class Catalog
{
    private sealed record ColumnRow(string nspname, string relname, long reloid, string relreplident, string attname, short attnum, long atttypid,
        bool attnotnull, bool atthasdef, string typesql, string basetypesql, string? defaultsql, int keypos, bool haspk);

    /// <summary>Loads the given tables; those that do not exist are simply absent from the result.</summary>
    public static async Task<Dictionary<TableId, TableInfo>> LoadTablesAsync(NpgsqlConnection conn, IReadOnlyCollection<TableId> tables, CancellationToken ct)
    {
        const string sql = """
            SELECT n.nspname, c.relname, c.oid::bigint AS reloid, c.relreplident::text AS relreplident, a.attname, a.attnum,
                   a.atttypid::bigint AS atttypid, a.attnotnull, a.atthasdef,
                   format_type(a.atttypid, a.atttypmod) AS typesql,
                   format_type(a.atttypid, NULL) AS basetypesql,
                   pg_get_expr(d.adbin, d.adrelid) AS defaultsql,
                   coalesce((SELECT u.ord::int FROM unnest(k.indkey::int2[]) WITH ORDINALITY AS u(att, ord) WHERE u.att = a.attnum), 0) AS keypos,
                   (pk.indexrelid IS NOT NULL) AS haspk
            FROM unnest(@schemas::text[], @names::text[]) AS t(s, r)
            JOIN pg_namespace n ON n.nspname = t.s
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.r AND c.relkind IN ('r', 'p')
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
            LEFT JOIN pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary
            LEFT JOIN LATERAL (
                SELECT i.indkey FROM pg_index i
                WHERE i.indrelid = c.oid AND (i.indisprimary OR (c.relreplident = 'i' AND i.indisreplident))
                ORDER BY i.indisprimary DESC LIMIT 1) k ON true
            ORDER BY n.nspname, c.relname, a.attnum
            """;
        var rows = (await conn.QueryAsync<ColumnRow>(new CommandDefinition(sql,
            new { schemas = tables.Select(t => t.Schema).ToArray(), names = tables.Select(t => t.Name).ToArray() },
            cancellationToken: ct))).ToList();
        var types = await LoadTypesAsync(conn, rows.Select(r => (uint)r.atttypid).Distinct().ToArray(), ct);
        var result = new Dictionary<TableId, TableInfo>();
        foreach (var g in rows.GroupBy(r => new TableId(r.nspname, r.relname)))
        {
            var first = g.First();
            var columns = g.Select(r => new ColumnInfo(r.attname, r.attnum, types[(uint)r.atttypid], r.typesql, r.attnotnull, r.atthasdef, r.basetypesql, r.defaultsql)).ToList();
            var keys = g.Where(r => r.keypos > 0).OrderBy(r => r.keypos).Select(r => r.attname).ToList();
            result[g.Key] = new TableInfo(g.Key, (uint)first.reloid, columns, keys, first.haspk, first.relreplident[0]);
        }

        return result;
    }

    private sealed record TypeRow(long oid, string typname, string typcategory, long typelem, string typdelim, string typtype, long typbasetype);

    /// <summary>Loads types (and their element and base types) by OID.</summary>
    public static async Task<Dictionary<uint, PgType>> LoadTypesAsync(NpgsqlConnection conn, uint[] oids, CancellationToken ct)
    {
        var rows = new Dictionary<uint, TypeRow>();
        var pending = oids.ToHashSet();
        while (pending.Count > 0)
        {
            const string sql = """
                SELECT oid::bigint AS oid, typname, typcategory::text AS typcategory, typelem::bigint AS typelem,
                       typdelim::text AS typdelim, typtype::text AS typtype, typbasetype::bigint AS typbasetype
                FROM pg_type WHERE oid = ANY(@oids)
                """;
            var batch = await conn.QueryAsync<TypeRow>(new CommandDefinition(sql, new { oids = pending.Select(o => (long)o).ToArray() }, cancellationToken: ct));
            pending.Clear();
            foreach (var r in batch)
            {
                rows[(uint)r.oid] = r;
                foreach (var dep in new[] { (uint)r.typelem, (uint)r.typbasetype })
                {
                    if (dep != 0 && !rows.ContainsKey(dep))
                    {
                        pending.Add(dep);
                    }
                }
            }
        }

        var result = new Dictionary<uint, PgType>();
        PgType Build(uint oid)
        {
            if (result.TryGetValue(oid, out var t))
            {
                return t;
            }

            var r = rows[oid];
            if (r.typtype == "d" && r.typbasetype != 0)
            {
                // A domain travels as its base type.
                var b = Build((uint)r.typbasetype);
                t = b with { Oid = oid, Name = r.typname };
            }
            else
            {
                var element = r.typelem != 0 && r.typcategory == "A" ? Build((uint)r.typelem) : null;
                var kindOid = oid;
                t = PgType.Create(kindOid, r.typname, r.typcategory[0], (uint)r.typelem, r.typdelim[0], element);
            }

            result[oid] = t;
            return t;
        }

        foreach (var oid in rows.Keys)
        {
            Build(oid);
        }

        return result;
    }
}
