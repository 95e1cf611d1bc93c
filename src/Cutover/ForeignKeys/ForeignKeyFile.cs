using System.Text.RegularExpressions;
using Peeq.Cdc.Configuration;

namespace Peeq.Cdc.Cutover.ForeignKeys;

/// <summary>One <c>ALTER TABLE t ADD CONSTRAINT name FOREIGN KEY ...</c> of a foreign-keys file.</summary>
/// <param name="Table">The table as the file names it (resolved with the target's search_path).</param>
/// <param name="Definition">Everything after the constraint name: <c>FOREIGN KEY (...) REFERENCES ...</c>.</param>
public sealed record ForeignKeyStatement(string Table, string Name, string Definition, int Line)
{
    /// <summary>The statement; <paramref name="notValid"/> adds it without checking the rows already there (a 'keep' decision).</summary>
    public string Sql(bool notValid) => $"ALTER TABLE {Table} ADD CONSTRAINT {Name} {Definition}{(notValid ? " NOT VALID" : "")}";
}

/// <summary>Reads schemas/target/&lt;database&gt;.foreign-keys.sql: comments, and one ADD CONSTRAINT ... FOREIGN KEY per statement.</summary>
public static partial class ForeignKeyFile
{
    public static (IReadOnlyList<ForeignKeyStatement> Statements, string From) Builtin(string database)
    {
        var name = database + ".foreign-keys.sql";
        using var stream = typeof(ForeignKeyFile).Assembly.GetManifestResourceStream(name);
        if (stream is null)
        {
            // A database without a constraints file (an identity target, a test): nothing to add.
            return ([], $"(no built-in {name})");
        }

        using var reader = new StreamReader(stream);
        return (Parse(reader.ReadToEnd(), name), $"schemas/target/{name} (built in)");
    }

    public static IReadOnlyList<ForeignKeyStatement> Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ConfigurationException($"{path}: the foreign-keys file does not exist");
        }

        return Parse(File.ReadAllText(path), path);
    }

    public static IReadOnlyList<ForeignKeyStatement> Parse(string text, string displayPath)
    {
        var result = new List<ForeignKeyStatement>();
        var errors = new List<string>();
        var current = new System.Text.StringBuilder();
        var startLine = 0;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var comment = line.IndexOf("--", StringComparison.Ordinal);
            var code = (comment >= 0 ? line[..comment] : line).Trim();
            if (code.Length == 0)
            {
                continue;
            }

            if (current.Length == 0)
            {
                startLine = i + 1;
            }

            current.Append(' ').Append(code);
            if (!code.EndsWith(';'))
            {
                continue;
            }

            var statement = Regex.Replace(current.ToString().Trim().TrimEnd(';'), @"\s+", " ");
            current.Clear();
            var m = AddConstraint().Match(statement);
            if (!m.Success)
            {
                errors.Add($"{displayPath}:{startLine}: expected ALTER TABLE <table> ADD CONSTRAINT <name> FOREIGN KEY ...; got: {statement}");
                continue;
            }

            result.Add(new ForeignKeyStatement(m.Groups["table"].Value, m.Groups["name"].Value, m.Groups["def"].Value, startLine));
        }

        if (current.Length > 0)
        {
            errors.Add($"{displayPath}:{startLine}: statement without a closing ';'");
        }

        if (errors.Count > 0)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, errors));
        }

        return result;
    }

    [GeneratedRegex(@"^ALTER TABLE (?<table>[A-Za-z_][A-Za-z0-9_.""]*) ADD CONSTRAINT (?<name>[A-Za-z_][A-Za-z0-9_]*) (?<def>FOREIGN KEY .+)$", RegexOptions.IgnoreCase)]
    private static partial Regex AddConstraint();
}
