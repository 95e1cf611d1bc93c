using System.Text.RegularExpressions;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Transform.Mapping.Declarative;
using Peeq.Cdc.Transform.Mapping.Language;

namespace Peeq.Cdc.Tests.Unit.Mapping;

/// <summary>
/// Reads the CREATE TABLE statements of schemas/legacy and schemas/target into mapping catalogs, so the
/// mapping files can be checked without a server (the integration tests check them against live catalogs).
/// </summary>
public static partial class SchemaFiles
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Peeq.Cdc.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (Peeq.Cdc.sln) above " + AppContext.BaseDirectory);
    }

    /// <summary>The mapping source name of each legacy schema file (the file name without .sql).</summary>
    public static IReadOnlyDictionary<string, string> LegacyFiles =>
        Directory.GetFiles(Path.Combine(Root, "schemas", "legacy"), "*.sql").ToDictionary(f => Path.GetFileNameWithoutExtension(f), f => f);

    public static List<CatalogTable> Tables(string sqlFile)
    {
        var sql = CommentLine().Replace(File.ReadAllText(sqlFile), "");
        var result = new List<CatalogTable>();
        foreach (Match m in CreateTable().Matches(sql))
        {
            var name = m.Groups["name"].Value;
            var body = Body(sql, m.Index + m.Length - 1);
            var columns = new List<CatalogColumn>();
            var key = new List<string>();
            foreach (var part in SplitTopLevel(body))
            {
                var item = part.Trim();
                if (item.Length == 0)
                {
                    continue;
                }

                var pk = PrimaryKey().Match(item);
                if (pk.Success && (item.StartsWith("CONSTRAINT", StringComparison.OrdinalIgnoreCase) || item.StartsWith("PRIMARY", StringComparison.OrdinalIgnoreCase)))
                {
                    key.AddRange(pk.Groups["cols"].Value.Split(',').Select(c => c.Trim()));
                    continue;
                }

                if (Regex.IsMatch(item, "^(CONSTRAINT|UNIQUE|CHECK|FOREIGN)\\b", RegexOptions.IgnoreCase))
                {
                    continue;
                }

                var col = ColumnDef().Match(item);
                var colName = col.Groups["name"].Value;
                var typeText = col.Groups["type"].Value.Trim().ToLowerInvariant();
                var serial = typeText is "bigserial" or "serial";
                var type = SqlType.Parse(typeText switch { "bigserial" => "bigint", "serial" => "integer", _ => typeText });
                var rest = col.Groups["rest"].Value;
                var inlinePk = rest.Contains("PRIMARY KEY", StringComparison.OrdinalIgnoreCase);
                if (inlinePk)
                {
                    key.Add(colName);
                }

                columns.Add(new CatalogColumn(colName, type,
                    inlinePk || serial || rest.Contains("NOT NULL", StringComparison.OrdinalIgnoreCase),
                    serial || rest.Contains("DEFAULT", StringComparison.OrdinalIgnoreCase)));
            }

            result.Add(new CatalogTable(new TableId("public", name), columns, key));
        }

        return result;
    }

    /// <summary>A catalog for one target: its tables, and every legacy source that the mapping file lists, capturing all its tables.</summary>
    public static MappingCatalog CatalogFor(MappingFile file)
    {
        var catalog = new MappingCatalog();
        foreach (var t in Tables(Path.Combine(Root, "schemas", "target", file.Target + ".sql")))
        {
            catalog.TargetTables[t.Id] = t;
        }

        foreach (var source in file.Sources)
        {
            var tables = Tables(LegacyFiles[source]);
            catalog.Captured[source] = tables.Select(t => t.Id).ToHashSet();
            foreach (var t in tables)
            {
                catalog.SourceTables[(source, t.Id)] = t;
            }
        }

        return catalog;
    }

    private static string Body(string sql, int open)
    {
        var depth = 0;
        for (var i = open; i < sql.Length; i++)
        {
            if (sql[i] == '(')
            {
                depth++;
            }
            else if (sql[i] == ')' && --depth == 0)
            {
                return sql[(open + 1)..i];
            }
        }

        throw new FormatException("unbalanced parentheses");
    }

    private static IEnumerable<string> SplitTopLevel(string body)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] == '(')
            {
                depth++;
            }
            else if (body[i] == ')')
            {
                depth--;
            }
            else if (body[i] == ',' && depth == 0)
            {
                yield return body[start..i];
                start = i + 1;
            }
        }

        yield return body[start..];
    }

    [GeneratedRegex("--[^\n]*")]
    private static partial Regex CommentLine();

    [GeneratedRegex(@"CREATE TABLE (?:IF NOT EXISTS )?(?<name>[a-z_][a-z0-9_]*)\s*\(", RegexOptions.IgnoreCase)]
    private static partial Regex CreateTable();

    [GeneratedRegex(@"PRIMARY KEY\s*\((?<cols>[^)]*)\)", RegexOptions.IgnoreCase)]
    private static partial Regex PrimaryKey();

    [GeneratedRegex(@"^(?<name>[a-z_][a-z0-9_]*)\s+(?<type>(?:[a-z]+(?: varying| precision| with time zone| without time zone)?)(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])?)(?<rest>.*)$", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex ColumnDef();
}
