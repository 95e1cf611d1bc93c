using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>
/// A row value <c>{"$lookup": {"kind": K, "key": V}}</c>: the id identity_map holds for (K, V); with
/// <c>"target": T</c>, the id the identity_map of the configured target T holds (docs/contracts.md).
/// </summary>
public static class Lookup
{
    public const string Marker = "$lookup";

    public static bool Is(JsonNode? value, out string kind, out string key) => Is(value, out kind, out key, out _);

    public static bool Is(JsonNode? value, out string kind, out string key, out string? target)
    {
        kind = "";
        key = "";
        target = null;
        if (value is JsonObject { Count: 1 } o && o[Marker] is JsonObject l && l["kind"] is JsonValue k && k.TryGetValue<string>(out var ks))
        {
            kind = ks;
            key = ValueCodec.KeyText(l["key"]);
            target = l["target"] is JsonValue t && t.TryGetValue<string>(out var ts) ? ts : null;
            return true;
        }

        return false;
    }
}

/// <summary>
/// The identity maps of the other configured targets, read for lookups that name one: a mapping of one target
/// refers to an identity that another target's mapping registers (shoutout-db's varchar item ids in
/// peeq_media, registered as inventory items in peeq_commerce). Read-only; connections come from Npgsql's
/// pool per connection string.
/// </summary>
public sealed class ForeignIdentities(IReadOnlyList<TargetOptions> targets)
{
    /// <summary>The configured target a lookup's <c>target</c> names: by name, by <c>database</c>, or by its connection string's database.</summary>
    public TargetOptions? Find(string name) =>
        targets.FirstOrDefault(t => t.Name == name)
        ?? targets.FirstOrDefault(t => t.Database == name)
        ?? targets.FirstOrDefault(t => new NpgsqlConnectionStringBuilder(t.ConnectionString).Database == name);

    /// <summary>The ids <paramref name="target"/>'s identity_map holds for <paramref name="wanted"/> (kind, legacy key).</summary>
    public async Task<Dictionary<(string Kind, string Key), string>> FindIdsAsync(TargetOptions target, IReadOnlyCollection<(string Kind, string Key)> wanted, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(PgConnections.Prepare(target.ConnectionString, "peeq-cdc sink lookups", 15));
        await conn.OpenAsync(ct);
        return (await conn.QueryAsync<(string Kind, string Key, string Id)>(new CommandDefinition("""
            SELECT m.kind, m.legacy_key, m.id::text FROM peeq_cdc.identity_map m
            JOIN unnest(@kinds::text[], @keys::text[]) AS w(kind, legacy_key) ON m.kind = w.kind AND m.legacy_key = w.legacy_key
            """, new { kinds = wanted.Select(w => w.Kind).ToArray(), keys = wanted.Select(w => w.Key).ToArray() }, cancellationToken: ct)))
            .ToDictionary(f => (f.Kind, f.Key), f => f.Id);
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
              AND p.lookup_target IS NULL
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
            WHERE p.kind = m.kind AND p.legacy_key = m.legacy_key AND p.lookup_target IS NULL
            RETURNING p.target_table, p.target_key::text AS target_key, p.column_name, m.id::text AS id
            """, cancellationToken: ct))).ToList();
        await FillAsync(conn, tables, resolved, ct);
        return resolved.Count;
    }

    /// <summary>
    /// Resolves the pending lookups that name another target, against that target's identity_map (the sweep:
    /// no transaction spans two databases, so an identity registered there is found here at the next sweep).
    /// </summary>
    public static async Task<int> SweepForeignAsync(NpgsqlConnection conn, TargetTables tables, CancellationToken ct)
    {
        if (tables.Foreign is not { } foreign)
        {
            return 0;
        }

        var pending = (await conn.QueryAsync<(string Target, string Kind, string Key)>(new CommandDefinition(
            "SELECT DISTINCT lookup_target, kind, legacy_key FROM peeq_cdc.pending_lookups WHERE lookup_target IS NOT NULL", cancellationToken: ct))).ToList();
        var found = new JsonArray();
        foreach (var group in pending.GroupBy(p => p.Target))
        {
            if (foreign.Find(group.Key) is not { } other)
            {
                continue;
            }

            foreach (var ((kind, key), id) in await foreign.FindIdsAsync(other, group.Select(p => (p.Kind, p.Key)).ToList(), ct))
            {
                found.Add(new JsonObject { ["target"] = group.Key, ["kind"] = kind, ["legacy_key"] = key, ["id"] = id });
            }
        }

        if (found.Count == 0)
        {
            return 0;
        }

        var resolved = (await conn.QueryAsync<Resolved>(new CommandDefinition("""
            DELETE FROM peeq_cdc.pending_lookups p USING jsonb_to_recordset(@found::jsonb) AS f(target text, kind text, legacy_key text, id text)
            WHERE p.lookup_target = f.target AND p.kind = f.kind AND p.legacy_key = f.legacy_key
            RETURNING p.target_table, p.target_key::text AS target_key, p.column_name, f.id
            """, new { found = found.ToJsonString() }, cancellationToken: ct))).ToList();
        await FillAsync(conn, tables, resolved, ct);
        return resolved.Count;
    }

    /// <summary>
    /// How many pending lookups, over every configured target, already have their identity (in the target's own
    /// identity_map, or for a lookup naming another target in that target's, found through
    /// <see cref="ForeignIdentities"/> as the sweep finds it): rows the Sink has yet to fill in. A lookup no
    /// identity answers is not counted (it stays NULL, as the mapping's expectation does).
    /// </summary>
    public static async Task<long> AnswerableAsync(IReadOnlyList<TargetOptions> targets, CancellationToken ct)
    {
        var foreign = new ForeignIdentities(targets);
        long n = 0;
        foreach (var t in targets)
        {
            await using var conn = await PgConnections.OpenAsync(t.ConnectionString, $"target '{t.Name}'", ct);
            if (!await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT to_regclass('peeq_cdc.pending_lookups') IS NOT NULL AND to_regclass('peeq_cdc.identity_map') IS NOT NULL", cancellationToken: ct)))
            {
                continue;
            }

            n += await conn.ExecuteScalarAsync<long>(new CommandDefinition("""
                SELECT count(*) FROM peeq_cdc.pending_lookups p JOIN peeq_cdc.identity_map m ON m.kind = p.kind AND m.legacy_key = p.legacy_key
                WHERE p.lookup_target IS NULL
                """, cancellationToken: ct));
            var pending = (await conn.QueryAsync<(string Target, string Kind, string Key, long Rows)>(new CommandDefinition(
                "SELECT lookup_target, kind, legacy_key, count(*) FROM peeq_cdc.pending_lookups WHERE lookup_target IS NOT NULL GROUP BY 1, 2, 3", cancellationToken: ct))).ToList();
            foreach (var group in pending.GroupBy(p => p.Target))
            {
                if (foreign.Find(group.Key) is not { } other)
                {
                    continue;
                }

                var found = await foreign.FindIdsAsync(other, group.Select(p => (p.Kind, p.Key)).ToList(), ct);
                n += group.Where(p => found.ContainsKey((p.Kind, p.Key))).Sum(p => p.Rows);
            }
        }

        return n;
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
