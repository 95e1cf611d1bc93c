using Npgsql;

namespace Peeq.Cdc.Postgres;

/// <summary>
/// Opens connections with a bounded timeout and turns failures into messages an operator can act on,
/// without ever echoing a password.
/// </summary>
public static class PgConnections
{
    /// <summary>A connection string with the pipeline's session settings (UTC, ISO dates) and an application name.</summary>
    public static string Prepare(string connectionString, string applicationName, int? timeoutSeconds = null)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString)
        {
            ApplicationName = applicationName,
            Timezone = "UTC",
        };
        if (timeoutSeconds is { } t)
        {
            b.Timeout = t;
        }

        return b.ConnectionString;
    }

    /// <summary>host:port/database as user, for messages.</summary>
    public static string Describe(string connectionString)
    {
        try
        {
            var b = new NpgsqlConnectionStringBuilder(connectionString);
            return $"{b.Host}:{b.Port}/{b.Database} as {b.Username ?? Environment.UserName}";
        }
        catch (ArgumentException)
        {
            return "(unparseable connection string)";
        }
    }

    public static async Task<NpgsqlConnection> OpenAsync(string connectionString, string what, CancellationToken ct, int timeoutSeconds = 5)
    {
        var conn = new NpgsqlConnection(Prepare(connectionString, "peeq-cdc", timeoutSeconds));
        try
        {
            await conn.OpenAsync(ct);
            return conn;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            await conn.DisposeAsync();
            throw new DatabaseUnavailableException($"{what}: cannot connect to {Describe(connectionString)}: {Explain(e)}", e);
        }
    }

    public static string Explain(Exception e) => e switch
    {
        PostgresException pg => $"{pg.MessageText} (SQLSTATE {pg.SqlState})",
        NpgsqlException { InnerException: System.Net.Sockets.SocketException s } => s.Message,
        NpgsqlException { InnerException: TimeoutException } => "timed out",
        NpgsqlException { InnerException: EndOfStreamException } or EndOfStreamException =>
            "the server closed the connection (it was shut down or restarted, or the backend was terminated)",
        NpgsqlException { InnerException: IOException io } => io.Message,
        _ => e.Message,
    };

    /// <summary>
    /// Permanent errors (bad credentials, missing privileges or objects) stop a worker; everything else
    /// (network, restarts, serialization failures) is retried with backoff.
    /// </summary>
    public static bool IsPermanent(Exception e) => e switch
    {
        DatabaseUnavailableException { InnerException: { } inner } => IsPermanent(inner),
        PostgresException pg => pg.SqlState.StartsWith("28", StringComparison.Ordinal) // authentication
            || pg.SqlState == "42501"                                                    // insufficient privilege
            || pg.SqlState == "3D000"                                                    // database does not exist
            || pg.SqlState == "55000" && pg.MessageText.Contains("wal_level", StringComparison.Ordinal),
        _ => false,
    };
}

/// <summary>A database could not be reached; the message says which and why.</summary>
public sealed class DatabaseUnavailableException(string message, Exception inner) : Exception(message, inner);
