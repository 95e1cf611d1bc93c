using System.CommandLine;
using Peeq.Cdc.Workload;

namespace Peeq.Cdc.Cli.Commands;

/// <summary>Where the 22 legacy databases live (seed-data and workload share these options).</summary>
public sealed class LegacyWorldOptions
{
    public Option<string[]> Server { get; } = new("--server")
    {
        Description = "A PostgreSQL server (Npgsql connection string, a role that may create databases). Repeatable: "
            + "'name=connection string' puts a domain (users, media, commerce, events, platform, encryption) or one database (wallet, ...) on its own server",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<FileInfo?> ServersFile { get; } = new("--servers-file")
    {
        Description = "YAML mapping of default / domain / database to a connection string (${ENV} references allowed)",
    };

    public Option<string> Prefix { get; } = new("--database-prefix")
    {
        Description = "Prefix of the database names (legacy_ gives legacy_wallet, legacy_group_profile, ...)",
        DefaultValueFactory = _ => LegacyWorld.DefaultPrefix,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Server);
        command.Options.Add(ServersFile);
        command.Options.Add(Prefix);
    }

    /// <summary>The world the options describe, or null when no server was given.</summary>
    public LegacyWorld? Resolve(ParseResult parse)
    {
        var prefix = parse.GetValue(Prefix) ?? LegacyWorld.DefaultPrefix;
        var servers = parse.GetValue(Server) ?? [];
        var file = parse.GetValue(ServersFile);
        if (file is not null && servers.Length > 0)
        {
            throw new ArgumentException("give either --server or --servers-file, not both");
        }

        if (file is not null)
        {
            return LegacyWorld.FromFile(file.FullName, prefix);
        }

        return servers.Length == 0 ? null : LegacyWorld.FromArguments(servers, prefix);
    }
}
