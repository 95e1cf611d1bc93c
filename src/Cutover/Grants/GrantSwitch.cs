using Dapper;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Cutover.Fencing;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Cutover.Grants;

/// <summary>One privilege change, in the database it runs in.</summary>
public sealed record GrantChange(string Where, string Statement);

/// <summary>
/// The switch of the services' roles: they may write the target's tables (those the pipeline wrote, and their
/// sequences) and may no longer write the domain's legacy tables (every table of the captured tables' schemas). GRANT
/// and REVOKE are idempotent. Afterwards each captured table is checked with has_table_privilege, so a privilege that
/// still reaches a role through PUBLIC or a group it belongs to is reported, not overlooked.
/// </summary>
public static class GrantSwitch
{
    public static async Task<List<GrantChange>> PlanAsync(CutoverDomain domain, IReadOnlyList<string> roles, NpgsqlConnection target, CancellationToken ct)
    {
        var changes = new List<GrantChange>();
        if (roles.Count == 0)
        {
            return changes;
        }

        var tables = (await target.QueryAsync<string>(new CommandDefinition("SELECT target_table FROM peeq_cdc.lineage_tables ORDER BY 1", cancellationToken: ct)))
            .Select(t => TableId.Parse(t)).ToList();
        var sequences = await Sequences.TargetSequences.PlanAsync(target, ct);
        foreach (var role in roles)
        {
            var r = Sql.QuoteIdent(role);
            foreach (var schema in tables.Select(t => t.Schema).Distinct())
            {
                changes.Add(new GrantChange(domain.Target.Name, $"GRANT USAGE ON SCHEMA {Sql.QuoteIdent(schema)} TO {r}"));
            }

            foreach (var t in tables)
            {
                changes.Add(new GrantChange(domain.Target.Name, $"GRANT SELECT, INSERT, UPDATE, DELETE ON {t.Quoted} TO {r}"));
            }

            foreach (var s in sequences)
            {
                changes.Add(new GrantChange(domain.Target.Name, $"GRANT USAGE, SELECT, UPDATE ON SEQUENCE {s.Sequence} TO {r}"));
            }

            foreach (var source in domain.Sources)
            {
                foreach (var schema in source.Tables.Select(t => TableId.Parse(t).Schema).Distinct())
                {
                    changes.Add(new GrantChange(source.Name, $"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {Sql.QuoteIdent(schema)} FROM {r}"));
                    changes.Add(new GrantChange(source.Name, $"REVOKE USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA {Sql.QuoteIdent(schema)} FROM {r}"));
                }
            }
        }

        return changes;
    }

    /// <summary>Makes the changes; throws when a role can still write a captured table afterwards, or does not exist.</summary>
    public static async Task<List<GrantChange>> ApplyAsync(CutoverDomain domain, IReadOnlyList<string> roles, NpgsqlConnection target, CancellationToken ct)
    {
        foreach (var role in roles)
        {
            if (!await target.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = @role)", new { role }, cancellationToken: ct)))
            {
                throw new CutoverRefusedException($"service role '{role}' does not exist on the target's server");
            }
        }

        var changes = await PlanAsync(domain, roles, target, ct);
        foreach (var c in changes.Where(c => c.Where == domain.Target.Name))
        {
            await target.ExecuteAsync(new CommandDefinition(c.Statement, cancellationToken: ct));
        }

        var problems = new List<string>();
        foreach (var source in domain.Sources)
        {
            await using var conn = await SourceFence.OpenAsync(source, ct);
            foreach (var c in changes.Where(c => c.Where == source.Name))
            {
                await conn.ExecuteAsync(new CommandDefinition(c.Statement, cancellationToken: ct));
            }

            foreach (var role in roles)
            {
                foreach (var table in source.Tables.Select(t => TableId.Parse(t)))
                {
                    if (await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                        "SELECT has_table_privilege(@role, @table, 'INSERT') OR has_table_privilege(@role, @table, 'UPDATE') OR has_table_privilege(@role, @table, 'DELETE') OR has_table_privilege(@role, @table, 'TRUNCATE')",
                        new { role, table = table.Quoted }, cancellationToken: ct)))
                    {
                        problems.Add($"{source.Name}: role {role} can still write {table} (through PUBLIC, a role it is a member of, or ownership)");
                    }
                }
            }
        }

        if (problems.Count > 0)
        {
            throw new CutoverRefusedException("after the grant switch: " + string.Join("; ", problems));
        }

        return changes;
    }
}
