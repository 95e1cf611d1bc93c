using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Schema;

namespace Peeq.Cdc.Cutover.References;

/// <summary>One row whose reference dangles, with the decision taken on it (null: undecided).</summary>
/// <param name="Key">The referring row's key, jsonb text with every value as text (how decisions name it).</param>
/// <param name="Value">The reference's columns (the missing parent), jsonb text.</param>
public sealed record DanglingRow(string Reference, string Key, string Value, string? Action, string? Placeholder, string? DecidedBy, DateTime? DecidedAt);

/// <summary>A decision as it was carried out by <c>run</c>.</summary>
public sealed record AppliedDecision(string Reference, string Key, string Action, string? Placeholder, string DecidedBy, DateTime DecidedAt, long Rows);

public static class Actions
{
    public const string Delete = "delete";
    public const string Keep = "keep";
    public const string Placeholder = "placeholder";

    public static readonly string[] All = [Delete, Keep, Placeholder];
}

/// <summary>
/// The dangling references a domain's constraints would reject, and the decisions on them (peeq_cdc.cutover_decisions):
/// delete the referring row, keep it (the constraint is added NOT VALID: later rows are checked, these are not), or
/// attach it to a placeholder parent that exists. Queries are built from references.yaml and the catalog (identifiers
/// quoted), keys and values are parameters.
/// </summary>
public sealed class DanglingDecisions
{
    private readonly Reference _reference;
    private readonly TableInfo _from;
    private readonly TableInfo _to;

    private DanglingDecisions(Reference reference, TableInfo from, TableInfo to)
    {
        _reference = reference;
        _from = from;
        _to = to;
    }

    public Reference Reference => _reference;

    public IReadOnlyList<string> KeyColumns => _from.KeyColumns;

    /// <summary>Null when a table of the reference does not exist in the target (nothing to check there yet).</summary>
    public static async Task<DanglingDecisions?> LoadAsync(NpgsqlConnection conn, Reference reference, CancellationToken ct)
    {
        var tables = await Catalog.LoadTablesAsync(conn, [reference.From.Table, reference.To.Table], ct);
        if (!tables.TryGetValue(reference.From.Table, out var from) || !tables.TryGetValue(reference.To.Table, out var to))
        {
            return null;
        }

        if (from.KeyColumns.Count == 0)
        {
            throw new ConfigurationException($"reference '{reference.Name}': {reference.From.Table} has no key to name its rows by");
        }

        foreach (var c in reference.From.Columns.Where(c => from.Column(c) is null).Concat(reference.To.Columns.Where(c => to.Column(c) is null)))
        {
            throw new ConfigurationException($"reference '{reference.Name}': column {c} does not exist");
        }

        return new DanglingDecisions(reference, from, to);
    }

    private static string JsonOf(string alias, IEnumerable<string> columns) =>
        "jsonb_build_object(" + string.Join(", ", columns.Select(c => $"{Sql.QuoteLiteral(c)}, {alias}.{Sql.QuoteIdent(c)}::text")) + ")";

    private string KeyMatch(string alias, string parameter) =>
        string.Join(" AND ", _from.KeyColumns.Select(k => $"{alias}.{Sql.QuoteIdent(k)} = CAST((@{parameter}::jsonb) ->> {Sql.QuoteLiteral(k)} AS {_from.Column(k)!.BaseTypeSql})"));

    /// <summary>The dangling rows with their decisions, at most <paramref name="limit"/>, and how many there are in all.</summary>
    public async Task<(long Count, long Undecided, List<DanglingRow> Rows)> ListAsync(NpgsqlConnection conn, string domain, int limit, CancellationToken ct, NpgsqlTransaction? tx = null)
    {
        var sql = $"""
            SELECT d.key::text AS key, d.value::text AS value, c.action, c.placeholder::text AS placeholder, c.decided_by, c.decided_at, count(*) OVER () AS total,
                   count(*) FILTER (WHERE c.action IS NULL) OVER () AS undecided
            FROM (SELECT DISTINCT {JsonOf("x", _from.KeyColumns)} AS key, {JsonOf("x", _reference.From.Columns)} AS value
                  FROM ({_reference.DanglingQuery(_from.KeyColumns)}) x) d
            LEFT JOIN peeq_cdc.cutover_decisions c ON c.domain = @domain AND c.reference = @reference AND c.key = d.key
            ORDER BY (c.action IS NOT NULL), d.key::text
            LIMIT @limit
            """;
        var rows = (await conn.QueryAsync<(string key, string value, string? action, string? placeholder, string? decided_by, DateTime? decided_at, long total, long undecided)>(
            new CommandDefinition(sql, new { domain, reference = _reference.Name, limit }, tx, commandTimeout: 0, cancellationToken: ct))).ToList();
        return (rows.FirstOrDefault().total, rows.FirstOrDefault().undecided,
            rows.Select(r => new DanglingRow(_reference.Name, r.key, r.value, r.action, r.placeholder, r.decided_by, r.decided_at)).ToList());
    }

    /// <summary>A key as the operator writes it (a JSON object, or the bare value of a one-column key) in the form decisions use.</summary>
    public string NormalizeKey(string text) => Normalize(text, _from.KeyColumns, "key");

    /// <summary>A placeholder parent as the operator writes it, keyed by the reference's from columns.</summary>
    public string NormalizePlaceholder(string text) => Normalize(text, _reference.From.Columns, "placeholder");

    private string Normalize(string text, IReadOnlyList<string> columns, string what)
    {
        var result = new JsonObject();
        if (text.TrimStart().StartsWith('{'))
        {
            if (JsonNode.Parse(text) is not JsonObject o)
            {
                throw new ConfigurationException($"--{what}: not a JSON object: {text}");
            }

            foreach (var (k, v) in o)
            {
                if (!columns.Contains(k))
                {
                    throw new ConfigurationException($"--{what}: {k} is not one of {string.Join(", ", columns)} ({_reference.Name})");
                }

                result[k] = v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : v?.ToJsonString();
            }
        }
        else if (columns.Count == 1)
        {
            result[columns[0]] = text;
        }
        else
        {
            throw new ConfigurationException($"--{what}: {string.Join(", ", columns)} has several columns: give a JSON object ({{\"{columns[0]}\": ...}})");
        }

        var missing = columns.Where(c => result[c] is null).ToList();
        if (missing.Count > 0)
        {
            throw new ConfigurationException($"--{what}: no value for {string.Join(", ", missing)} ({_reference.Name})");
        }

        return result.ToJsonString();
    }

    /// <summary>Records (or replaces) the decision on one key, with who took it and when.</summary>
    public async Task<string> DecideAsync(NpgsqlConnection conn, string domain, string keyText, string action, string? placeholderText, string by, CancellationToken ct)
    {
        if (!Actions.All.Contains(action))
        {
            throw new ConfigurationException($"--action must be one of {string.Join(", ", Actions.All)} (got '{action}')");
        }

        var key = NormalizeKey(keyText);
        string? placeholder = null;
        if (action == Actions.Placeholder)
        {
            placeholder = NormalizePlaceholder(placeholderText ?? throw new ConfigurationException("--action placeholder needs --placeholder: the parent to attach the row to"));
            var match = string.Join(" AND ", _reference.From.Columns.Zip(_reference.To.Columns).Select(p =>
                $"t.{Sql.QuoteIdent(p.Second)} = CAST((@placeholder::jsonb) ->> {Sql.QuoteLiteral(p.First)} AS {_to.Column(p.Second)!.BaseTypeSql})"));
            if (!await conn.ExecuteScalarAsync<bool>(new CommandDefinition($"SELECT EXISTS (SELECT 1 FROM {_reference.To.Table.Quoted} t WHERE {match})", new { placeholder }, cancellationToken: ct)))
            {
                throw new ConfigurationException($"placeholder {placeholder} does not exist in {_reference.To.Table}: create the placeholder parent first");
            }
        }
        else if (placeholderText is not null)
        {
            throw new ConfigurationException("--placeholder goes with --action placeholder only");
        }

        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.cutover_decisions (domain, reference, key, action, placeholder, decided_by) VALUES (@domain, @reference, @key::jsonb, @action, @placeholder::jsonb, @by)
            ON CONFLICT (domain, reference, key) DO UPDATE SET action = excluded.action, placeholder = excluded.placeholder, decided_by = excluded.decided_by,
                decided_at = now(), applied_at = NULL
            """, new { domain, reference = _reference.Name, key, action, placeholder, by }, cancellationToken: ct));
        return key;
    }

    /// <summary>
    /// Carries out the decisions on every row that dangles now, inside <paramref name="tx"/>. Throws when one is
    /// undecided (it appeared after the check: the run stops before the grant switch and unfences).
    /// Returns what was done and whether a 'keep' means the constraint must be added NOT VALID.
    /// </summary>
    public async Task<(List<AppliedDecision> Applied, bool Kept)> ApplyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string domain, CancellationToken ct)
    {
        var (_, undecided, rows) = await ListAsync(conn, domain, int.MaxValue, ct, tx);
        if (undecided > 0)
        {
            throw new CutoverRefusedException($"reference {_reference.Name}: {undecided} dangling row(s) without a decision, e.g. {string.Join(", ", rows.Where(r => r.Action is null).Take(5).Select(r => r.Key))}");
        }

        var applied = new List<AppliedDecision>();
        var kept = false;
        foreach (var row in rows)
        {
            long n = 0;
            switch (row.Action)
            {
                case Actions.Delete:
                    n = await conn.ExecuteAsync(new CommandDefinition($"DELETE FROM {_reference.From.Table.Quoted} f WHERE {KeyMatch("f", "key")}", new { key = row.Key }, tx, cancellationToken: ct));
                    break;
                case Actions.Placeholder:
                    var set = string.Join(", ", _reference.From.Columns.Select(c => $"{Sql.QuoteIdent(c)} = CAST((@placeholder::jsonb) ->> {Sql.QuoteLiteral(c)} AS {_from.Column(c)!.BaseTypeSql})"));
                    n = await conn.ExecuteAsync(new CommandDefinition($"UPDATE {_reference.From.Table.Quoted} f SET {set} WHERE {KeyMatch("f", "key")}",
                        new { key = row.Key, placeholder = row.Placeholder }, tx, cancellationToken: ct));
                    break;
                case Actions.Keep:
                    kept = true;
                    break;
            }

            await conn.ExecuteAsync(new CommandDefinition("UPDATE peeq_cdc.cutover_decisions SET applied_at = now() WHERE domain = @domain AND reference = @reference AND key = @key::jsonb",
                new { domain, reference = _reference.Name, key = row.Key }, tx, cancellationToken: ct));
            applied.Add(new AppliedDecision(_reference.Name, row.Key, row.Action!, row.Placeholder, row.DecidedBy!, row.DecidedAt!.Value, n));
        }

        return (applied, kept);
    }
}
