using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Transform.Mapping.Declarative;

namespace Peeq.Cdc.Transform.Mapping;

/// <summary>
/// Loads each target's mapping: <c>identity</c>, or a mapping file checked against the live catalogs of
/// the target and of every source that feeds it (unknown tables and columns, types that cannot go into
/// their target column, tables neither mapped nor excluded: each an error naming file:line:column).
/// </summary>
public static class MappingLoader
{
    public static async Task<IReadOnlyDictionary<string, ITargetMapping>> LoadAsync(PipelineConfig config, CancellationToken ct)
    {
        var result = new Dictionary<string, ITargetMapping>();
        var problems = new List<string>();
        foreach (var t in config.Options.Targets)
        {
            if (t.IsIdentity)
            {
                result[t.Name] = new IdentityMapping(t.Name, config.Options.Sources.Where(s => s.Target == t.Name).ToDictionary(s => s.Name, s => s.TargetSchema));
                continue;
            }

            try
            {
                var (mapping, _) = await BindAsync(config, t, ct);
                result[t.Name] = mapping;
            }
            catch (MappingFileException e)
            {
                problems.AddRange(e.Problems);
            }
        }

        if (problems.Count > 0)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, problems));
        }

        return result;
    }

    /// <summary>Loads and checks one target's mapping file against the live catalogs.</summary>
    public static async Task<(DeclarativeMapping Mapping, MappingCheck Check)> BindAsync(PipelineConfig config, TargetOptions target, CancellationToken ct)
    {
        var path = config.Resolve(target.Mapping);
        var file = MappingFile.Load(path, target.Mapping);
        var catalog = await LoadCatalogAsync(config.Options, target, file, ct);
        var mapping = DeclarativeMapping.Bind(target.Name, file, catalog, out var check);
        return (mapping, check);
    }

    /// <summary>Reads the tables the file and the configuration name from the target and each of its sources.</summary>
    public static async Task<MappingCatalog> LoadCatalogAsync(PipelineOptions options, TargetOptions target, MappingFile file, CancellationToken ct)
    {
        var catalog = new MappingCatalog();
        foreach (var s in options.Sources.Where(s => s.Target == target.Name))
        {
            var captured = s.Tables.Select(t => TableId.Parse(t)).ToHashSet();
            catalog.Captured[s.Name] = captured;
            var sensitive = new HashSet<(TableId, string)>();
            foreach (var c in s.SensitiveColumns)
            {
                if (ColumnRef.TryParse(c, out var col, out _))
                {
                    sensitive.Add((col.Table, col.Column));
                }
            }

            catalog.Sensitive[s.Name] = sensitive;
            var wanted = file.SourceTables().Where(x => x.Source == s.Name).Select(x => x.Table).Concat(captured).Distinct().ToList();
            await using var conn = await PgConnections.OpenAsync(s.ConnectionString, $"source '{s.Name}' (checking mapping file {target.Mapping})", ct);
            foreach (var (id, info) in await Catalog.LoadTablesAsync(conn, wanted, ct))
            {
                catalog.SourceTables[(s.Name, id)] = CatalogTable.From(info);
            }
        }

        var targetTables = file.Tables.Select(t => t.Table).Where(t => t != CatalogTable.IdentityMap.Id).Distinct().ToList();
        await using (var conn = await PgConnections.OpenAsync(target.ConnectionString, $"target '{target.Name}' (checking mapping file {target.Mapping})", ct))
        {
            foreach (var (id, info) in await Catalog.LoadTablesAsync(conn, targetTables, ct))
            {
                catalog.TargetTables[id] = CatalogTable.From(info);
            }
        }

        return catalog;
    }
}
