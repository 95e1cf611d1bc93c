using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>A row value <c>{"$lookup": {"kind": K, "key": V}}</c>: the id identity_map holds for (K, V).</summary>
public static class Lookup
{
    public const string Marker = "$lookup";

    public static bool Is(JsonNode? value, out string kind, out string key)
    {
        kind = "";
        key = "";
        if (value is JsonObject { Count: 1 } o && o[Marker] is JsonObject l && l["kind"] is JsonValue k && k.TryGetValue<string>(out var ks))
        {
            kind = ks;
            key = ValueCodec.KeyText(l["key"]);
            return true;
        }

        return false;
    }
}

/// <summary>
/// Fills in pending lookups once their identity is known. In the transaction that applies identity_map
/// rows (so the referring rows change together with the identity), and as a periodic sweep that catches a
/// lookup recorded by one source while another source's identity committed concurrently (READ COMMITTED
/// lets each miss the other; the sweep runs after both are committed).
/// </summary>
public static class Lookups
{
    private sealed record Resolved(string target_table, string target_key, string column_name, string id);

    /// <summary>Resolves the pending lookups that the identity_map rows staged in <paramref name="stage"/> answer.</summary>
    public static async Task<int> ResolveFromStageAsync(NpgsqlConnection conn, TargetTables tables, string stage, CancellationToken ct)
    {
        var resolved = (await conn.QueryAsync<Resolved>(new CommandDefinition($"""
            DELETE FROM peeq_cdc.pending_lookups p USING peeq_cdc.identity_map m, {stage} s
            WHERE s._op = 'u' AND m.kind = s.kind::text AND m.legacy_key = s.legacy_key::text AND p.kind = m.kind AND p.legacy_key = m.legacy_key
            RETURNING p.target_table, p.target_key::text AS target_key, p.column_name, m.id::text AS id
            """, cancellationToken: ct))).ToList();
        await FillAsync(conn, tables, resolved, ct);
        return resolved.Count;
    }

    /// <summary>Resolves every pending lookup whose identity has arrived (the sweep), in the caller's transaction.</summary>
    public static async Task<int> SweepAsync(NpgsqlConnection conn, TargetTables tables, CancellationToken ct)
    {
        var resolved = (await conn.QueryAsync<Resolved>(new CommandDefinition("""
            DELETE FROM peeq_cdc.pending_lookups p USING peeq_cdc.identity_map m
            WHERE p.kind = m.kind AND p.legacy_key = m.legacy_key
            RETURNING p.target_table, p.target_key::text AS target_key, p.column_name, m.id::text AS id
            """, cancellationToken: ct))).ToList();
        await FillAsync(conn, tables, resolved, ct);
        return resolved.Count;
    }

    private static async Task FillAsync(NpgsqlConnection conn, TargetTables tables, List<Resolved> resolved, CancellationToken ct)
    {
        foreach (var group in resolved.GroupBy(r => (r.target_table, r.column_name)))
        {
            TargetTable table;
            try
            {
                table = await tables.GetAsync(TableId.Parse(group.Key.target_table), ct);
            }
            catch (Exception e) when (e is TargetTableMissingException or FormatException)
            {
                continue;
            }

            var column = table.Info.Column(group.Key.column_name);
            if (column is null)
            {
                continue;
            }

            var rows = new JsonArray();
            foreach (var r in group)
            {
                var o = (JsonObject)JsonNode.Parse(r.target_key)!;
                o["__peeq_id"] = r.id;
                rows.Add(o);
            }

            var keyTypes = string.Join(", ", table.Key.Select(k => $"{Sql.QuoteIdent(k)} {table.Info.Column(k)!.BaseTypeSql}"));
            var match = string.Join(" AND ", table.Key.Select(k => $"t.{Sql.QuoteIdent(k)} = v.{Sql.QuoteIdent(k)}"));
            var n = await conn.ExecuteAsync(new CommandDefinition($"""
                UPDATE {table.Id.Quoted} t SET {Sql.QuoteIdent(column.Name)} = v.__peeq_id::{column.BaseTypeSql}
                FROM jsonb_to_recordset(@rows::jsonb) AS v({keyTypes}, __peeq_id text) WHERE {match}
                """, new { rows = rows.ToJsonString() }, cancellationToken: ct));
            SinkMetrics.LookupsResolved.WithLabels(table.Id.ToString()).Inc(n);
        }
    }
}
