using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Cli.Hosting;

/// <summary>
/// Connects to every database a process will use, in parallel and with a short timeout, and checks the
/// configured tables exist, so a wrong config fails at once with one specific message per problem.
/// Outages after a successful start are retried instead (each source is its own failure domain).
/// </summary>
public static class Preflight
{
    /// <param name="transient">
    /// When given, databases that did not answer within the timeout are listed here instead of as problems: a
    /// worker starting on a saturated host or beside a restarting server then starts and retries them with
    /// backoff (as it does for any outage after start) instead of exiting and being restarted forever.
    /// Refused connections, bad credentials, missing databases and tables stay problems.
    /// </param>
    public static async Task<List<string>> CheckAsync(PipelineConfig config, bool sources, bool targets, CancellationToken ct, int timeoutSeconds = 10, List<string>? transient = null)
    {
        var o = config.Options;
        var checks = new List<Task<string?>>();
        for (var i = 0; i < o.Sources.Count && sources; i++)
        {
            var s = o.Sources[i];
            var key = $"sources:{i}";
            checks.Add(Task.Run(async () =>
            {
                try
                {
                    await using var conn = await PgConnections.OpenAsync(s.ConnectionString, $"{Where(config, key + ":connectionString")}: source '{s.Name}'", ct, timeoutSeconds);
                    var tables = s.Tables.Select(t => TableId.Parse(t)).ToList();
                    var found = await Catalog.LoadTablesAsync(conn, tables, ct);
                    var missing = tables.Select((t, j) => (t, j)).Where(x => !found.ContainsKey(x.t)).ToList();
                    return missing.Count == 0
                        ? null
                        : string.Join(Environment.NewLine, missing.Select(m =>
                            $"{Where(config, $"{key}:tables:{m.j}")}: source '{s.Name}': table {m.t} does not exist in database '{conn.Database}'"));
                }
                catch (DatabaseUnavailableException e)
                {
                    return Unavailable(e, transient);
                }
                catch (NpgsqlException e)
                {
                    return $"{Where(config, key)}: source '{s.Name}': {PgConnections.Explain(e)}";
                }
            }, ct));
        }

        for (var i = 0; i < o.Targets.Count && targets; i++)
        {
            var t = o.Targets[i];
            var key = $"targets:{i}";
            checks.Add(Task.Run(async () =>
            {
                try
                {
                    await using var conn = await PgConnections.OpenAsync(t.ConnectionString, $"{Where(config, key + ":connectionString")}: target '{t.Name}'", ct, timeoutSeconds);
                    return null;
                }
                catch (DatabaseUnavailableException e)
                {
                    return Unavailable(e, transient);
                }
            }, ct));
        }

        var results = await Task.WhenAll(checks);
        return results.Where(r => r is not null).Select(r => r!).ToList();
    }

    /// <summary>The problem to report, or null when the database only timed out and <paramref name="transient"/> takes it.</summary>
    private static string? Unavailable(DatabaseUnavailableException e, List<string>? transient)
    {
        if (transient is null || e.InnerException is not (TimeoutException or NpgsqlException { InnerException: TimeoutException }))
        {
            return e.Message;
        }

        lock (transient)
        {
            transient.Add(e.Message);
        }

        return null;
    }

    private static string Where(PipelineConfig config, string key) =>
        config.File is null ? ConfigFile.Display(key) : $"{config.File.Where(key)}: {ConfigFile.Display(key)}";
}
