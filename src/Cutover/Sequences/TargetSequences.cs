using Dapper;
using Npgsql;

namespace Peeq.Cdc.Cutover.Sequences;

/// <summary>A sequence owned by a target column (serial, identity), where it stands, and where cutover puts it.</summary>
/// <param name="MaxValue">The column's highest value (replicated rows); null for an empty table.</param>
/// <param name="Current">The highest value the sequence has handed out (or would, for a fresh one: start - 1).</param>
/// <param name="SetTo">The value it is set to (the next nextval is SetTo + increment); equal to Current when no change is needed.</param>
public sealed record SequenceChange(string Sequence, string Table, string Column, long? MaxValue, long Current, long SetTo)
{
    public bool Changes => SetTo != Current;
}

/// <summary>
/// Logical decoding does not replicate sequences: the target's serial and identity columns hold the legacy rows' values
/// while their sequences never moved. Cutover sets each past the highest replicated value, never backwards, so the
/// first row a service inserts gets a fresh key. Sequences of the pipeline's own schema are left alone.
/// </summary>
public static class TargetSequences
{
    public static async Task<List<SequenceChange>> PlanAsync(NpgsqlConnection conn, CancellationToken ct, NpgsqlTransaction? tx = null)
    {
        var owned = await conn.QueryAsync<(string seq, string tbl, string col, string coltype, long increment)>(new CommandDefinition("""
            SELECT s.oid::regclass::text, c.oid::regclass::text, a.attname::text, format_type(a.atttypid, NULL), q.seqincrement
            FROM pg_depend d
            JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
            JOIN pg_sequence q ON q.seqrelid = s.oid
            JOIN pg_class c ON c.oid = d.refobjid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid
            WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
              AND n.nspname NOT IN ('peeq_cdc', 'pg_catalog', 'information_schema')
            ORDER BY 1
            """, transaction: tx, cancellationToken: ct));
        var result = new List<SequenceChange>();
        foreach (var (seq, tbl, col, coltype, increment) in owned)
        {
            if (coltype is not ("smallint" or "integer" or "bigint") || increment <= 0)
            {
                continue;
            }

            // seq and tbl come from regclass output: already quoted where needed. col is quoted here.
            var max = await conn.ExecuteScalarAsync<long?>(new CommandDefinition($"SELECT max({Contracts.Sql.QuoteIdent(col)})::bigint FROM {tbl}", transaction: tx, commandTimeout: 0, cancellationToken: ct));
            var (last, called) = await conn.QuerySingleAsync<(long, bool)>(new CommandDefinition($"SELECT last_value, is_called FROM {seq}", transaction: tx, cancellationToken: ct));
            var current = called ? last : last - increment;
            var setTo = max is { } m && m > current ? m : current;
            result.Add(new SequenceChange(seq, tbl, col, max, current, setTo));
        }

        return result;
    }

    /// <summary>Sets every sequence that is behind its column; idempotent (a sequence already past is left as it is).</summary>
    public static async Task<List<SequenceChange>> SetAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var plan = await PlanAsync(conn, ct);
        foreach (var s in plan.Where(s => s.Changes))
        {
            await conn.ExecuteAsync(new CommandDefinition("SELECT setval(@seq::regclass, @value, true)", new { seq = s.Sequence, value = s.SetTo }, cancellationToken: ct));
        }

        return plan;
    }
}
