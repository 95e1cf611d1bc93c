using Dapper;
using Npgsql;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Postgres;

/// <summary>The last source transaction a target has applied for one source (docs/contracts.md, "Acknowledgement").</summary>
public sealed record AppliedPosition(string Source, Lsn CommitLsn, Lsn EndLsn, long Seq, DateTimeOffset? SourceCommitTime, DateTimeOffset AppliedAt);

/// <summary>
/// The pipeline's own tables, in schema <c>peeq_cdc</c> of every target database: applied positions,
/// lineage, parked rows, identity maps and per-table state. Created by the Sink at start; also in
/// schemas/target/peeq_cdc.sql for DBAs who create schemas by hand.
/// </summary>
public static class PipelineSchema
{
    public const string Schema = "peeq_cdc";

    /// <summary>The DDL of schemas/target/peeq_cdc.sql (embedded), idempotent.</summary>
    public static string Ddl { get; } = LoadDdl();

    private static string LoadDdl()
    {
        using var stream = typeof(PipelineSchema).Assembly.GetManifestResourceStream("peeq_cdc.sql")
            ?? throw new InvalidOperationException("embedded resource peeq_cdc.sql is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static async Task EnsureAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        // Serialise concurrent Sinks creating the schema on a fresh target.
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtext('peeq_cdc.schema'))", transaction: tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(await DdlForAsync(conn, tx, ct), transaction: tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    private const string CreateSchema = "CREATE SCHEMA IF NOT EXISTS peeq_cdc;";

    /// <summary>
    /// The DDL without its CREATE SCHEMA when the schema exists: PostgreSQL checks CREATE on the database before it looks
    /// whether the schema exists, so a least-privilege Sink (the schema made for it by a DBA, no CREATE on the database;
    /// docs/security.md) would fail on the IF NOT EXISTS.
    /// </summary>
    private static async Task<string> DdlForAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
    {
        if (!Ddl.Contains(CreateSchema, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"peeq_cdc.sql no longer holds '{CreateSchema}'; update PipelineSchema");
        }

        return await SchemaExistsAsync(conn, Schema, tx, ct) ? Ddl.Replace(CreateSchema, "", StringComparison.Ordinal) : Ddl;
    }

    /// <summary>Whether a schema exists (visible or not to the role).</summary>
    public static async Task<bool> SchemaExistsAsync(NpgsqlConnection conn, string schema, NpgsqlTransaction? tx, CancellationToken ct) =>
        await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = @schema)", new { schema }, transaction: tx, cancellationToken: ct));

    /// <summary>Whether every table of the pipeline's schema exists already (a role that only reads or records need not create it).</summary>
    public static async Task<bool> TableExistsAsync(NpgsqlConnection conn, string table, CancellationToken ct) =>
        await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT to_regclass(@name) IS NOT NULL", new { name = $"{Schema}.{table}" }, cancellationToken: ct));

    private sealed record PositionRow(string source, string commit_lsn, string end_lsn, long seq, DateTime? source_commit_ts, DateTime applied_at);

    /// <summary>The applied position of every source in this target; empty when the schema does not exist yet.</summary>
    public static async Task<Dictionary<string, AppliedPosition>> ReadAppliedAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var exists = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT to_regclass('peeq_cdc.applied_position') IS NOT NULL", cancellationToken: ct));
        if (!exists)
        {
            return [];
        }

        var rows = await conn.QueryAsync<PositionRow>(new CommandDefinition(
            "SELECT source, commit_lsn::text AS commit_lsn, end_lsn::text AS end_lsn, seq, source_commit_ts, applied_at FROM peeq_cdc.applied_position",
            cancellationToken: ct));
        return rows.ToDictionary(r => r.source, r => new AppliedPosition(
            r.source, Lsn.Parse(r.commit_lsn), Lsn.Parse(r.end_lsn), r.seq,
            r.source_commit_ts is { } t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)) : null,
            new DateTimeOffset(DateTime.SpecifyKind(r.applied_at, DateTimeKind.Utc))));
    }
}
