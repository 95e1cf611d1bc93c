using System.Text.RegularExpressions;
using Npgsql;
using YamlDotNet.RepresentationModel;

namespace Peeq.Cdc.Workload;

/// <summary>
/// Where the 22 legacy databases live: one server for all, or a server per domain or per database.
/// A database is named <c>&lt;prefix&gt;&lt;key&gt;</c> (<c>legacy_group_profile</c>) on its server.
/// </summary>
public sealed partial class LegacyWorld
{
    public const string DefaultPrefix = "legacy_";

    private readonly Dictionary<string, string> _servers;

    private LegacyWorld(Dictionary<string, string> servers, string prefix)
    {
        _servers = servers;
        Prefix = prefix;
    }

    /// <summary>Prefix of every database name.</summary>
    public string Prefix { get; }

    /// <summary>All 22 databases.</summary>
    public IReadOnlyList<LegacyDatabase> Databases => LegacyCatalog.Databases;

    /// <summary>All 22 databases on one server (a connection string with a role that may create databases).</summary>
    public static LegacyWorld OnOneServer(string serverConnectionString, string prefix = DefaultPrefix) =>
        FromAssignments([("default", serverConnectionString)], prefix);

    /// <summary>
    /// Servers by name: <c>default</c>, a domain (<c>commerce</c>: all its databases) or a database key
    /// (<c>wallet</c>). The most specific assignment wins; every database must end up with a server.
    /// </summary>
    public static LegacyWorld FromAssignments(IEnumerable<(string Name, string ConnectionString)> assignments, string prefix = DefaultPrefix)
    {
        if (!ValidPrefix().IsMatch(prefix))
        {
            throw new ArgumentException($"database prefix '{prefix}' must be lower-case letters, digits and '_' (at most 40)", nameof(prefix));
        }

        var byName = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, cs) in assignments)
        {
            if (name != "default" && !LegacyCatalog.Domains.Contains(name) && LegacyCatalog.Databases.All(d => d.Key != name))
            {
                throw new ArgumentException(
                    $"'{name}' is neither 'default', a domain ({string.Join(", ", LegacyCatalog.Domains)}) nor a legacy database ({string.Join(", ", LegacyCatalog.Databases.Select(d => d.Key))})");
            }

            if (!byName.TryAdd(name, cs))
            {
                throw new ArgumentException($"server for '{name}' is given twice");
            }
        }

        var servers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var db in LegacyCatalog.Databases)
        {
            var cs = byName.GetValueOrDefault(db.Key) ?? byName.GetValueOrDefault(db.Domain) ?? byName.GetValueOrDefault("default")
                ?? throw new ArgumentException($"no server for legacy database '{db.Key}' (give one for '{db.Key}', its domain '{db.Domain}', or 'default')");
            try
            {
                _ = new NpgsqlConnectionStringBuilder(cs);
            }
            catch (ArgumentException e)
            {
                // Npgsql names the bad keyword without echoing the string (which may hold a password).
                throw new ArgumentException($"server for '{db.Key}': not a valid connection string: {e.Message}", e);
            }

            servers[db.Key] = cs;
        }

        return new LegacyWorld(servers, prefix);
    }

    /// <summary>
    /// Parses repeatable <c>--server</c> values: a bare connection string is the default server;
    /// <c>name=connection string</c> assigns one to a domain or database (names are never Npgsql keywords).
    /// </summary>
    public static LegacyWorld FromArguments(IEnumerable<string> servers, string prefix = DefaultPrefix) =>
        FromAssignments(servers.Select(ParseAssignment), prefix);

    /// <summary>Reads a YAML mapping of name (default, a domain or a database) to connection string; <c>${NAME}</c> comes from the environment.</summary>
    public static LegacyWorld FromFile(string path, string prefix = DefaultPrefix)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(path))
        {
            stream.Load(reader);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new ArgumentException($"{path}: expected a YAML mapping of default / domain / database to a connection string");
        }

        var list = new List<(string, string)>();
        foreach (var (k, v) in root.Children)
        {
            if (k is not YamlScalarNode { Value: { } name } || v is not YamlScalarNode { Value: { } cs })
            {
                throw new ArgumentException($"{path}:{k.Start.Line}: expected 'name: connection string'");
            }

            list.Add((name, ExpandEnvironment(cs, $"{path}:{k.Start.Line}")));
        }

        return FromAssignments(list, prefix);
    }

    /// <summary>The server connection string of a database (its maintenance database, for CREATE DATABASE).</summary>
    public string ServerConnectionString(LegacyDatabase db)
    {
        var b = new NpgsqlConnectionStringBuilder(_servers[db.Key]);
        if (string.IsNullOrEmpty(b.Database))
        {
            b.Database = "postgres";
        }

        return b.ConnectionString;
    }

    /// <summary>The connection string of a legacy database.</summary>
    public string ConnectionString(LegacyDatabase db) =>
        new NpgsqlConnectionStringBuilder(_servers[db.Key]) { Database = db.DatabaseName(Prefix) }.ConnectionString;

    public string ConnectionString(string key) => ConnectionString(LegacyCatalog.Get(key));

    private static (string, string) ParseAssignment(string value)
    {
        var m = Assignment().Match(value);
        if (m.Success && (m.Groups[1].Value == "default" || LegacyCatalog.Domains.Contains(m.Groups[1].Value)
                          || LegacyCatalog.Databases.Any(d => d.Key == m.Groups[1].Value)))
        {
            return (m.Groups[1].Value, m.Groups[2].Value);
        }

        return ("default", value);
    }

    private static string ExpandEnvironment(string value, string where) =>
        EnvReference().Replace(value, m => Environment.GetEnvironmentVariable(m.Groups[1].Value) is { } v
            ? v
            : throw new ArgumentException($"{where}: environment variable {m.Groups[1].Value} is not set"));

    [GeneratedRegex("^([a-z][a-z-]*)=(.+)$", RegexOptions.Singleline)]
    private static partial Regex Assignment();

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex EnvReference();

    [GeneratedRegex("^[a-z0-9_]{0,40}$")]
    private static partial Regex ValidPrefix();
}
