using System.Text;
using Peeq.Cdc.Contracts;
using YamlDotNet.RepresentationModel;

namespace Peeq.Cdc.Schema;

/// <summary>One end of a reference: a table of a target database and its columns (in order).</summary>
public sealed record ReferenceEnd(string Database, TableId Table, IReadOnlyList<string> Columns);

/// <summary>
/// A reference between target rows (schemas/target/references.yaml): every non-NULL value of
/// <see cref="From"/> (each element when <see cref="Array"/>) must match a row of <see cref="To"/> that
/// satisfies <see cref="Where"/>. NULLs never dangle; with several columns, a row with any NULL is not
/// checked (MATCH SIMPLE, as the foreign key at cutover). <see cref="ForeignKey"/> names the constraint that
/// enforces it after cutover, or is null.
/// </summary>
public sealed record Reference(string Name, ReferenceEnd From, ReferenceEnd To, bool Array, string? Where, string? ForeignKey)
{
    /// <summary>Both ends in the same database: checkable with one query inside it.</summary>
    public bool IsWithinOneDatabase => From.Database == To.Database;

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
/// Loads schemas/target/references.yaml (embedded in Peeq.Cdc.Core, or a file): the model the Sink uses for
/// the references inside one target database and the reconciler for those across databases.
/// </summary>
public static class References
{
    /// <summary>The references of schemas/target/references.yaml as built into this version.</summary>
    public static IReadOnlyList<Reference> Default { get; } = LoadEmbedded();

    private static List<Reference> LoadEmbedded()
    {
        using var stream = typeof(References).Assembly.GetManifestResourceStream("references.yaml")
            ?? throw new InvalidOperationException("embedded resource references.yaml is missing");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return Parse(reader.ReadToEnd(), "references.yaml");
    }

    public static IReadOnlyList<Reference> LoadFile(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Parses the YAML; a malformed entry is a <see cref="FormatException"/> naming the file, line and problem.</summary>
    public static List<Reference> Parse(string yaml, string displayName)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(yaml))
        {
            stream.Load(reader);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root
            || !root.Children.TryGetValue(new YamlScalarNode("references"), out var list) || list is not YamlSequenceNode items)
        {
            throw new FormatException($"{displayName}: expected a mapping with a 'references:' list");
        }

        var result = new List<Reference>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var where = $"{displayName}:{item.Start.Line}";
            if (item is not YamlMappingNode m)
            {
                throw new FormatException($"{where}: a reference must be a mapping");
            }

            var name = Scalar(m, "name", where) ?? throw new FormatException($"{where}: 'name' is required");
            if (!names.Add(name))
            {
                throw new FormatException($"{where}: reference '{name}' is listed twice");
            }

            var from = End(m, "from", where);
            var to = End(m, "to", where);
            if (from.Columns.Count == 0 || from.Columns.Count != to.Columns.Count)
            {
                throw new FormatException($"{where}: reference '{name}': from and to need the same number of columns (at least one)");
            }

            var array = Scalar(m, "array", where) is "true";
            if (array && from.Columns.Count != 1)
            {
                throw new FormatException($"{where}: reference '{name}': an array reference has exactly one column");
            }

            result.Add(new Reference(name, from, to, array, Scalar(m, "where", where), Scalar(m, "foreignKey", where)));
        }

        return result;
    }

    private static ReferenceEnd End(YamlMappingNode m, string key, string where)
    {
        if (!m.Children.TryGetValue(new YamlScalarNode(key), out var node) || node is not YamlMappingNode end)
        {
            throw new FormatException($"{where}: '{key}' must be a mapping with database, table and columns");
        }

        var database = Scalar(end, "database", where) ?? throw new FormatException($"{where}: {key}.database is required");
        var table = Scalar(end, "table", where) ?? throw new FormatException($"{where}: {key}.table is required");
        if (!end.Children.TryGetValue(new YamlScalarNode("columns"), out var cols) || cols is not YamlSequenceNode seq)
        {
            throw new FormatException($"{where}: {key}.columns must be a list");
        }

        return new ReferenceEnd(database, TableId.Parse(table), seq.Select(c => ((YamlScalarNode)c).Value ?? "").ToList());
    }

    private static string? Scalar(YamlMappingNode m, string key, string where)
    {
        if (!m.Children.TryGetValue(new YamlScalarNode(key), out var node))
        {
            return null;
        }

        if (node is not YamlScalarNode s)
        {
            throw new FormatException($"{where}: '{key}' must be a single value");
        }

        return s.Value is null or "null" or "~" or "" ? null : s.Value;
    }
}
