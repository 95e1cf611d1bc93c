using Dapper;
using Npgsql;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Cutover.Fencing;

/// <summary>A session of a source database the fence had to end (or, with services stopped, found).</summary>
public sealed record FencedSession(int Pid, string? User, string? Application, string? State, bool Writing);

/// <summary>What fencing one source did.</summary>
/// <param name="FenceLsn">The LSN of the marker written after the last other session was gone: every source write is before it.</param>
public sealed record FenceResult(string Source, string Database, string? PriorSetting, Lsn FenceLsn, IReadOnlyList<FencedSession> Terminated);

/// <summary>
/// Stops a source database from taking writes, and undoes it. The fence is
/// <c>ALTER DATABASE ... SET default_transaction_read_only = on</c> (every new session is read-only) plus ending the
/// sessions that were there before it: sessions without an open transaction at once, sessions in a transaction when
/// it ends or when the wait runs out (their open transaction is rolled back, so nothing half-written remains). The
/// pipeline's own sessions (application name <c>peeq-cdc…</c>) and walsenders stay: they do not write the source's
/// tables, and Capture must keep streaming until the drain. With <c>servicesStopped</c> the operator says the services
/// are down: the database setting is left alone and the fence only proves that no other session is connected.
/// <para>
/// A session can still say <c>SET default_transaction_read_only = off</c>; the fence keeps honest services out, the
/// grant switch at the end keeps everyone else out, and <c>run</c> checks after the drain that no captured change
/// was committed after the fence marker.
/// </para>
/// </summary>
public static class SourceFence
{
    private const string Setting = "default_transaction_read_only";

    public static string DatabaseOf(SourceOptions source) => new NpgsqlConnectionStringBuilder(source.ConnectionString).Database
        ?? throw new ConfigurationException($"source '{source.Name}': the connection string names no database");

    public static async Task<NpgsqlConnection> OpenAsync(SourceOptions source, CancellationToken ct)
    {
        var conn = await PgConnections.OpenAsync(source.ConnectionString, $"source '{source.Name}'", ct, timeoutSeconds: 10);
        // This session writes the fence marker and changes settings: it must not be read-only itself, whatever the
        // database's default is by now.
        await conn.ExecuteAsync(new CommandDefinition("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", cancellationToken: ct));
        return conn;
    }

    /// <summary>The database's own default_transaction_read_only (ALTER DATABASE ... SET), null when it has none.</summary>
    public static async Task<string?> ReadSettingAsync(NpgsqlConnection conn, string database, CancellationToken ct) =>
        await conn.ExecuteScalarAsync<string?>(new CommandDefinition("""
            SELECT o.option_value FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
            CROSS JOIN LATERAL pg_options_to_table(s.setconfig) o
            WHERE d.datname = @database AND s.setrole = 0 AND o.option_name = @setting
            """, new { database, setting = Setting }, cancellationToken: ct));

    /// <summary>Sessions of the database other than this one, the pipeline's and the server's own processes.</summary>
    public static async Task<List<(FencedSession Session, bool InTransaction, DateTime BackendStart)>> OtherSessionsAsync(NpgsqlConnection conn, string database, CancellationToken ct) =>
        (await conn.QueryAsync<(int pid, string? usename, string? application_name, string? state, bool writing, bool in_tx, DateTime backend_start)>(new CommandDefinition("""
            SELECT pid, usename::text, application_name, state, backend_xid IS NOT NULL, xact_start IS NOT NULL, backend_start
            FROM pg_stat_activity
            WHERE datname = @database AND pid <> pg_backend_pid() AND backend_type = 'client backend'
              AND coalesce(application_name, '') NOT LIKE 'peeq-cdc%'
            """, new { database }, cancellationToken: ct)))
        .Select(r => (new FencedSession(r.pid, r.usename, r.application_name, r.state, r.writing), r.in_tx, r.backend_start)).ToList();

    /// <summary>
    /// Fences one source and writes the fence marker. Idempotent: fencing a fenced database changes nothing but the
    /// marker (a later one). <paramref name="priorSetting"/> is what to restore on unfence, read before the first fence.
    /// </summary>
    public static async Task<FenceResult> FenceAsync(SourceOptions source, string? priorSetting, bool servicesStopped, TimeSpan wait, CancellationToken ct)
    {
        var database = DatabaseOf(source);
        await using var conn = await OpenAsync(source, ct);
        if (!servicesStopped)
        {
            await conn.ExecuteAsync(new CommandDefinition($"ALTER DATABASE {Sql.QuoteIdent(database)} SET {Setting} = on", cancellationToken: ct));
        }

        var terminated = new List<FencedSession>();
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            var sessions = await OtherSessionsAsync(conn, database, ct);
            if (sessions.Count == 0)
            {
                break;
            }

            var late = DateTime.UtcNow >= deadline;
            if (servicesStopped)
            {
                if (late)
                {
                    throw new CutoverRefusedException(
                        $"source '{source.Name}': --services-stopped, yet {sessions.Count} session(s) are connected to {database}: "
                        + string.Join("; ", sessions.Take(5).Select(s => Describe(s.Session))));
                }
            }
            else
            {
                foreach (var (s, inTx, _) in sessions.Where(s => !s.InTransaction || late))
                {
                    if (await conn.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_terminate_backend(@pid)", new { pid = s.Pid }, cancellationToken: ct)))
                    {
                        terminated.Add(s);
                    }
                }
            }

            await Task.Delay(100, ct);
        }

        // Written after every other session is gone: a source write either committed before it or was rolled back.
        var lsn = await EmitMarkerAsync(conn, "cutover fence", ct);
        return new FenceResult(source.Name, database, priorSetting, lsn, terminated);
    }

    /// <summary>
    /// Puts the database's setting back as it was before the fence and ends the sessions opened during the fence
    /// (they started read-only), so the services reconnect as before.
    /// </summary>
    public static async Task UnfenceAsync(SourceOptions source, string? priorSetting, DateTime fencedAtUtc, CancellationToken ct)
    {
        var database = DatabaseOf(source);
        await using var conn = await OpenAsync(source, ct);
        var sql = priorSetting is null
            ? $"ALTER DATABASE {Sql.QuoteIdent(database)} RESET {Setting}"
            : $"ALTER DATABASE {Sql.QuoteIdent(database)} SET {Setting} = {Sql.QuoteLiteral(priorSetting)}";
        await conn.ExecuteAsync(new CommandDefinition(sql, cancellationToken: ct));
        foreach (var (s, _, started) in await OtherSessionsAsync(conn, database, ct))
        {
            if (started.ToUniversalTime() >= fencedAtUtc.AddSeconds(-1))
            {
                await conn.ExecuteAsync(new CommandDefinition("SELECT pg_terminate_backend(@pid)", new { pid = s.Pid }, cancellationToken: ct));
            }
        }
    }

    /// <summary>
    /// Writes a logical message that Capture streams as a heartbeat and returns the position the Sink records for it
    /// once applied (Capture places a heartbeat one byte before the message's end, see SourceCaptureSession).
    /// </summary>
    public static async Task<Lsn> EmitMarkerAsync(NpgsqlConnection conn, string content, CancellationToken ct)
    {
        var text = await conn.ExecuteScalarAsync<string>(new CommandDefinition(
            "SELECT pg_logical_emit_message(false, @prefix, @content)::text", new { prefix = SourceCaptureSession.HeartbeatPrefix, content }, cancellationToken: ct));
        return new Lsn(Lsn.Parse(text!).Value - 1);
    }

    public static string Describe(FencedSession s) =>
        $"pid {s.Pid} user {s.User ?? "?"} application '{s.Application}' {s.State}{(s.Writing ? " (in a write transaction)" : "")}";
}
