using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Transform.Mapping.Language;

namespace Peeq.Cdc.Transform.Mapping.Declarative;

/// <summary>The result of checking a mapping file against catalogs: problems that stop it, and warnings.</summary>
public sealed record MappingCheck(IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings);

/// <summary>
/// A mapping file bound to its catalogs: maps source changes to target row operations as the file
/// declares. Stateless and deterministic (a replay yields the same operations); the state its rules
/// need (ownership, priority, identities) lives in the target, where the Sink applies them. Usable
/// outside the Transform stage (the reconciler maps source rows through it to compute expected rows).
/// </summary>
public sealed class DeclarativeMapping : ITargetMapping
{
    private readonly Dictionary<(string Source, TableId Table), List<Rule>> _rules;
    private readonly HashSet<(string Source, TableId Table)> _excluded;

    private DeclarativeMapping(string target, MappingFile file, Dictionary<(string, TableId), List<Rule>> rules, HashSet<(string, TableId)> excluded)
    {
        Target = target;
        File = file;
        _rules = rules;
        _excluded = excluded;
    }

    public string Target { get; }

    public MappingFile File { get; }

    /// <summary>The target tables each source table feeds (for reports and the reconciler).</summary>
    public IEnumerable<(string Source, TableId SourceTable, TableId TargetTable)> Routes =>
        _rules.SelectMany(kv => kv.Value.Select(r => (kv.Key.Source, kv.Key.Table, r.Target)));

    /// <summary>
    /// Checks <paramref name="file"/> against <paramref name="catalog"/> and binds it. Throws
    /// <see cref="MappingFileException"/> listing every problem with its file:line:column.
    /// </summary>
    public static DeclarativeMapping Bind(string target, MappingFile file, MappingCatalog catalog, out MappingCheck check)
    {
        var errors = new List<string>();
        var warnings = new List<string>();
        var rules = new Dictionary<(string, TableId), List<Rule>>();
        foreach (var t in file.Tables)
        {
            var targetTable = t.Table == CatalogTable.IdentityMap.Id ? CatalogTable.IdentityMap : catalog.TargetTables.GetValueOrDefault(t.Table);
            if (targetTable is null)
            {
                errors.Add($"{t.Position}: target table {t.Table} does not exist in the target database");
                continue;
            }

            if (t.Key is { } key && !key.SequenceEqual(targetTable.Key))
            {
                errors.Add($"{t.Position}: key [{string.Join(", ", key)}] is not the primary key of {t.Table} ([{string.Join(", ", targetTable.Key)}])");
            }

            if (targetTable.Key.Count == 0)
            {
                errors.Add($"{t.Position}: target table {t.Table} has no primary key; a mapped table needs one (ownership and the version guard are per key)");
                continue;
            }

            foreach (var f in t.From)
            {
                var rule = Rule.Compile(f, targetTable, Claim(t.Conflict, f.Source), catalog, errors, identityKind: null);
                if (rule is not null)
                {
                    Add(rules, rule);
                }
            }
        }

        foreach (var id in file.Identities)
        {
            foreach (var f in id.From)
            {
                var rule = Rule.Compile(f, CatalogTable.IdentityMap, Claim(id.Conflict, f.Source), catalog, errors, identityKind: id.Kind);
                if (rule is not null)
                {
                    Add(rules, rule);
                }
            }
        }

        var excluded = new HashSet<(string, TableId)>();
        foreach (var e in file.Excludes)
        {
            if (!excluded.Add((e.Source, e.Table)))
            {
                errors.Add($"{e.Position}: {e.Source}.{e.Table} is excluded twice");
            }

            if (rules.ContainsKey((e.Source, e.Table)))
            {
                errors.Add($"{e.Position}: {e.Source} table {e.Table} is both mapped and excluded");
            }

            if (catalog.SourceTables.Count > 0 && catalog.Captured.ContainsKey(e.Source) && !catalog.SourceTables.ContainsKey((e.Source, e.Table)))
            {
                errors.Add($"{e.Position}: excluded table {e.Table} does not exist in source '{e.Source}'");
            }
        }

        // Coverage against the configuration: every captured table is mapped or excluded, every mapped one is captured.
        foreach (var (source, tables) in catalog.Captured)
        {
            if (!file.Sources.Contains(source))
            {
                errors.Add($"{file.DisplayPath}:1:1: source '{source}' feeds target '{target}' in the configuration but this mapping file does not list it under sources");
                continue;
            }

            foreach (var table in tables.Where(tb => !rules.ContainsKey((source, tb)) && !excluded.Contains((source, tb))))
            {
                errors.Add($"{file.DisplayPath}:1:1: source '{source}' captures {table}, which this file neither maps nor excludes");
            }

            foreach (var (key, list) in rules.Where(r => r.Key.Item1 == source && !tables.Contains(r.Key.Item2)))
            {
                errors.Add($"{list[0].Spec.Position}: {key.Item2} is mapped but source '{source}' does not capture it (add it to the source's tables in the configuration)");
            }
        }

        foreach (var s in file.Sources.Where(s => catalog.Captured.Count > 0 && !catalog.Captured.ContainsKey(s)))
        {
            warnings.Add($"{file.DisplayPath}: source '{s}' is listed but not configured for target '{target}'; its rules are idle");
        }

        // Every source column is carried or dropped with a reason.
        foreach (var ((source, table), list) in rules)
        {
            if (!catalog.SourceTables.TryGetValue((source, table), out var st))
            {
                continue;
            }

            var used = new HashSet<string>(list.SelectMany(r => r.SourceColumnsUsed), StringComparer.Ordinal);
            var dropped = new HashSet<string>(list.SelectMany(r => r.Spec.Drop.Keys), StringComparer.Ordinal);
            foreach (var c in st.Columns.Where(c => !used.Contains(c.Name) && !dropped.Contains(c.Name)))
            {
                warnings.Add($"{list[0].Spec.Position}: source column {source}.{table}.{c.Name} is neither mapped nor listed under drop: with a reason");
            }

            foreach (var d in dropped.Where(d => st.Column(d) is null))
            {
                errors.Add($"{list.First(r => r.Spec.Drop.ContainsKey(d)).Spec.Position}: drop: {table} has no column '{d}'");
            }
        }

        check = new MappingCheck(errors, warnings);
        if (errors.Count > 0)
        {
            throw new MappingFileException(errors);
        }

        return new DeclarativeMapping(target, file, rules, excluded);
    }

    private static void Add(Dictionary<(string, TableId), List<Rule>> rules, Rule rule)
    {
        if (!rules.TryGetValue((rule.Source, rule.SourceTable), out var list))
        {
            list = [];
            rules[(rule.Source, rule.SourceTable)] = list;
        }

        list.Add(rule);
    }

    private static ConflictClaim? Claim(ConflictSpec? conflict, string source)
    {
        if (conflict is null || conflict.Rule == ConflictRule.Park)
        {
            return null;
        }

        var rank = conflict.Order.ToList().IndexOf(source);
        // A source the order does not name has no priority: a key it shares with another source is parked.
        return rank < 0 ? null : new ConflictClaim(ConflictMode.Priority, rank);
    }

    /// <summary>The catalog type of a source column this mapping reads (Debezium events without schemas need it).</summary>
    public SqlType? SourceColumnType(string source, TableId table, string column) =>
        _rules.TryGetValue((source, table), out var rules) ? rules[0].SourceTypes.GetValueOrDefault(column) : null;

    public bool Handles(string source, TableId table) => _rules.ContainsKey((source, table)) || _excluded.Contains((source, table));

    public void Map(RawChange change, MappingOutput output)
    {
        if (!_rules.TryGetValue((change.Source, change.Table), out var rules))
        {
            if (_excluded.Contains((change.Source, change.Table)))
            {
                return;
            }

            throw new MappingException($"no mapping for {change.Source} table {change.Table} in {File.DisplayPath} (map it or exclude it with a reason)");
        }

        foreach (var rule in rules)
        {
            try
            {
                rule.Map(change, output);
            }
            catch (MappingException e) when (e.TargetTable is null)
            {
                throw new MappingException($"{rule.Target}: {e.Message}", rule.Target);
            }
        }
    }

    public string? CheckSchema(string source, TableId table, IReadOnlyList<SourceColumn> columns)
    {
        if (!_rules.TryGetValue((source, table), out var rules))
        {
            return null;
        }

        var reasons = rules.Select(r => r.CheckSchema(columns)).Where(r => r is not null).Distinct().ToList();
        if (reasons.Count > 0)
        {
            return string.Join("; ", reasons);
        }

        foreach (var r in rules)
        {
            r.Rebind(columns);
        }

        return null;
    }

    /// <summary>One source table → one target table, compiled.</summary>
    private sealed class Rule
    {
        public required string Source { get; init; }

        public required TableId SourceTable { get; init; }

        public required TableId Target { get; init; }

        public required FromSpec Spec { get; init; }

        public required List<BoundColumn> Columns { get; init; }

        public required IReadOnlyList<string> Key { get; init; }

        public Expr? Where { get; init; }

        public Expr? Explode { get; init; }

        public string? Alias { get; init; }

        public required bool Keyed { get; init; }

        public ConflictClaim? Claim { get; init; }

        public required Dictionary<string, SqlType> SourceTypes { get; set; }

        public required IReadOnlySet<string> SourceKey { get; init; }

        public required IReadOnlySet<string> SourceColumnsUsed { get; init; }

        public static Rule? Compile(FromSpec f, CatalogTable target, ConflictClaim? claim, MappingCatalog catalog, List<string> errors, string? identityKind)
        {
            if (!catalog.SourceTables.TryGetValue((f.Source, f.Table), out var source))
            {
                errors.Add($"{f.Position}: table {f.Table} does not exist in source '{f.Source}'" + (catalog.Captured.ContainsKey(f.Source) ? "" : " (or the source is not configured for this target)"));
                return null;
            }

            var before = errors.Count;
            var types = source.Columns.ToDictionary(c => c.Name, c => c.Type, StringComparer.Ordinal);
            var scope = new Scope(types);
            Expr? explode = null;
            string? alias = null;
            if (f.Explode is { } ex)
            {
                explode = Compile(ex.Column, scope, errors);
                if (explode is not null && explode.Type.Kind != SqlKind.Array)
                {
                    errors.Add($"{ex.Column.Position}: explode: {ex.Column.Text} is {explode.Type}, not an array");
                    explode = null;
                }
                else if (explode is not null)
                {
                    alias = ex.As;
                    if (types.ContainsKey(alias))
                    {
                        errors.Add($"{ex.Position}: explode: the element name '{alias}' hides a column of {f.Table}; choose another");
                    }

                    scope = new Scope(types, alias, explode.Type.Element!);
                }
            }

            Expr? where = null;
            if (f.Where is { } w)
            {
                where = Compile(w, scope, errors);
                if (where is not null && where.Type.Kind is not (SqlKind.Bool or SqlKind.Null))
                {
                    errors.Add($"{w.Position}: where: the filter must be a condition (boolean), not {where.Type}");
                }
            }

            var columns = new List<BoundColumn>();
            var specColumns = f.Columns.ToList();
            if (identityKind is not null)
            {
                // identities: kind and source are constants; legacy_key is text and id a uuid.
                specColumns = specColumns.Select(c => c.Key == "legacy_key" ? new KeyValuePair<string, ExprText>(c.Key, c.Value with { Text = $"text({c.Value.Text})", QuoteWidth = c.Value.QuoteWidth - 5 }) : c).ToList();
                columns.Add(new BoundColumn("kind", new LiteralExpr(0, new TextValue(identityKind, SqlType.Text), SqlType.Text), SqlType.Text, new HashSet<string>()));
                columns.Add(new BoundColumn("source", new LiteralExpr(0, new TextValue(f.Source, SqlType.Text), SqlType.Text), SqlType.Text, new HashSet<string>()));
                columns[0].Expr.Check(scope);
                columns[1].Expr.Check(scope);
            }

            foreach (var (name, text) in specColumns)
            {
                var col = target.Column(name);
                if (col is null)
                {
                    var hint = ColumnExpr.Closest(name, target.Columns.Select(c => c.Name));
                    errors.Add($"{text.Position}: target table {target.Id} has no column '{name}'" + (hint is null ? "" : $" (did you mean '{hint}'?)"));
                    continue;
                }

                var e = Compile(text, scope, errors);
                if (e is null)
                {
                    continue;
                }

                if (SqlType.Assignable(e.Type, col.Type) is { } why)
                {
                    errors.Add($"{text.Position}: {target.Id}.{name} ({col.Type}) ← {text.Text}: {why}");
                    continue;
                }

                var refs = e.Columns();
                foreach (var r in refs.Where(r => catalog.IsSensitive(f.Source, f.Table, r)))
                {
                    if (e is not ColumnExpr || r != name)
                    {
                        errors.Add($"{text.Position}: {r} is a sensitive column: it can only be copied as it is into a target column of the same name (it travels sealed)");
                    }
                }

                columns.Add(new BoundColumn(name, e, col.Type, refs, col.NotNull));
            }

            foreach (var k in target.Key.Where(k => columns.All(c => c.Name != k)))
            {
                errors.Add($"{f.Position}: {f.Source}.{f.Table} → {target.Id}: key column '{k}' is not mapped");
            }

            foreach (var c in target.Columns.Where(c => c.NotNull && !c.HasDefault && columns.All(b => b.Name != c.Name)))
            {
                errors.Add($"{f.Position}: {f.Source}.{f.Table} → {target.Id}: column '{c.Name}' is NOT NULL without a default and is not mapped");
            }

            if (errors.Count > before)
            {
                return null;
            }

            var sourceKey = new HashSet<string>(source.Key, StringComparer.Ordinal);
            var keyRefs = columns.Where(c => target.Key.Contains(c.Name)).SelectMany(c => c.Refs).ToHashSet();
            var used = new HashSet<string>(StringComparer.Ordinal);
            foreach (var c in columns)
            {
                used.UnionWith(c.Refs);
            }

            if (where is not null)
            {
                used.UnionWith(where.Columns());
            }

            if (explode is not null)
            {
                used.UnionWith(explode.Columns());
            }

            used.Remove(alias ?? "");
            return new Rule
            {
                Source = f.Source,
                SourceTable = f.Table,
                Target = target.Id,
                Spec = f,
                Columns = columns,
                Key = target.Key,
                Where = where,
                Explode = explode,
                Alias = alias,
                // Keyed when the target key follows from the source key alone (a delete can name it);
                // otherwise the origin row's target rows are replaced as a set.
                Keyed = explode is null && source.Key.Count > 0 && keyRefs.All(sourceKey.Contains),
                Claim = claim,
                SourceTypes = types,
                SourceKey = sourceKey,
                SourceColumnsUsed = used,
            };
        }

        private static Expr? Compile(ExprText text, IScope scope, List<string> errors)
        {
            try
            {
                var e = Parser.Parse(text.Text);
                e.Check(scope);
                return e;
            }
            catch (ExpressionException ex)
            {
                errors.Add($"{text.At(ex.Offset)}: {ex.Message} (in: {text.Text})");
                return null;
            }
        }

        public string? CheckSchema(IReadOnlyList<SourceColumn> columns)
        {
            var now = columns.ToDictionary(c => c.Name, c => SqlType.Parse(c.TypeSql), StringComparer.Ordinal);
            foreach (var used in SourceColumnsUsed.Order(StringComparer.Ordinal))
            {
                if (!now.TryGetValue(used, out var t))
                {
                    return $"column {SourceTable}.{used} was dropped, but {Spec.Position} maps it into {Target}";
                }

                var old = SourceTypes[used];
                if (!Widens(old, t))
                {
                    return $"column {SourceTable}.{used} changed from {old} to {t}, which {Spec.Position} cannot take without losing values (mapped into {Target})";
                }
            }

            return null;
        }

        public void Rebind(IReadOnlyList<SourceColumn> columns)
        {
            SourceTypes = columns.ToDictionary(c => c.Name, c => SqlType.Parse(c.TypeSql), StringComparer.Ordinal);
        }

        private static bool Widens(SqlType old, SqlType now)
        {
            if (old == now)
            {
                return true;
            }

            return (old.Kind, now.Kind) switch
            {
                (SqlKind.Int2, SqlKind.Int4 or SqlKind.Int8) or (SqlKind.Int4, SqlKind.Int8) => true,
                (SqlKind.Varchar or SqlKind.Char, SqlKind.Text) => true,
                (SqlKind.Varchar, SqlKind.Varchar) => now.Length is null || old.Length is not null && now.Length >= old.Length,
                (SqlKind.Numeric, SqlKind.Numeric) => now.Precision is null
                    || old.Precision is not null && now.Scale >= old.Scale && now.Precision - now.Scale >= old.Precision - old.Scale,
                (SqlKind.Json, SqlKind.Jsonb) => true,
                (SqlKind.Array, SqlKind.Array) => Widens(old.Element!, now.Element!),
                _ => false,
            };
        }

        public void Map(RawChange change, MappingOutput output)
        {
            switch (change.Op)
            {
                case ChangeOp.Truncate:
                    output.Add(change, RowOpKind.Truncate, Target, null, null, claim: Claim);
                    return;
                case ChangeOp.Delete:
                    if (Keyed)
                    {
                        var image = Merge(change.Key, change.Before);
                        output.Add(change, RowOpKind.Delete, Target, KeyOf(new RowContext(this, image, null, [])), null, claim: Claim);
                    }
                    else
                    {
                        output.Add(change, RowOpKind.Delete, Target, null, null, claim: Claim);
                    }

                    return;
            }

            var after = change.After ?? throw new MappingException($"{RawEventCodec.OpCode(change.Op)} event without a row image");
            var kept = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (name, _) in SourceTypes)
            {
                if (!after.ContainsKey(name))
                {
                    kept.Add(name);
                }
            }

            // A replica identity FULL before-image still knows a value that was not re-sent.
            if (change.Before is { } b)
            {
                kept.RemoveWhere(b.ContainsKey);
            }

            var row = new RowContext(this, after, change.Before, kept);
            var passes = true;
            if (Where is not null)
            {
                RequireSent(Where, kept, "where");
                passes = Where.Eval(row) is BoolValue { V: true };
            }

            if (Explode is not null)
            {
                if (Explode.Columns().Overlaps(kept))
                {
                    return; // the array did not change (TOAST not re-sent): its rows stay as they are
                }

                var rows = new List<JsonObject>();
                if (passes && Explode.Eval(row) is ArrayValue array)
                {
                    var seen = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var item in Flatten(array))
                    {
                        if (item.IsNull)
                        {
                            continue;
                        }

                        var element = row.With(Alias!, item);
                        var (target, unchanged) = Build(element, kept);
                        if (unchanged.Count > 0)
                        {
                            throw new MappingException($"exploded rows cannot keep stored values ({string.Join(", ", unchanged)} not re-sent)");
                        }

                        var key = string.Join("\u0001", Key.Select(k => ValueJson.KeyText(target[k])));
                        if (seen.Add(key))
                        {
                            rows.Add(target);
                        }
                    }
                }

                output.Add(change, RowOpKind.Replace, Target, null, null, rows: rows, claim: Claim);
                return;
            }

            if (Keyed)
            {
                var newKey = KeyOf(row);
                if (change.Op == ChangeOp.Update && change.Before is { } old && SourceKey.All(old.ContainsKey))
                {
                    var oldKey = KeyOf(new RowContext(this, Merge(null, old), null, []));
                    if (!JsonNode.DeepEquals(oldKey, newKey))
                    {
                        output.Add(change, RowOpKind.Delete, Target, oldKey, null, claim: Claim);
                    }
                }

                if (passes)
                {
                    var (target, unchanged) = Build(row, kept);
                    output.Add(change, RowOpKind.Upsert, Target, newKey, target, unchanged, claim: Claim);
                }
                else if (change.Op != ChangeOp.Create)
                {
                    // A row that stops matching the filter leaves the target (e.g. an unfollow).
                    output.Add(change, RowOpKind.Delete, Target, newKey, null, claim: Claim);
                }

                return;
            }

            if (passes)
            {
                var (target, unchanged) = Build(row, kept);
                if (Key.Any(unchanged.Contains))
                {
                    throw new MappingException($"key columns of {Target} depend on source columns that were not re-sent ({string.Join(", ", kept)})");
                }

                output.Add(change, RowOpKind.Replace, Target, null, null, unchanged, [target], Claim);
            }
            else if (change.Op != ChangeOp.Create)
            {
                output.Add(change, RowOpKind.Delete, Target, null, null, claim: Claim);
            }
        }

        private static IEnumerable<Value> Flatten(ArrayValue a) =>
            a.Items.SelectMany(i => i is ArrayValue inner ? Flatten(inner) : [i]);

        private static JsonObject Merge(JsonObject? key, JsonObject? image)
        {
            var merged = new JsonObject();
            foreach (var (k, v) in image ?? [])
            {
                merged[k] = v?.DeepClone();
            }

            foreach (var (k, v) in key ?? [])
            {
                merged[k] = v?.DeepClone();
            }

            return merged;
        }

        private JsonObject KeyOf(RowContext row)
        {
            var key = new JsonObject();
            foreach (var k in Key)
            {
                var c = Columns.First(c => c.Name == k);
                var v = c.Expr.Eval(row);
                if (v.IsNull)
                {
                    throw new MappingException($"key column {k} ← {c.Expr} is NULL");
                }

                key[k] = ValueJson.Emit(v, c.Type, k);
            }

            return key;
        }

        private (JsonObject Row, List<string> Unchanged) Build(RowContext row, HashSet<string> kept)
        {
            var target = new JsonObject();
            var unchanged = new List<string>();
            foreach (var c in Columns)
            {
                if (kept.Count > 0 && c.Refs.Overlaps(kept))
                {
                    if (c.Refs.All(kept.Contains) || c.Refs.Where(r => r != Alias).All(kept.Contains))
                    {
                        unchanged.Add(c.Name);
                        continue;
                    }

                    throw new MappingException($"column {c.Name} ← {c.Expr} needs {string.Join(", ", c.Refs.Where(kept.Contains))}, whose value was not re-sent (unchanged TOAST) while its other inputs changed; give the source table REPLICA IDENTITY FULL");
                }

                var v = c.Expr.Eval(row);
                if (v.IsNull && c.NotNull)
                {
                    throw new MappingException($"column {c.Name} is NOT NULL in the target but {c.Expr} is NULL (never defaulted)");
                }

                target[c.Name] = ValueJson.Emit(v, c.Type, c.Name);
            }

            return (target, unchanged);
        }

        private static void RequireSent(Expr e, HashSet<string> kept, string what)
        {
            var missing = e.Columns().Where(kept.Contains).ToList();
            if (missing.Count > 0)
            {
                throw new MappingException($"{what} needs {string.Join(", ", missing)}, whose value was not re-sent (unchanged TOAST); give the source table REPLICA IDENTITY FULL");
            }
        }
    }

    private sealed record BoundColumn(string Name, Expr Expr, SqlType Type, IReadOnlySet<string> Refs, bool NotNull = false);

    private sealed class Scope(Dictionary<string, SqlType> columns, string? alias = null, SqlType? aliasType = null) : IScope
    {
        public SqlType? TypeOf(string name) => name == alias ? aliasType : columns.GetValueOrDefault(name);

        public IEnumerable<string> Names => alias is null ? columns.Keys : columns.Keys.Append(alias);
    }

    private sealed class RowContext(Rule rule, JsonObject image, JsonObject? before, HashSet<string> kept) : IRow
    {
        private string? _alias;
        private Value? _aliasValue;

        public RowContext With(string alias, Value value) => new(rule, image, before, kept) { _alias = alias, _aliasValue = value };

        public Value Get(string name)
        {
            if (name == _alias)
            {
                return _aliasValue!;
            }

            var type = rule.SourceTypes.GetValueOrDefault(name) ?? throw new MappingException($"source column {name} is no longer in {rule.SourceTable}");
            if (image.TryGetPropertyValue(name, out var node))
            {
                return ValueJson.Read(node, type, name);
            }

            if (before is not null && before.TryGetPropertyValue(name, out var old))
            {
                return ValueJson.Read(old, type, name);
            }

            if (kept.Contains(name))
            {
                throw new MappingException($"source column {name} was not re-sent (unchanged TOAST) and is needed here");
            }

            return Value.Null;
        }
    }
}
