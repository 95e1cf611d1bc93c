using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Reconciler.Values;
using Peeq.Cdc.Reconciler.Watermarks;

namespace Peeq.Cdc.Reconciler.Rows;

/// <summary>A target row as the target prints it, with the position of the last change the Sink applied to it.</summary>
public sealed record ActualRow(string KeyCanon, string?[] Values, Lsn Lsn);

/// <summary>The target rows of one table that one origin (source, source table, source key) owns.</summary>
public sealed class ActualGroup(string?[] origin, string originJson)
{
    public string?[] Origin { get; } = origin;

    public string OriginJson { get; } = originJson;

    public List<ActualRow> Rows { get; } = [];
}

/// <summary>
/// Streams the target rows that came from one source table, with their lineage, grouped by origin and
/// ordered by the origin key in the same order as the source stream (<see cref="KeyOrder"/>), so the
/// two meet in one pass with bounded memory.
/// </summary>
public sealed class ActualStream : IAsyncDisposable
{
    private readonly TargetSnapshot _snapshot;
    private readonly (NpgsqlConnection Conn, NpgsqlTransaction Tx) _lease;
    private readonly NpgsqlCommand _cmd;
    private readonly TargetTableInfo _table;
    private readonly KeySort[] _sorts;
    private NpgsqlDataReader? _reader;
    private ActualRow? _pendingRow;
    private string?[]? _pendingOrigin;
    private string? _pendingOriginJson;
    private bool _done;

    private ActualStream(TargetSnapshot snapshot, (NpgsqlConnection, NpgsqlTransaction) lease, NpgsqlCommand cmd, TargetTableInfo table, KeySort[] sorts)
    {
        _snapshot = snapshot;
        _lease = lease;
        _cmd = cmd;
        _table = table;
        _sorts = sorts;
    }

    public long Rows { get; private set; }

    public static async Task<ActualStream> OpenAsync(TargetSnapshot snapshot, TargetTableInfo table, SourceTable source, IReadOnlyList<string>? origins, CancellationToken ct)
    {
        var lease = await snapshot.RentAsync(ct);
        var cmd = lease.Conn.CreateCommand();
        cmd.Transaction = lease.Tx;
        cmd.CommandTimeout = 0;
        cmd.AllResultTypesAreUnknown = true;
        var keys = source.KeyColumns;
        var originCols = string.Join(", ", keys.Select(k => $"l.origin_key->>{Sql.QuoteLiteral(k.Name)}"));
        var join = string.Join(" AND ", table.Key.Select(k => $"t.{Sql.QuoteIdent(k)} = l.{Sql.QuoteIdent(k)}"));
        var columns = string.Join(", ", table.Columns.Select(c => "t." + Sql.QuoteIdent(c.Name)));
        var order = string.Join(", ", keys.Select(k => KeyOrder.OriginKeyExpression("l", k.Name, k.Type)));
        var sql = $"""
            SELECT {originCols}, l.origin_key::text, l.lsn::text, {columns}
            FROM {table.QuotedLineage} l JOIN {table.Id.Quoted} t ON {join}
            WHERE l.source = @source AND l.origin_table = @origin AND NOT l.deleted
            """;
        if (origins is not null)
        {
            sql += " AND l.origin_key = ANY(@origins::jsonb[])";
            cmd.Parameters.Add(new NpgsqlParameter("origins", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text) { Value = origins.ToArray() });
        }

        cmd.CommandText = sql + $" ORDER BY {order}";
        cmd.Parameters.Add(new NpgsqlParameter("source", source.Source.Name));
        cmd.Parameters.Add(new NpgsqlParameter("origin", source.Id.ToString()));
        var stream = new ActualStream(snapshot, lease, cmd, table, source.KeySorts);
        // Not SequentialAccess: each row arrives whole in the reader's buffer, and is read without an awaited seek per column.
        stream._reader = await cmd.ExecuteReaderAsync(ct);
        return stream;
    }

    /// <summary>The next origin group, or null at the end.</summary>
    public async Task<ActualGroup?> NextAsync(CancellationToken ct)
    {
        if (_pendingRow is null && !await ReadRowAsync(ct))
        {
            return null;
        }

        var group = new ActualGroup(_pendingOrigin!, _pendingOriginJson!);
        group.Rows.Add(_pendingRow!);
        _pendingRow = null;
        while (await ReadRowAsync(ct))
        {
            if (KeyOrder.Compare(_pendingOrigin!, group.Origin, _sorts) != 0)
            {
                break;
            }

            group.Rows.Add(_pendingRow!);
            _pendingRow = null;
        }

        return group;
    }

    private async Task<bool> ReadRowAsync(CancellationToken ct)
    {
        if (_done)
        {
            return false;
        }

        var r = _reader!;
        if (!await r.ReadAsync(ct))
        {
            _done = true;
            return false;
        }

        var n = _sorts.Length;
        var origin = new string?[n];
        for (var i = 0; i < n; i++)
        {
            origin[i] = r.IsDBNull(i) ? null : r.GetString(i);
        }

        var originJson = r.GetString(n);
        var lsn = Lsn.Parse(r.GetString(n + 1));
        var values = new string?[_table.Columns.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = r.IsDBNull(n + 2 + i) ? null : r.GetString(n + 2 + i);
        }

        Rows++;
        _pendingOrigin = origin;
        _pendingOriginJson = originJson;
        _pendingRow = new ActualRow(_table.KeyOf(values), values, lsn);
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_reader is not null)
        {
            await _reader.DisposeAsync();
        }

        await _cmd.DisposeAsync();
        _snapshot.Return(_lease);
    }
}
