using Peeq.Cdc.Contracts;
using Peeq.Cdc.Transform.Mapping.Language;

namespace Peeq.Cdc.Transform.Mapping.Declarative;

public sealed record CatalogColumn(string Name, SqlType Type, bool NotNull, bool HasDefault);

/// <summary>A table as a mapping sees it: columns with types, and the key (primary key order).</summary>
public sealed record CatalogTable(TableId Id, IReadOnlyList<CatalogColumn> Columns, IReadOnlyList<string> Key)
{
    public CatalogColumn? Column(string name) => Columns.FirstOrDefault(c => c.Name == name);

    public static CatalogTable From(Peeq.Cdc.Postgres.TableInfo info) => new(
        info.Id,
        info.Columns.Select(c => new CatalogColumn(c.Name, SqlType.Parse(c.TypeSql), c.NotNull, c.HasDefault)).ToList(),
        info.KeyColumns);

    /// <summary>peeq_cdc.identity_map (schemas/target/peeq_cdc.sql), which the Sink creates in every target.</summary>
    public static readonly CatalogTable IdentityMap = new(
        new TableId("peeq_cdc", "identity_map"),
        [
            new CatalogColumn("kind", SqlType.Text, true, false),
            new CatalogColumn("legacy_key", SqlType.Text, true, false),
            new CatalogColumn("id", SqlType.Uuid, true, false),
            new CatalogColumn("source", SqlType.Text, true, false),
            new CatalogColumn("created_at", SqlType.Timestamptz, true, true),
        ],
        ["kind", "legacy_key"]);
}

/// <summary>
/// What a mapping is checked and bound against: the source tables of each source, the target's tables,
/// which source columns are sensitive, and which tables each source captures (from the config).
/// </summary>
public sealed class MappingCatalog
{
    public Dictionary<(string Source, TableId Table), CatalogTable> SourceTables { get; } = [];

    public Dictionary<TableId, CatalogTable> TargetTables { get; } = [];

    /// <summary>Per source, its sensitive columns (table, column).</summary>
    public Dictionary<string, HashSet<(TableId Table, string Column)>> Sensitive { get; } = [];

    /// <summary>Per configured source of this target, the tables it captures; sources absent here are not checked for coverage.</summary>
    public Dictionary<string, HashSet<TableId>> Captured { get; } = [];

    public bool IsSensitive(string source, TableId table, string column) =>
        Sensitive.TryGetValue(source, out var set) && set.Contains((table, column));
}
