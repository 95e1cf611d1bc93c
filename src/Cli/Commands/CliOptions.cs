using System.CommandLine;
using Microsoft.Extensions.Logging;

namespace Peeq.Cdc.Cli.Commands;

/// <summary>Options several commands share.</summary>
public static class CliOptions
{
    public static Option<FileInfo> Config() => new("--config", "-c")
    {
        Description = "The pipeline configuration file (YAML; see docs/configuration.md)",
        Required = true,
    };

    public static Option<string?> Http() => new("--http")
    {
        Description = "Where to serve /metrics and /healthz (default: the config's http.urls; 'off' to disable)",
    };

    public static Option<LogLevel> LogLevel() => new("--log-level")
    {
        Description = "Trace, Debug, Information, Warning, Error",
        DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Information,
    };

    public static Option<bool> KeepGoing() => new("--keep-going")
    {
        Description = "Start even when a database is unreachable (it is retried with backoff); by default a process refuses to start on a config it cannot reach",
    };
}
