using Dapper;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Reconciler.Watermarks;

namespace Peeq.Cdc.Reconciler.Rows;

/// <summary>A target table as the reconciler reads it: columns, key, and the lineage table beside it.</summary>
public sealed class TargetTableInfo
{
    public TargetTableInfo(TableInfo info, string? lineageTable)
    {
        Info = info;
        LineageTable = lineageTable;
        ColumnIndex = info.Columns.Select((c, i) => (c.Name, i)).ToDictionary(x => x.Name, x => x.i, StringComparer.Ordinal);
        KeyIndexes = info.KeyColumns.Select(k => ColumnIndex[k]).ToArray();
    }

    public TableInfo Info { get; }

    public TableId Id => Info.Id;

    public IReadOnlyList<ColumnInfo> Columns => Info.Columns;

    public IReadOnlyList<string> Key => Info.KeyColumns;

    public int[] KeyIndexes { get; }

    public Dictionary<string, int> ColumnIndex { get; }

    /// <summary>peeq_cdc.&lt;lineage table&gt;, or null when the Sink never wrote this table (or it has no key).</summary>
    public string? LineageTable { get; }

    public string? QuotedLineage => LineageTable is null ? null : $"{Sql.QuoteIdent(PipelineSchema.Schema)}.{Sql.QuoteIdent(LineageTable)}";

    public bool Keyless => Info.IsKeyless;

    /// <summary>The canonical text of a key, from the target's own text output.</summary>
    public string KeyOf(string?[] values)
    {
        if (KeyIndexes.Length == 1)
        {
            return values[KeyIndexes[0]] ?? "\u2400";
        }

        return string.Join('\u001f', KeyIndexes.Select(i => values[i] ?? "\u2400"));
    }

    /// <summary>The key as JSON (for reports), from the target's text output.</summary>
    public string KeyJson(string?[] values)
    {
        var o = new System.Text.Json.Nodes.JsonObject();
        foreach (var i in KeyIndexes)
        {
            o[Columns[i].Name] = values[i];
        }

        return o.ToJsonString();
    }
}

/// <summary>The target tables of one target snapshot, loaded on first use.</summary>
public sealed class TargetCatalog
{
    private readonly TargetSnapshot _snapshot;
    private readonly Dictionary<TableId, TargetTableInfo?> _tables = [];
    private Dictionary<TableId, string>? _lineage;

    public TargetCatalog(TargetSnapshot snapshot) => _snapshot = snapshot;

    public TargetSnapshot Snapshot => _snapshot;

    /// <summary>Every target table the Sink has written (it has a lineage table), with that lineage table's name.</summary>
    public async Task<IReadOnlyDictionary<TableId, string>> LineageTablesAsync(CancellationToken ct)
    {
        if (_lineage is null)
        {
            var exists = await _snapshot.Connection.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT to_regclass('peeq_cdc.lineage_tables') IS NOT NULL", transaction: _snapshot.Transaction, cancellationToken: ct));
            _lineage = [];
            if (exists)
            {
                foreach (var (table, lineage) in await _snapshot.Connection.QueryAsync<(string, string)>(new CommandDefinition(
                    "SELECT target_table, lineage_table FROM peeq_cdc.lineage_tables ORDER BY target_table", transaction: _snapshot.Transaction, cancellationToken: ct)))
                {
                    _lineage[TableId.Parse(table)] = lineage;
                }
            }
        }

        return _lineage;
    }

    public async Task<TargetTableInfo?> GetAsync(TableId id, CancellationToken ct)
    {
        if (_tables.TryGetValue(id, out var t))
        {
            return t;
        }

        var lineage = await LineageTablesAsync(ct);
        var infos = await Catalog.LoadTablesAsync(_snapshot.Connection, [id], ct);
        t = infos.TryGetValue(id, out var info) ? new TargetTableInfo(info, lineage.TryGetValue(id, out var l) ? l : null) : null;
        _tables[id] = t;
        return t;
    }
}
