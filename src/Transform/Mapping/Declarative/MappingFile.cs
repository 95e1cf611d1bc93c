using Peeq.Cdc.Contracts;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Peeq.Cdc.Transform.Mapping.Declarative;

/// <summary>A place in a mapping file (1-based line and column), for error messages.</summary>
public readonly record struct FilePosition(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}

/// <summary>Everything wrong with a mapping file (or its fit to the catalogs), one message per problem, each naming file:line:column.</summary>
public sealed class MappingFileException(IReadOnlyList<string> problems)
    : Exception(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>An expression as written in the file, with where it starts (so an error can point into it).</summary>
public sealed record ExprText(string Text, FilePosition Position, int QuoteWidth)
{
    /// <summary>The file position of a character offset inside the expression (exact on one-line scalars).</summary>
    public FilePosition At(int offset) => Text.Contains('\n', StringComparison.Ordinal)
        ? Position
        : Position with { Column = Position.Column + QuoteWidth + offset };
}

public enum ConflictRule
{
    /// <summary>Two sources claiming one key: the later one is parked (the Sink's default).</summary>
    Park,
    /// <summary>The source earlier in <see cref="ConflictSpec.Order"/> owns the row; the other's claim is kept, shadowed.</summary>
    Priority,
}

public sealed record ConflictSpec(ConflictRule Rule, IReadOnlyList<string> Order, string? Note, FilePosition Position);

/// <summary>An array column whose elements become one target row each (a join table), named by an alias.</summary>
public sealed record ExplodeSpec(ExprText Column, string As, FilePosition Position);

/// <summary>One source table feeding a target table.</summary>
public sealed record FromSpec(
    string Source,
    TableId Table,
    string? Note,
    ExprText? Where,
    ExplodeSpec? Explode,
    IReadOnlyList<KeyValuePair<string, ExprText>> Columns,
    IReadOnlyDictionary<string, string> Drop,
    FilePosition Position);

public sealed record TargetTableSpec(TableId Table, IReadOnlyList<string>? Key, ConflictSpec? Conflict, string? Note, IReadOnlyList<FromSpec> From, FilePosition Position);

/// <summary>Registrations in peeq_cdc.identity_map of one kind: legacy key → id, from source rows.</summary>
public sealed record IdentitySpec(string Kind, ConflictSpec? Conflict, string? Note, IReadOnlyList<FromSpec> From, FilePosition Position);

public sealed record ExcludeSpec(string Source, TableId Table, string Reason, FilePosition Position);

/// <summary>Where the seed is incomplete or contradicts itself (<paramref name="Seed"/>), and what the mapping does about it.</summary>
public sealed record DecisionSpec(string Seed, string Decision, FilePosition Position);

/// <summary>
/// One mapping file (one target database), as written: target tables with the source tables that feed
/// them, identity registrations and excluded source tables. Parsed with positions so every error names
/// file, line and column. See docs/mappings.md for the format.
/// </summary>
public sealed record MappingFile(
    string Path,
    string DisplayPath,
    string Target,
    string? Description,
    IReadOnlyList<string> Sources,
    IReadOnlyList<TargetTableSpec> Tables,
    IReadOnlyList<IdentitySpec> Identities,
    IReadOnlyList<ExcludeSpec> Excludes,
    IReadOnlyList<DecisionSpec>? Decisions = null)
{
    public static MappingFile Load(string path, string? displayPath = null)
    {
        var display = displayPath ?? path;
        if (!File.Exists(path))
        {
            throw new MappingFileException([$"{display}: the mapping file does not exist"]);
        }

        return Parse(File.ReadAllText(path), path, display);
    }

    public static MappingFile Parse(string yaml, string path, string display)
    {
        var stream = new YamlStream();
        try
        {
            using var reader = new StringReader(yaml);
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            throw new MappingFileException([$"{display}:{e.Start.Line}:{e.Start.Column}: not valid YAML: {e.InnerException?.Message ?? e.Message}"]);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new MappingFileException([$"{display}:1:1: a mapping file is a YAML mapping (target:, sources:, tables:, identities:, exclude:)"]);
        }

        var r = new Reader(display);
        var file = r.File(root, path);
        if (r.Errors.Count > 0)
        {
            throw new MappingFileException(r.Errors);
        }

        return file;
    }

    /// <summary>Every (source, table) the file maps, identifies or excludes.</summary>
    public IEnumerable<(string Source, TableId Table)> SourceTables() =>
        Tables.SelectMany(t => t.From).Concat(Identities.SelectMany(i => i.From)).Select(f => (f.Source, f.Table))
            .Concat(Excludes.Select(e => (e.Source, e.Table)))
            .Distinct();

    private sealed class Reader(string display)
    {
        public List<string> Errors { get; } = [];

        private FilePosition Pos(YamlNode n) => new(display, (int)n.Start.Line, (int)n.Start.Column);

        private void Error(YamlNode n, string message) => Errors.Add($"{Pos(n)}: {message}");

        public MappingFile File(YamlMappingNode root, string path)
        {
            Keys(root, "mapping file", "target", "description", "sources", "tables", "identities", "exclude", "decisions");
            var target = Scalar(root, "target", required: true) ?? "";
            var sources = StringList(root, "sources");
            var tables = new List<TargetTableSpec>();
            if (Child(root, "tables") is { } tablesNode)
            {
                if (tablesNode is not YamlSequenceNode seq)
                {
                    Error(tablesNode, "tables: a list of target tables (- table: name)");
                }
                else
                {
                    foreach (var item in seq.Children)
                    {
                        if (item is YamlMappingNode m)
                        {
                            tables.Add(Table(m, sources));
                        }
                        else
                        {
                            Error(item, "each entry of tables is a mapping (table:, from:, ...)");
                        }
                    }
                }
            }

            var identities = new List<IdentitySpec>();
            foreach (var m in Mappings(root, "identities"))
            {
                Keys(m, "identity", "kind", "note", "conflict", "from");
                var kind = Scalar(m, "kind", required: true) ?? "";
                identities.Add(new IdentitySpec(kind, Conflict(m, sources), Scalar(m, "note"),
                    Mappings(m, "from").Select(f => From(f, sources, identity: true)).ToList(), Pos(m)));
            }

            var excludes = new List<ExcludeSpec>();
            foreach (var m in Mappings(root, "exclude"))
            {
                Keys(m, "exclude entry", "source", "table", "reason");
                var source = SourceName(m, sources);
                var table = TableName(m, "table");
                var reason = Scalar(m, "reason", required: true) ?? "";
                if (reason.Trim().Length < 10)
                {
                    Error(m, "exclude: the reason must say why (at least a sentence)");
                }

                excludes.Add(new ExcludeSpec(source, table, reason.Trim(), Pos(m)));
            }

            var decisions = new List<DecisionSpec>();
            foreach (var m in Mappings(root, "decisions"))
            {
                Keys(m, "decision", "seed", "decision");
                var seed = Scalar(m, "seed", required: true) ?? "";
                var decision = Scalar(m, "decision", required: true) ?? "";
                if (seed.Trim().Length < 10 || decision.Trim().Length < 10)
                {
                    Error(m, "decisions: say what the seed says or lacks (seed:) and what the mapping does (decision:), a sentence each");
                }

                decisions.Add(new DecisionSpec(seed.Trim(), decision.Trim(), Pos(m)));
            }

            return new MappingFile(path, display, target, Scalar(root, "description")?.Trim(), sources, tables, identities, excludes, decisions);
        }

        private TargetTableSpec Table(YamlMappingNode m, IReadOnlyList<string> sources)
        {
            Keys(m, "target table", "table", "key", "conflict", "note", "from");
            var table = TableName(m, "table");
            var key = Child(m, "key") is null ? null : StringList(m, "key");
            var from = Mappings(m, "from").Select(f => From(f, sources, identity: false)).ToList();
            if (from.Count == 0)
            {
                Error(m, $"table {table}: 'from' lists no source table");
            }

            return new TargetTableSpec(table, key, Conflict(m, sources), Scalar(m, "note")?.Trim(), from, Pos(m));
        }

        private ConflictSpec? Conflict(YamlMappingNode m, IReadOnlyList<string> sources)
        {
            if (Child(m, "conflict") is not { } node)
            {
                return null;
            }

            if (node is not YamlMappingNode c)
            {
                Error(node, "conflict: {rule: priority, order: [source, ...]} or {rule: park}");
                return null;
            }

            Keys(c, "conflict", "rule", "order", "note");
            var ruleText = Scalar(c, "rule", required: true);
            var rule = ruleText switch
            {
                "priority" => ConflictRule.Priority,
                "park" => ConflictRule.Park,
                _ => ConflictRule.Park,
            };
            if (ruleText is not (null or "priority" or "park"))
            {
                Error(c, $"conflict.rule: '{ruleText}' is not a rule (priority or park)");
            }

            var order = StringList(c, "order");
            if (rule == ConflictRule.Priority && order.Count < 2)
            {
                Error(c, "conflict: a priority rule orders at least two sources (order: [first, second])");
            }

            foreach (var s in order.Where(s => !sources.Contains(s)))
            {
                Error(c, $"conflict.order: '{s}' is not among this file's sources ({string.Join(", ", sources)})");
            }

            return new ConflictSpec(rule, order, Scalar(c, "note")?.Trim(), Pos(c));
        }

        private FromSpec From(YamlMappingNode m, IReadOnlyList<string> sources, bool identity)
        {
            if (identity)
            {
                Keys(m, "identity source", "source", "table", "note", "where", "legacy_key", "id");
            }
            else
            {
                Keys(m, "source table", "source", "table", "note", "where", "explode", "columns", "drop");
            }

            var source = SourceName(m, sources);
            var table = TableName(m, "table");
            var where = Expr(m, "where");
            ExplodeSpec? explode = null;
            if (Child(m, "explode") is { } e)
            {
                if (e is YamlMappingNode em)
                {
                    Keys(em, "explode", "column", "as");
                    var col = Expr(em, "column");
                    var alias = Scalar(em, "as", required: true) ?? "";
                    if (col is null)
                    {
                        Error(em, "explode: 'column' names the array column (or an expression giving an array)");
                    }
                    else
                    {
                        explode = new ExplodeSpec(col, alias, Pos(em));
                    }
                }
                else
                {
                    Error(e, "explode: {column: array_column, as: element_name}");
                }
            }

            var columns = new List<KeyValuePair<string, ExprText>>();
            if (identity)
            {
                foreach (var name in new[] { "legacy_key", "id" })
                {
                    var x = Expr(m, name);
                    if (x is null)
                    {
                        Error(m, $"identity: '{name}' is required");
                    }
                    else
                    {
                        columns.Add(new(name, x));
                    }
                }
            }
            else if (Child(m, "columns") is YamlMappingNode cols)
            {
                foreach (var (k, v) in cols.Children)
                {
                    var name = ((YamlScalarNode)k).Value ?? "";
                    if (columns.Any(c => c.Key == name))
                    {
                        Error(k, $"column '{name}' is mapped twice");
                    }

                    if (v is YamlScalarNode s && s.Value is { Length: > 0 })
                    {
                        columns.Add(new(name, Text(s)));
                    }
                    else
                    {
                        Error(v, $"column '{name}': an expression is required (a source column, 'constant', or a function)");
                    }
                }
            }
            else
            {
                Error(m, "columns: a mapping of target column → expression is required");
            }

            var drop = new Dictionary<string, string>(StringComparer.Ordinal);
            if (Child(m, "drop") is { } d)
            {
                if (d is YamlMappingNode dm)
                {
                    foreach (var (k, v) in dm.Children)
                    {
                        drop[((YamlScalarNode)k).Value ?? ""] = (v as YamlScalarNode)?.Value?.Trim() ?? "";
                        if (((v as YamlScalarNode)?.Value ?? "").Trim().Length < 5)
                        {
                            Error(v, $"drop: column '{((YamlScalarNode)k).Value}' needs a reason");
                        }
                    }
                }
                else
                {
                    Error(d, "drop: a mapping of source column → why it is not carried");
                }
            }

            return new FromSpec(source, table, Scalar(m, "note")?.Trim(), where, explode, columns, drop, Pos(m));
        }

        private string SourceName(YamlMappingNode m, IReadOnlyList<string> sources)
        {
            var s = Scalar(m, "source", required: true) ?? "";
            if (s.Length > 0 && !sources.Contains(s))
            {
                Error(Child(m, "source")!, $"source '{s}' is not listed in this file's sources ({string.Join(", ", sources)})");
            }

            return s;
        }

        private TableId TableName(YamlMappingNode m, string key)
        {
            var text = Scalar(m, key, required: true) ?? "";
            if (text.Length == 0)
            {
                return new TableId("public", "?");
            }

            if (TableId.TryParse(text, "public", out var id, out var error))
            {
                return id;
            }

            Error(Child(m, key)!, error);

            return new TableId("public", "?");
        }

        private ExprText? Expr(YamlMappingNode m, string key) => Child(m, key) switch
        {
            null => null,
            YamlScalarNode { Value.Length: > 0 } s => Text(s),
            var n => Fail(n, $"{key}: an expression is required"),
        };

        private ExprText? Fail(YamlNode n, string message)
        {
            Error(n, message);
            return null;
        }

        private ExprText Text(YamlScalarNode s) => new(s.Value!, Pos(s), s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted ? 1 : 0);

        private static YamlNode? Child(YamlMappingNode m, string key) =>
            m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

        private string? Scalar(YamlMappingNode m, string key, bool required = false)
        {
            var n = Child(m, key);
            if (n is null)
            {
                if (required)
                {
                    Error(m, $"'{key}' is required");
                }

                return null;
            }

            if (n is YamlScalarNode s)
            {
                return s.Value;
            }

            Error(n, $"'{key}' must be a single value");
            return null;
        }

        private List<string> StringList(YamlMappingNode m, string key)
        {
            var n = Child(m, key);
            if (n is null)
            {
                return [];
            }

            if (n is YamlSequenceNode seq)
            {
                return seq.Children.OfType<YamlScalarNode>().Select(s => s.Value ?? "").ToList();
            }

            Error(n, $"'{key}' must be a list ([a, b])");
            return [];
        }

        private IEnumerable<YamlMappingNode> Mappings(YamlMappingNode m, string key)
        {
            var n = Child(m, key);
            if (n is null)
            {
                yield break;
            }

            if (n is not YamlSequenceNode seq)
            {
                Error(n, $"'{key}' must be a list");
                yield break;
            }

            foreach (var item in seq.Children)
            {
                if (item is YamlMappingNode child)
                {
                    yield return child;
                }
                else
                {
                    Error(item, $"each entry of '{key}' must be a mapping");
                }
            }
        }

        private void Keys(YamlMappingNode m, string what, params string[] allowed)
        {
            foreach (var k in m.Children.Keys.OfType<YamlScalarNode>())
            {
                if (!allowed.Contains(k.Value))
                {
                    var hint = Language.ColumnExpr.Closest(k.Value ?? "", allowed);
                    Error(k, $"unknown key '{k.Value}' in {what}" + (hint is null ? "" : $" (did you mean '{hint}'?)") + $"; allowed: {string.Join(", ", allowed)}");
                }
            }
        }
    }
}
