using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>
/// For targets with the identity mapping: creates each captured table that the target lacks, with the
/// source's columns, types and key, so any table can be replicated with no code. A source with a
/// <c>targetSchema</c> gets its tables in that schema (created when missing).
/// </summary>
public static class IdentityTables
{
    public static async Task EnsureAsync(PipelineOptions options, TargetOptions target, NpgsqlConnection targetConn, ILogger logger, CancellationToken ct)
    {
        foreach (var source in options.Sources.Where(s => s.Target == target.Name))
        {
            var wanted = source.Tables.Select(t => TableId.Parse(t)).ToDictionary(t => t, source.IdentityTarget);
            var existing = await Catalog.LoadTablesAsync(targetConn, wanted.Values.ToList(), ct);
            var missing = wanted.Where(t => !existing.ContainsKey(t.Value)).Select(t => t.Key).ToList();
            if (missing.Count == 0)
            {
                continue;
            }

            await using var sourceConn = await PgConnections.OpenAsync(source.ConnectionString, $"source '{source.Name}' (reading table definitions for target '{target.Name}')", ct);
            var definitions = await Catalog.LoadTablesAsync(sourceConn, missing, ct);
            foreach (var sourceId in missing)
            {
                if (!definitions.TryGetValue(sourceId, out var def))
                {
                    continue; // Capture reports the missing source table precisely.
                }

                var id = wanted[sourceId];
                var columns = def.Columns.Select(c => $"{Sql.QuoteIdent(c.Name)} {c.TypeSql}{(c.NotNull ? " NOT NULL" : "")}").ToList();
                if (def.KeyColumns.Count > 0)
                {
                    columns.Add($"PRIMARY KEY ({string.Join(", ", def.KeyColumns.Select(Sql.QuoteIdent))})");
                }

                // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists: a Sink limited to
                // its schemas (docs/security.md) only creates tables in them.
                var createSchema = await PipelineSchema.SchemaExistsAsync(targetConn, id.Schema, null, ct) ? "" : $"CREATE SCHEMA IF NOT EXISTS {Sql.QuoteIdent(id.Schema)}; ";
                await targetConn.ExecuteAsync(new CommandDefinition(
                    $"{createSchema}CREATE TABLE IF NOT EXISTS {id.Quoted} ({string.Join(", ", columns)})",
                    cancellationToken: ct));
                logger.LogInformation("Target {Target}: created {Table} from source {Source} (identity mapping)", target.Name, id, source.Name);
            }
        }
    }
}
