using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Peeq.Cdc.Schema;

/// <summary>One end of a reference: a table of a target database and the columns that refer or are referred to.</summary>
public sealed record ReferenceEnd(string Database, TableId Table, IReadOnlyList<string> Columns)
{
    public override string ToString() => $"{Database}.{Table.Name}({string.Join(", ", Columns)})";
}

/// <summary>
/// A reference between target tables (schemas/target/references.yaml): every non-NULL value of
/// <see cref="From"/> (each element, for an <see cref="Array"/> column) must exist in <see cref="To"/>,
/// among the rows that satisfy <see cref="Where"/>. It may cross databases, where no constraint can hold it.
/// </summary>
public sealed record Reference(string Name, ReferenceEnd From, ReferenceEnd To, bool Array, string? Where, string? ForeignKey, int Line)
{
    public bool CrossDatabase => From.Database != To.Database;

    /// <summary>Both ends in the same database: checkable with one query inside it (the Sink's dangling-reference views).</summary>
    public bool IsWithinOneDatabase => !CrossDatabase;

    /// <summary>
    /// A query over the from table listing its dangling rows: the from table's <paramref name="keyColumns"/>
    /// and the reference's columns (for an array reference, each dangling element as <c>dangling_value</c>).
    /// Both tables must be in the database the query runs in.
    /// </summary>
    public string DanglingQuery(IReadOnlyList<string> keyColumns)
    {
        var f = "f";
        var t = "t";
        var select = keyColumns.Concat(From.Columns.Where(c => !keyColumns.Contains(c))).Select(c => $"{f}.{Sql.QuoteIdent(c)}").ToList();
        var where = Where is null ? "" : $" AND ({Where})";
        if (Array)
        {
            // One row per dangling element.
            var col = Sql.QuoteIdent(From.Columns[0]);
            select.Add("e.value AS dangling_value");
            return $"SELECT {string.Join(", ", select)} FROM {From.Table.Quoted} {f} CROSS JOIN LATERAL unnest({f}.{col}) AS e(value) "
                + $"WHERE e.value IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {To.Table.Quoted} {t} WHERE {t}.{Sql.QuoteIdent(To.Columns[0])} = e.value{where})";
        }

        var notNull = string.Join(" AND ", From.Columns.Select(c => $"{f}.{Sql.QuoteIdent(c)} IS NOT NULL"));
        var match = string.Join(" AND ", From.Columns.Zip(To.Columns).Select(p => $"{t}.{Sql.QuoteIdent(p.Second)} = {f}.{Sql.QuoteIdent(p.First)}"));
        return $"SELECT {string.Join(", ", select)} FROM {From.Table.Quoted} {f} WHERE {notNull} AND NOT EXISTS (SELECT 1 FROM {To.Table.Quoted} {t} WHERE {match}{where})";
    }
}

/// <summary>
/// Reads references.yaml, with file:line in every error: the model the Sink uses for the references inside one
/// target database (its dangling-reference views) and the reconciler for all of them, across databases too.
/// </summary>
public static class References
{
    /// <summary>The references of schemas/target/references.yaml as built into this version (embedded in Peeq.Cdc.Core).</summary>
    public static IReadOnlyList<Reference> Default { get; } = LoadEmbedded();

    private static IReadOnlyList<Reference> LoadEmbedded()
    {
        using var stream = typeof(References).Assembly.GetManifestResourceStream("references.yaml")
            ?? throw new InvalidOperationException("embedded resource references.yaml is missing");
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8);
        return Parse(reader.ReadToEnd(), "references.yaml");
    }

    public static IReadOnlyList<Reference> Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ConfigurationException($"{path}: the references file does not exist");
        }

        return Parse(File.ReadAllText(path), path);
    }

    public static IReadOnlyList<Reference> Parse(string text, string displayPath)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new ConfigurationException($"{displayPath}:{e.Start.Line}: not valid YAML: {e.InnerException?.Message ?? e.Message}", e);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root
            || !root.Children.TryGetValue(new YamlScalarNode("references"), out var list) || list is not YamlSequenceNode items)
        {
            throw new ConfigurationException($"{displayPath}: expected a top-level 'references:' list");
        }

        var errors = new List<string>();
        var result = new List<Reference>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items.Children)
        {
            var line = (int)item.Start.Line;
            string At() => $"{displayPath}:{line}";
            if (item is not YamlMappingNode map)
            {
                errors.Add($"{At()}: each reference must be a mapping");
                continue;
            }

            var name = Scalar(map, "name");
            if (string.IsNullOrEmpty(name))
            {
                errors.Add($"{At()}: a reference needs a name");
                continue;
            }

            if (!names.Add(name))
            {
                errors.Add($"{At()}: reference '{name}' is listed twice");
            }

            foreach (var key in map.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value ?? ""))
            {
                if (key is not ("name" or "from" or "to" or "array" or "where" or "foreignKey"))
                {
                    errors.Add($"{At()}: {name}: unknown key '{key}' (known: name, from, to, array, where, foreignKey)");
                }
            }

            var from = End(map, "from", name, At, errors);
            var to = End(map, "to", name, At, errors);
            if (from is null || to is null)
            {
                continue;
            }

            if (from.Columns.Count != to.Columns.Count)
            {
                errors.Add($"{At()}: {name}: from has {from.Columns.Count} column(s) and to has {to.Columns.Count}; they must pair up");
                continue;
            }

            var array = Scalar(map, "array") is "true";
            if (array && from.Columns.Count != 1)
            {
                errors.Add($"{At()}: {name}: an array reference has exactly one column");
                continue;
            }

            var where = Scalar(map, "where");
            result.Add(new Reference(name, from, to, array, where is null or "null" or "" ? null : where, NullIfNull(Scalar(map, "foreignKey")), line));
        }

        if (errors.Count > 0)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, errors));
        }

        return result;
    }

    private static string? NullIfNull(string? s) => s is null or "null" or "~" or "" ? null : s;

    private static ReferenceEnd? End(YamlMappingNode map, string key, string name, Func<string> at, List<string> errors)
    {
        if (!map.Children.TryGetValue(new YamlScalarNode(key), out var node) || node is not YamlMappingNode end)
        {
            errors.Add($"{at()}: {name}: '{key}' must be a mapping with database, table and columns");
            return null;
        }

        var database = Scalar(end, "database");
        var table = Scalar(end, "table");
        var columns = end.Children.TryGetValue(new YamlScalarNode("columns"), out var c) && c is YamlSequenceNode seq
            ? seq.Children.OfType<YamlScalarNode>().Select(s => s.Value ?? "").Where(s => s.Length > 0).ToList()
            : [];
        if (string.IsNullOrEmpty(database) || string.IsNullOrEmpty(table) || columns.Count == 0)
        {
            errors.Add($"{at()}: {name}: '{key}' needs database, table and at least one column");
            return null;
        }

        if (!TableId.TryParse(table, "public", out var id, out var error))
        {
            errors.Add($"{at()}: {name}: {key}.table: {error}");
            return null;
        }

        return new ReferenceEnd(database, id, columns);
    }

    private static string? Scalar(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var v) && v is YamlScalarNode s
            ? s.Style == ScalarStyle.Plain && s.Value is "~" ? null : s.Value
            : null;
}
