using Dapper;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Reconciler.Reports;

namespace Peeq.Cdc.Reconciler.Counts;

/// <summary>
/// Row counts per captured table: the source table's rows against the target rows whose lineage says
/// they came from that source table (for keyless tables, which carry no lineage, the whole target table).
/// </summary>
public sealed class CountReconciler(PipelineOptions options)
{
    public async Task<ReconciliationReport> RunAsync(CancellationToken ct)
    {
        var started = DateTimeOffset.UtcNow;
        var checks = new List<CountCheck>();
        var errors = new List<string>();
        foreach (var source in options.Sources)
        {
            var target = options.Target(source.Target);
            try
            {
                await using var src = await PgConnections.OpenAsync(source.ConnectionString, $"source '{source.Name}'", ct);
                await using var dst = await PgConnections.OpenAsync(target.ConnectionString, $"target '{target.Name}'", ct);
                foreach (var table in source.Tables.Select(t => TableId.Parse(t)))
                {
                    // Identity targets may put a source's tables in its targetSchema.
                    var targetTable = target.IsIdentity ? source.IdentityTarget(table) : table;
                    var sourceRows = await src.ExecuteScalarAsync<long>(new CommandDefinition($"SELECT count(*) FROM {table.Quoted}", cancellationToken: ct));
                    var (targetRows, note) = await CountTargetAsync(dst, source.Name, table, targetTable, ct);
                    checks.Add(new CountCheck(source.Name, table.ToString(), target.Name, targetTable.ToString(), sourceRows, targetRows,
                        sourceRows == targetRows ? Verdict.Clean : Verdict.Different, note));
                }
            }
            catch (Exception e) when (e is DatabaseUnavailableException or NpgsqlException)
            {
                errors.Add($"source '{source.Name}': {e.Message}");
            }
        }

        var verdict = errors.Count > 0 ? Verdict.Failed : checks.All(c => c.Verdict == Verdict.Clean) ? Verdict.Clean : Verdict.Different;
        return new ReconciliationReport(Guid.NewGuid().ToString("N")[..12], started, DateTimeOffset.UtcNow, verdict, checks, errors);
    }

    private static async Task<(long Rows, string? Note)> CountTargetAsync(NpgsqlConnection dst, string source, TableId origin, TableId table, CancellationToken ct)
    {
        var registered = await dst.QuerySingleOrDefaultAsync<(string lineage_table, string[] key_columns)?>(new CommandDefinition(
            "SELECT lineage_table, key_columns FROM peeq_cdc.lineage_tables WHERE target_table = @t", new { t = table.ToString() }, cancellationToken: ct));
        var exists = await dst.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT to_regclass(@t) IS NOT NULL", new { t = table.Quoted }, cancellationToken: ct));
        if (!exists)
        {
            return (0, "target table does not exist");
        }

        if (registered is not { } lineage)
        {
            var all = await dst.ExecuteScalarAsync<long>(new CommandDefinition($"SELECT count(*) FROM {table.Quoted}", cancellationToken: ct));
            return (all, "no lineage (keyless table): whole target table counted");
        }

        // Rows present in the target and traced to this source table (a row deleted from the target
        // behind the pipeline's back is not counted, even though its lineage remains).
        var join = string.Join(" AND ", lineage.key_columns.Select(k => $"t.{Sql.QuoteIdent(k)} = l.{Sql.QuoteIdent(k)}"));
        var rows = await dst.ExecuteScalarAsync<long>(new CommandDefinition(
            $"SELECT count(*) FROM {table.Quoted} t JOIN {Sql.QuoteIdent(PipelineSchema.Schema)}.{Sql.QuoteIdent(lineage.lineage_table)} l ON {join} "
            + "WHERE l.source = @source AND l.origin_table = @origin AND NOT l.deleted",
            new { source, origin = origin.ToString() }, cancellationToken: ct));
        return (rows, null);
    }
}
