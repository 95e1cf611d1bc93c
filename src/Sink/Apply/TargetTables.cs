using System.Security.Cryptography;
using System.Text;
using Dapper;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>A target table as the Sink writes it: its columns, key, and the lineage table beside it.</summary>
public sealed record TargetTable(TableInfo Info, string LineageTable)
{
    public TableId Id => Info.Id;

    public IReadOnlyList<string> Key => Info.KeyColumns;

    public string QuotedLineage => $"{Sql.QuoteIdent(PipelineSchema.Schema)}.{Sql.QuoteIdent(LineageTable)}";

    /// <summary>Whether peeq_cdc.pending_lookups may hold rows of this table (then every write keeps them in step).</summary>
    public bool MayHavePending { get; set; }
}

/// <summary>
/// Loads target tables from the catalog and creates each one's lineage table in peeq_cdc: the target
/// key, the owning source, the origin (source table and key), the source position of the last change,
/// and a tombstone flag. Lineage is the version guard, the ownership record and the trace back to the
/// source in one row.
/// </summary>
public sealed class TargetTables(NpgsqlDataSource target)
{
    private readonly Dictionary<TableId, TargetTable> _tables = [];
    private readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>The other targets' identity maps, for lookups that name another target (null: none configured).</summary>
    public ForeignIdentities? Foreign { get; init; }

    public async Task<TargetTable> GetAsync(TableId id, CancellationToken ct)
    {
        await _lock.WaitAsync(ct);
        try
        {
            if (_tables.TryGetValue(id, out var t))
            {
                return t;
            }

            await using var conn = await target.OpenConnectionAsync(ct);
            var infos = await Catalog.LoadTablesAsync(conn, [id], ct);
            if (!infos.TryGetValue(id, out var info))
            {
                throw new TargetTableMissingException($"target table {id} does not exist in database '{conn.Database}'");
            }

            var lineage = info.IsKeyless ? "" : await EnsureLineageAsync(conn, info, ct);
            t = new TargetTable(info, lineage)
            {
                MayHavePending = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT EXISTS (SELECT 1 FROM peeq_cdc.pending_lookups WHERE target_table = @t)", new { t = id.ToString() }, cancellationToken: ct)),
            };
            _tables[id] = t;
            return t;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Forgets a table's definition (after a schema change) so the next use reloads it.</summary>
    public void Invalidate(TableId id)
    {
        _lock.Wait();
        try
        {
            _tables.Remove(id);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Every lineage table of this target (for upkeep that walks them all).</summary>
    public static async Task<List<(string TargetTable, string Lineage)>> ListLineageAsync(NpgsqlConnection conn, CancellationToken ct) =>
        (await conn.QueryAsync<(string, string)>(new CommandDefinition("SELECT target_table, lineage_table FROM peeq_cdc.lineage_tables ORDER BY 1", cancellationToken: ct))).ToList();

    public static string LineageName(TableId id)
    {
        var readable = new string($"{id.Schema}_{id.Name}".Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '_').ToArray());
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id.ToString())))[..8];
        return $"lineage_{(readable.Length > 40 ? readable[..40] : readable)}_{hash}";
    }

    private static async Task<string> EnsureLineageAsync(NpgsqlConnection conn, TableInfo info, CancellationToken ct)
    {
        var name = LineageName(info.Id);
        var keyDefs = info.KeyColumns.Select(k => $"{Sql.QuoteIdent(k)} {info.Column(k)!.TypeSql} NOT NULL");
        var keyList = string.Join(", ", info.KeyColumns.Select(Sql.QuoteIdent));
        var qualified = $"{Sql.QuoteIdent(PipelineSchema.Schema)}.{Sql.QuoteIdent(name)}";
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtext(@name))", new { name }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition($"""
            CREATE TABLE IF NOT EXISTS {qualified} (
                {string.Join(",\n    ", keyDefs)},
                source        text        NOT NULL,
                origin_table  text        NOT NULL,
                origin_key    jsonb       NOT NULL,
                lsn           pg_lsn      NOT NULL,
                seq           bigint      NOT NULL,
                deleted       boolean     NOT NULL DEFAULT false,
                updated_at    timestamptz NOT NULL DEFAULT now(),
                rank          integer,
                PRIMARY KEY ({keyList})
            ) WITH (fillfactor = 90);
            ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS rank integer;
            CREATE INDEX IF NOT EXISTS {Sql.QuoteIdent(name + "_tombstones")} ON {qualified} (source, updated_at) WHERE deleted;
            CREATE INDEX IF NOT EXISTS {Sql.QuoteIdent(name + "_origin")} ON {qualified} (source, origin_table, origin_key);
            INSERT INTO peeq_cdc.lineage_tables (target_table, lineage_table, key_columns)
            VALUES (@table, @name, @keys)
            ON CONFLICT (target_table) DO UPDATE SET lineage_table = excluded.lineage_table, key_columns = excluded.key_columns;
            """, new { table = info.Id.ToString(), name, keys = info.KeyColumns.ToArray() }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return name;
    }
}

/// <summary>An operation names a table the target does not have (a mapping or schema problem): parked.</summary>
public sealed class TargetTableMissingException(string message) : Exception(message);
