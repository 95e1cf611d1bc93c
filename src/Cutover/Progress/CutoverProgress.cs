using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Cutover.Progress;

/// <summary>A domain's cutover run as peeq_cdc.cutover_runs records it.</summary>
public sealed record CutoverRunState(string Domain, string State, DateTime StartedAt, DateTime UpdatedAt, string StartedBy, JsonObject Options, string? Error);

/// <summary>One step as peeq_cdc.cutover_steps records it.</summary>
public sealed record CutoverStepState(string Step, string State, DateTime StartedAt, DateTime? FinishedAt, JsonObject? Detail);

/// <summary>One source's fence as peeq_cdc.cutover_fences records it.</summary>
public sealed record FenceRecord(string Source, string Database, string? PriorSetting, string? FenceLsn, DateTime FencedAt);

/// <summary>
/// The run's progress in the target database (schema peeq_cdc, schemas/target/peeq_cdc.sql), so an interrupted run
/// resumes where it stopped, from any machine. Every write is one short transaction; a step whose own effect is in the
/// target (the foreign-key step) records itself in its own transaction instead (<see cref="MarkDoneAsync"/> with a transaction).
/// </summary>
public sealed class CutoverProgress(NpgsqlConnection conn, string domain) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => conn.DisposeAsync();

    public NpgsqlConnection Connection => conn;

    public static async Task<CutoverProgress> OpenAsync(string targetConnectionString, string domain, CancellationToken ct)
    {
        var conn = await PgConnections.OpenAsync(targetConnectionString, $"target '{domain}'", ct, timeoutSeconds: 10);
        await PipelineSchema.EnsureAsync(conn, ct);
        return new CutoverProgress(conn, domain);
    }

    public async Task<CutoverRunState?> RunAsync(CancellationToken ct)
    {
        var row = await conn.QuerySingleOrDefaultAsync<(string domain, string state, DateTime started_at, DateTime updated_at, string started_by, string options, string? error)?>(
            new CommandDefinition("SELECT domain, state, started_at, updated_at, started_by, options::text, error FROM peeq_cdc.cutover_runs WHERE domain = @domain",
                new { domain }, cancellationToken: ct));
        return row is { } r ? new CutoverRunState(r.domain, r.state, r.started_at, r.updated_at, r.started_by, JsonNode.Parse(r.options)!.AsObject(), r.error) : null;
    }

    /// <summary>Starts a fresh run: the steps of an earlier, rolled-back run are forgotten (the fence records were cleared by the unfence).</summary>
    public async Task StartAsync(string by, JsonObject options, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("DELETE FROM peeq_cdc.cutover_steps WHERE domain = @domain", new { domain }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.cutover_runs (domain, state, started_by, options) VALUES (@domain, 'running', @by, @options::jsonb)
            ON CONFLICT (domain) DO UPDATE SET state = 'running', started_at = now(), updated_at = now(), started_by = excluded.started_by, options = excluded.options, error = NULL
            """, new { domain, by, options = options.ToJsonString() }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    public Task SetStateAsync(string state, string? error, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("UPDATE peeq_cdc.cutover_runs SET state = @state, error = @error, updated_at = now() WHERE domain = @domain",
            new { domain, state, error }, cancellationToken: ct));

    public async Task<Dictionary<string, CutoverStepState>> StepsAsync(CancellationToken ct) =>
        (await conn.QueryAsync<(string step, string state, DateTime started_at, DateTime? finished_at, string? detail)>(new CommandDefinition(
            "SELECT step, state, started_at, finished_at, detail::text FROM peeq_cdc.cutover_steps WHERE domain = @domain", new { domain }, cancellationToken: ct)))
        .ToDictionary(r => r.step, r => new CutoverStepState(r.step, r.state, r.started_at, r.finished_at, r.detail is null ? null : JsonNode.Parse(r.detail)!.AsObject()));

    public Task MarkStartedAsync(string step, CancellationToken ct, NpgsqlTransaction? tx = null) =>
        conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.cutover_steps (domain, step, state) VALUES (@domain, @step, 'started')
            ON CONFLICT (domain, step) DO UPDATE SET state = CASE WHEN cutover_steps.state = 'done' THEN 'done' ELSE 'started' END
            """, new { domain, step }, tx, cancellationToken: ct));

    public Task MarkDoneAsync(string step, JsonObject detail, CancellationToken ct, NpgsqlTransaction? tx = null) =>
        conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.cutover_steps (domain, step, state, finished_at, detail) VALUES (@domain, @step, 'done', now(), @detail::jsonb)
            ON CONFLICT (domain, step) DO UPDATE SET state = 'done', finished_at = now(), detail = excluded.detail
            """, new { domain, step, detail = detail.ToJsonString() }, tx, cancellationToken: ct));

    public async Task<Dictionary<string, FenceRecord>> FencesAsync(CancellationToken ct) =>
        (await conn.QueryAsync<(string source, string database, string? prior_setting, string? fence_lsn, DateTime fenced_at)>(new CommandDefinition(
            "SELECT source, database, prior_setting, fence_lsn::text, fenced_at FROM peeq_cdc.cutover_fences WHERE domain = @domain", new { domain }, cancellationToken: ct)))
        .ToDictionary(r => r.source, r => new FenceRecord(r.source, r.database, r.prior_setting, r.fence_lsn, DateTime.SpecifyKind(r.fenced_at, DateTimeKind.Utc)));

    /// <summary>Records the setting a source had before its first fence; a later call (a resumed run) keeps the first.</summary>
    public Task RecordPriorAsync(string source, string database, string? prior, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.cutover_fences (domain, source, database, prior_setting) VALUES (@domain, @source, @database, @prior)
            ON CONFLICT (domain, source) DO NOTHING
            """, new { domain, source, database, prior }, cancellationToken: ct));

    /// <summary>Records the first fence marker; later fences of the same run keep it (it is what "written after the fence" is measured from).</summary>
    public Task RecordFenceLsnAsync(string source, string lsn, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            UPDATE peeq_cdc.cutover_fences SET fence_lsn = coalesce(fence_lsn, @lsn::pg_lsn) WHERE domain = @domain AND source = @source
            """, new { domain, source, lsn }, cancellationToken: ct));

    public Task ForgetFenceAsync(string source, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("DELETE FROM peeq_cdc.cutover_fences WHERE domain = @domain AND source = @source", new { domain, source }, cancellationToken: ct));

    public static JsonObject ToJson<T>(T value) => JsonSerializer.SerializeToNode(value, CutoverJson.Options)!.AsObject();

    public static JsonArray ToJsonArray<T>(IEnumerable<T> values) => JsonSerializer.SerializeToNode(values.ToList(), CutoverJson.Options)!.AsArray();
}
