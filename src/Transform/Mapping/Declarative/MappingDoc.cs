using System.Text;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Transform.Mapping.Language;

namespace Peeq.Cdc.Transform.Mapping.Declarative;

/// <summary>
/// Generates docs/mappings.md from the mapping files: the language, every target table with the source
/// tables feeding it (column by column), identity registrations, and an index of every source table with
/// its destination or the reason it is excluded. A test fails when the committed page differs.
/// </summary>
public static class MappingDoc
{
    public static IReadOnlyList<MappingFile> LoadFolder(string folder, string display)
    {
        var files = Directory.GetFiles(folder, "*.yaml").Order(StringComparer.Ordinal).ToList();
        var problems = new List<string>();
        var result = new List<MappingFile>();
        foreach (var f in files)
        {
            try
            {
                result.Add(MappingFile.Load(f, Path.Combine(display, Path.GetFileName(f)).Replace('\\', '/')));
            }
            catch (MappingFileException e)
            {
                problems.AddRange(e.Problems);
            }
        }

        if (problems.Count > 0)
        {
            throw new MappingFileException(problems);
        }

        return result;
    }

    public static string Generate(IReadOnlyList<MappingFile> files)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Mappings: 22 legacy databases into 6 targets");
        sb.AppendLine();
        sb.AppendLine("<!-- GENERATED from mappings/*.yaml by `peeq-cdc mappings doc --out docs/mappings.md`; do not edit by hand (a test compares). -->");
        sb.AppendLine();
        sb.AppendLine(Intro);
        sb.AppendLine("## Functions");
        sb.AppendLine();
        sb.AppendLine("| function | meaning |");
        sb.AppendLine("|---|---|");
        foreach (var f in Functions.BuiltIn)
        {
            sb.Append("| `").Append(f.Name).Append("` | ").Append(Cell(f.Description)).AppendLine(" |");
        }

        sb.AppendLine();
        sb.AppendLine("## Every source table");
        sb.AppendLine();
        sb.AppendLine("| source | table | → target | destination, or why it is excluded |");
        sb.AppendLine("|---|---|---|---|");
        var index = new List<(string Source, string Table, string Target, string What)>();
        foreach (var f in files)
        {
            foreach (var t in f.Tables)
            {
                foreach (var from in t.From)
                {
                    index.Add((from.Source, from.Table.Name, f.Target, $"{t.Table.Name}" + (from.Explode is null ? "" : " (exploded)") + (from.Where is null ? "" : " (filtered)")));
                }
            }

            foreach (var i in f.Identities)
            {
                foreach (var from in i.From)
                {
                    index.Add((from.Source, from.Table.Name, f.Target, $"identity map `{i.Kind}`"));
                }
            }

            foreach (var e in f.Excludes)
            {
                index.Add((e.Source, e.Table.Name, f.Target, "**excluded**: " + e.Reason));
            }
        }

        foreach (var g in index.GroupBy(x => (x.Source, x.Table, x.Target)).OrderBy(g => g.Key.Source, StringComparer.Ordinal).ThenBy(g => g.Key.Table, StringComparer.Ordinal))
        {
            sb.Append("| ").Append(g.Key.Source).Append(" | ").Append(g.Key.Table).Append(" | ").Append(g.Key.Target).Append(" | ")
                .Append(Cell(string.Join("; ", g.Select(x => x.What).Distinct()))).AppendLine(" |");
        }

        sb.AppendLine();
        sb.AppendLine("## Where the seed is incomplete or contradicts itself");
        sb.AppendLine();
        sb.AppendLine("What each mapping file decides where the seed leaves a question open or answers it twice (the `decisions:` of");
        sb.AppendLine("the mapping files; docs/schemas.md has the decisions about the schemas themselves, D1-D20).");
        sb.AppendLine();
        foreach (var f in files.Where(f => f.Decisions is { Count: > 0 }))
        {
            sb.Append("### ").AppendLine(f.Target);
            sb.AppendLine();
            foreach (var d in f.Decisions!)
            {
                sb.Append("- **The seed:** ").Append(d.Seed.ReplaceLineEndings(" ")).Append(" **The mapping:** ").AppendLine(d.Decision.ReplaceLineEndings(" "));
            }

            sb.AppendLine();
        }

        foreach (var f in files)
        {
            Target(sb, f);
        }

        return sb.ToString().Replace("\r\n", "\n", StringComparison.Ordinal);
    }

    private static void Target(StringBuilder sb, MappingFile f)
    {
        sb.Append("## ").Append(f.Target).Append(" (`").Append(f.DisplayPath).AppendLine("`)");
        sb.AppendLine();
        if (f.Description is { } d)
        {
            sb.AppendLine(d);
            sb.AppendLine();
        }

        sb.Append("Sources: ").AppendLine(string.Join(", ", f.Sources.Select(s => $"`{s}`")) + ".");
        sb.AppendLine();
        foreach (var t in f.Tables)
        {
            sb.Append("### ").AppendLine(t.Table.Schema == "public" ? t.Table.Name : t.Table.ToString());
            sb.AppendLine();
            if (t.Note is { } n)
            {
                sb.AppendLine(n);
                sb.AppendLine();
            }

            if (t.Conflict is { } c)
            {
                sb.Append("Conflict rule: **").Append(c.Rule == ConflictRule.Priority ? "priority" : "park").Append("**");
                if (c.Order.Count > 0)
                {
                    sb.Append(", order ").Append(string.Join(" > ", c.Order.Select(o => $"`{o}`")));
                }

                sb.AppendLine(c.Note is null ? "." : $". {c.Note}");
                sb.AppendLine();
            }
            else if (t.From.Select(x => x.Source).Distinct().Count() > 1)
            {
                sb.AppendLine("Conflict rule: **park** (no rule declared: a key claimed by two sources is parked).");
                sb.AppendLine();
            }

            foreach (var from in t.From)
            {
                From(sb, from);
            }
        }

        if (f.Identities.Count > 0)
        {
            sb.AppendLine("### Identity map registrations (`peeq_cdc.identity_map`)");
            sb.AppendLine();
            foreach (var i in f.Identities)
            {
                sb.Append("- **").Append(i.Kind).Append("**");
                if (i.Note is { } n)
                {
                    sb.Append(": ").Append(n.ReplaceLineEndings(" "));
                }

                if (i.Conflict is { Rule: ConflictRule.Priority } c)
                {
                    sb.Append(" Priority: ").Append(string.Join(" > ", c.Order.Select(o => $"`{o}`"))).Append('.');
                }

                sb.AppendLine();
                foreach (var from in i.From)
                {
                    var key = from.Columns.First(x => x.Key == "legacy_key").Value.Text;
                    var id = from.Columns.First(x => x.Key == "id").Value.Text;
                    sb.Append("  - `").Append(from.Source).Append('.').Append(from.Table.Name).Append("`: legacy key `").Append(key).Append("` → id `").Append(id).Append('`')
                        .AppendLine(from.Where is null ? "" : $" where `{from.Where.Text}`");
                }
            }

            sb.AppendLine();
        }

        if (f.Excludes.Count > 0)
        {
            sb.AppendLine("### Excluded source tables");
            sb.AppendLine();
            foreach (var e in f.Excludes)
            {
                sb.Append("- `").Append(e.Source).Append('.').Append(e.Table.Name).Append("`: ").AppendLine(e.Reason.ReplaceLineEndings(" "));
            }

            sb.AppendLine();
        }
    }

    private static void From(StringBuilder sb, FromSpec from)
    {
        sb.Append("From `").Append(from.Source).Append('.').Append(from.Table.Name).Append('`');
        if (from.Explode is { } x)
        {
            sb.Append(", one row per element `").Append(x.As).Append("` of `").Append(x.Column.Text).Append("` (replaced as a set per source row)");
        }

        if (from.Where is { } w)
        {
            sb.Append(", where `").Append(w.Text).Append("` (a row that stops matching is deleted)");
        }

        sb.AppendLine(":");
        sb.AppendLine();
        if (from.Note is { } n)
        {
            sb.AppendLine(n);
            sb.AppendLine();
        }

        sb.AppendLine("| column | ← expression |");
        sb.AppendLine("|---|---|");
        foreach (var (name, e) in from.Columns)
        {
            sb.Append("| ").Append(name).Append(" | `").Append(e.Text.Replace("|", "\\|", StringComparison.Ordinal).ReplaceLineEndings(" ")).AppendLine("` |");
        }

        sb.AppendLine();
        if (from.Drop.Count > 0)
        {
            sb.AppendLine("Not carried: " + string.Join("; ", from.Drop.Select(kv => $"`{kv.Key}` ({kv.Value.ReplaceLineEndings(" ").TrimEnd('.')})")) + ".");
            sb.AppendLine();
        }
    }

    private static string Cell(string s) => s.ReplaceLineEndings(" ").Replace("|", "\\|", StringComparison.Ordinal);

    private const string Intro = """
        Each target database has one mapping file in `mappings/`, named by the configuration
        (`targets[].mapping`). Transform maps every source change through it; the same engine is a library
        (`DeclarativeMapping`) that maps a `RawChange` to row operations without Kafka, for the reconciler.

        ## The format

        ```yaml
        target: peeq_users                 # the target database this file fills
        description: ...                   # shown here
        sources: [celebrity, fan]          # the configuration's source names that feed this target
        tables:
          - table: profiles                # a target table (its primary key is the key)
            conflict: {rule: priority, order: [celebrity, fan]}   # or {rule: park} (the default)
            from:
              - source: celebrity          # a source, and one of its tables
                table: celebrity_profiles
                where: status <> 'DELETED' # optional filter; a row that stops matching is deleted
                explode: {column: tags, as: tag}   # optional: one target row per array element
                columns:                   # target column: expression over the source row
                  id: celebrity_user_id
                  profile_type: "'CELEBRITY'"
                  created_on: utc(created_on)
                drop: {first_name: "why it is not carried"}
        identities:                        # rows of peeq_cdc.identity_map, for lookup()
          - kind: inventory_item_by_item_id
            from: [{source: inventory, table: inventory_item, legacy_key: item_id, id: id}]
        exclude:                           # source tables deliberately not carried, with the reason
          - {source: celebrity, table: profile_short_links, reason: "..."}
        decisions:                         # where the seed is incomplete or contradicts itself: what this file does
          - {seed: "what the seed says, or does not", decision: "what the mapping does, and why"}
        ```

        **Operations.** A rule whose target key follows from the source key alone is *keyed*: insert and
        update become an `upsert`, a delete a `delete` by key, a key change a delete of the old key plus an
        upsert. A rule whose target key depends on other columns (content-db's `content_id`, an identity's
        legacy key) or that explodes an array is *origin-scoped*: each change becomes a `replace` of the
        rows that source row owns (a delete: a `delete` without key). A `where` that no longer matches
        turns the change into a delete (an insert that does not match produces nothing). A source
        TRUNCATE becomes a `truncate` of each target table the source table feeds. Columns a rule does not
        name keep their stored values; a column computed only from unchanged TOASTed values is marked
        unchanged (the Sink keeps it); one computed from a mix of changed and unsent values parks the row.

        **Conflicts.** `conflict: {rule: priority, order: [a, b]}` gives each row operation of that table a
        claim (`{"mode": "priority", "rank": i}`, docs/contracts.md): the Sink lets the lower rank own a
        key two sources claim and keeps the other claim, shadowed. Without a rule (`park`) a key claimed by
        a second source, or by a second row of the same source, is parked by the Sink, never overwritten.

        **Types.** Expressions are checked against the live catalogs at start (`peeq-cdc mappings check`):
        an unknown table or column, a function misused, or a value that cannot go into its target column
        is an error naming `file:line:column`. Narrowing needs a declared cast, and the cast is exact:
        `cents(price)` (numeric in major units → integer cents), `int(x)`, `utc(t)` (timestamptz →
        timestamp in UTC), `uuid(s)`. A value that would lose information (sub-cent digits, beyond `INT`,
        a string longer than `varchar(n)`, a scale beyond `numeric(p,s)`) raises `lossy cast: ...` and
        the change is parked with that reason, never rounded or cut. Numerics are computed exactly at any
        size (an unscaled big integer and a scale), never through binary floats or System.Decimal.

        **Expressions.** Column names; literals `'text'` (`''` for a quote), numbers, `true`, `false`,
        `null`; `||` (NULL if either side is), `+ - *` (exact), `= <> < <= > >=`, `is [not] null`,
        `[not] like`, `[not] in (...)`, `and or not`; `case [x] when ... then ... [else ...] end`;
        `doc->'key'`, `doc->>'key'` on json/jsonb; and the functions below. Comparisons follow SQL's
        three-valued logic: a filter passes only when it is true.

        **Escape hatch.** What the language cannot express is a C# `ICustomFunction` registered with
        `Functions.Register` and called like a built-in (it must be deterministic). The shipped mappings
        use none: every rule below is expressed in the language.

        """;
}
