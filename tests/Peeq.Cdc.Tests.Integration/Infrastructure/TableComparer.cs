using System.Text;
using Npgsql;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Tests.Integration.Infrastructure;

/// <summary>
/// Compares a table in two databases row by row, as PostgreSQL's own text output ordered by every
/// column: exactly equal means the same rows and the same values, to the last digit and microsecond.
/// </summary>
public static class TableComparer
{
    public static async Task<List<string>> DumpAsync(string connectionString, TableId table, IReadOnlyList<string>? columns = null)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        if (columns is null)
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = @s AND c.relname = @t AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
                """, conn);
            cmd.Parameters.AddWithValue("s", table.Schema);
            cmd.Parameters.AddWithValue("t", table.Name);
            var names = new List<string>();
            await using (var r = await cmd.ExecuteReaderAsync())
            {
                while (await r.ReadAsync())
                {
                    names.Add(r.GetString(0));
                }
            }

            columns = names;
        }

        var list = string.Join(", ", columns.Select(Sql.QuoteIdent));
        var lines = new List<string>();
        using var reader = await conn.BeginTextExportAsync($"COPY (SELECT {list} FROM {table.Quoted}) TO STDOUT");
        while (await reader.ReadLineAsync() is { } line)
        {
            lines.Add(line);
        }

        // Sorted as text: every type (json included) compares, and equal tables give equal lists.
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    /// <summary>Fails with the first differences when the table differs between the two databases.</summary>
    public static async Task AssertEqualAsync(string sourceCs, string targetCs, TableId table)
    {
        var source = await DumpAsync(sourceCs, table);
        var target = await DumpAsync(targetCs, table);
        if (source.SequenceEqual(target))
        {
            return;
        }

        var missing = source.Except(target).Take(5).ToList();
        var extra = target.Except(source).Take(5).ToList();
        var sb = new StringBuilder($"{table}: source has {source.Count} rows, target {target.Count}.");
        foreach (var m in missing)
        {
            sb.Append("\n  only in source: ").Append(m.Length > 300 ? m[..300] + "..." : m);
        }

        foreach (var x in extra)
        {
            sb.Append("\n  only in target: ").Append(x.Length > 300 ? x[..300] + "..." : x);
        }

        Assert.Fail(sb.ToString());
    }
}
