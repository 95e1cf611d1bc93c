using System.Text.Json;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Reconciler.Rows;
using Peeq.Cdc.Reconciler.Values;
using Peeq.Cdc.Schema;

namespace Peeq.Cdc.Reconciler.References;

/// <summary>
/// Finds every dangling reference of references.yaml in the target snapshots (within one database by an
/// anti-join; across databases by merging the two sides' distinct values, both streamed in byte order),
/// then tells, for each missing parent, what the legacy sources say:
/// <list type="bullet">
/// <item><b>in flight</b>: the mapping, run over the source snapshots in the same pass as the row
/// comparison, produces that parent from a legacy row (it exists in the legacy data but is not in the
/// target yet), or the parent arrived in the target while the run re-checked it;</item>
/// <item><b>excluded</b>: a legacy row maps to a delete of that parent (the mapping's filter drops it);</item>
/// <item><b>orphaned in the legacy data too</b>: no legacy row maps to it;</item>
/// <item><b>undetermined</b>: more missing parents than the run keeps track of (they are counted, not classified).</item>
/// </list>
/// Going through the mapping rather than guessing the parent's source key is what makes this work for
/// derived keys, renamed columns and merged sources alike.
/// </summary>
public sealed class ReferenceReconciler : IOriginObserver, IDisposable
{
    private const int MaxTrackedValues = 200_000;

    private sealed class RefState(Reference reference)
    {
        public Reference Reference { get; } = reference;

        public string? FromTarget { get; set; }

        public string? ToTarget { get; set; }

        public long Rows { get; set; }

        public Dictionary<string, long> Values { get; } = new(StringComparer.Ordinal);

        public long UntrackedRows { get; set; }

        public long UntrackedValues { get; set; }

        public List<(string Child, string Value)> Samples { get; } = [];

        public string? Note { get; set; }

        public string[] ToTypes { get; set; } = [];
    }

    private readonly IReadOnlyList<Reference> _references;
    private readonly Func<string, TargetCatalog?> _resolve;
    private readonly Func<string, string?> _targetName;
    private readonly int _listLimit;
    private readonly string _directory;
    private readonly List<RefState> _states = [];
    private readonly StreamWriter _rows;

    /// <summary>Missing parents per (target, table, columns): the value tuple's text → what is known about it.</summary>
    private readonly Dictionary<(string Target, TableId Table, string Columns), Dictionary<string, string?>> _watch = [];
    private readonly Dictionary<(string, TableId, string), (string[] Columns, PgType[] Types)> _watchShape = [];

    public ReferenceReconciler(IReadOnlyList<Reference> references, Func<string, TargetCatalog?> resolve, Func<string, string?> targetName, int listLimit, string directory)
    {
        _references = references;
        _resolve = resolve;
        _targetName = targetName;
        _listLimit = listLimit;
        _directory = directory;
        // One JSON array per line until the parents are classified (then references.csv is written from it).
        _rows = new StreamWriter(Path.Combine(directory, "dangling-rows.tmp.jsonl"));
    }

    /// <summary>Finds the dangling references (round one, target snapshots).</summary>
    public async Task FindAsync(CancellationToken ct)
    {
        foreach (var r in _references)
        {
            var state = new RefState(r);
            _states.Add(state);
            var from = _resolve(r.From.Database);
            var to = _resolve(r.To.Database);
            if (from is null || to is null)
            {
                state.Note = $"not checked: database {(from is null ? r.From.Database : r.To.Database)} is not a configured target";
                continue;
            }

            state.FromTarget = from.Snapshot.Name;
            state.ToTarget = to.Snapshot.Name;
            var fromTable = await from.GetAsync(r.From.Table, ct);
            var toTable = await to.GetAsync(r.To.Table, ct);
            if (fromTable is null || toTable is null)
            {
                state.Note = $"not checked: table {(fromTable is null ? r.From : r.To)} does not exist";
                continue;
            }

            var missingColumn = r.From.Columns.FirstOrDefault(c => fromTable.Info.Column(c) is null) ?? r.To.Columns.FirstOrDefault(c => toTable.Info.Column(c) is null);
            if (missingColumn is not null || fromTable.Key.Count == 0)
            {
                state.Note = missingColumn is not null ? $"not checked: column {missingColumn} does not exist" : $"not checked: {r.From.Table} has no key to name its rows by";
                continue;
            }

            var toTypes = r.To.Columns.Select(c => toTable.Info.Column(c)!.Type).ToArray();
            state.ToTypes = r.To.Columns.Select(c => toTable.Info.Column(c)!.BaseTypeSql).ToArray();
            var watchKey = (to.Snapshot.Name, r.To.Table, string.Join(",", r.To.Columns));
            if (!_watch.ContainsKey(watchKey))
            {
                _watch[watchKey] = new Dictionary<string, string?>(StringComparer.Ordinal);
                _watchShape[watchKey] = ([.. r.To.Columns], toTypes);
            }

            try
            {
                if (ReferenceEquals(from, to))
                {
                    await IntraAsync(state, from, fromTable, ct);
                }
                else
                {
                    await CrossAsync(state, from, fromTable, to, ct);
                }
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                state.Note = $"failed: {(e is PostgresException pg ? pg.MessageText : e.Message)}";
            }

            foreach (var v in state.Values.Keys)
            {
                _watch[watchKey].TryAdd(v, null);
            }
        }
    }

    private static string Q(string s) => Sql.QuoteIdent(s);

    private string ChildKeySql(TargetTableInfo table) =>
        "json_build_object(" + string.Join(", ", table.Key.Select(k => $"{Sql.QuoteLiteral(k)}, f.{Q(k)}::text")) + ")::text";

    private static string ValueSql(IReadOnlyList<string> columns, string alias) =>
        columns.Count == 1 ? $"{alias}.{Q(columns[0])}::text" : "json_build_array(" + string.Join(", ", columns.Select(c => $"{alias}.{Q(c)}::text")) + ")::text";

    private async Task IntraAsync(RefState state, TargetCatalog db, TargetTableInfo fromTable, CancellationToken ct)
    {
        var r = state.Reference;
        var notNull = string.Join(" AND ", r.From.Columns.Select(c => $"f.{Q(c)} IS NOT NULL"));
        var where = r.Where is null ? "" : $" AND ({r.Where})";
        string sql;
        if (r.Array)
        {
            sql = $"""
                SELECT {ChildKeySql(fromTable)}, e.v::text
                FROM {r.From.Table.Quoted} f CROSS JOIN LATERAL unnest(f.{Q(r.From.Columns[0])}) AS e(v)
                WHERE e.v IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {r.To.Table.Quoted} t WHERE t.{Q(r.To.Columns[0])} = e.v{where})
                """;
        }
        else
        {
            var match = string.Join(" AND ", r.From.Columns.Zip(r.To.Columns).Select(p => $"t.{Q(p.Second)} = f.{Q(p.First)}"));
            sql = $"""
                SELECT {ChildKeySql(fromTable)}, {ValueSql(r.From.Columns, "f")}
                FROM {r.From.Table.Quoted} f
                WHERE {notNull} AND NOT EXISTS (SELECT 1 FROM {r.To.Table.Quoted} t WHERE {match}{where})
                """;
        }

        var lease = await db.Snapshot.RentAsync(ct);
        try
        {
            await using var cmd = new NpgsqlCommand(sql, lease.Conn, lease.Tx) { CommandTimeout = 0 };
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                Dangling(state, reader.GetString(0), reader.GetString(1));
            }
        }
        finally
        {
            db.Snapshot.Return(lease);
        }
    }

    private async Task CrossAsync(RefState state, TargetCatalog fromDb, TargetTableInfo fromTable, TargetCatalog toDb, CancellationToken ct)
    {
        var r = state.Reference;
        var sorts = r.From.Columns.Select(_ => KeySort.Text).ToArray();
        string fromSql;
        if (r.Array)
        {
            fromSql = $"SELECT DISTINCT e.v::text FROM {r.From.Table.Quoted} f CROSS JOIN LATERAL unnest(f.{Q(r.From.Columns[0])}) AS e(v) WHERE e.v IS NOT NULL ORDER BY 1 COLLATE \"C\"";
        }
        else
        {
            var cols = string.Join(", ", r.From.Columns.Select(c => $"f.{Q(c)}::text"));
            fromSql = $"SELECT DISTINCT {cols} FROM {r.From.Table.Quoted} f WHERE {string.Join(" AND ", r.From.Columns.Select(c => $"f.{Q(c)} IS NOT NULL"))} ORDER BY {string.Join(", ", r.From.Columns.Select((_, i) => $"{i + 1} COLLATE \"C\""))}";
        }

        var toCols = string.Join(", ", r.To.Columns.Select(c => $"t.{Q(c)}::text"));
        var toSql = $"SELECT DISTINCT {toCols} FROM {r.To.Table.Quoted} t WHERE {string.Join(" AND ", r.To.Columns.Select(c => $"t.{Q(c)} IS NOT NULL"))}{(r.Where is null ? "" : $" AND ({r.Where})")} ORDER BY {string.Join(", ", r.To.Columns.Select((_, i) => $"{i + 1} COLLATE \"C\""))}";
        var missing = new List<string?[]>();
        var fromLease = await fromDb.Snapshot.RentAsync(ct);
        var toLease = await toDb.Snapshot.RentAsync(ct);
        try
        {
            await using (var fc = new NpgsqlCommand(fromSql, fromLease.Conn, fromLease.Tx) { CommandTimeout = 0 })
            await using (var tc = new NpgsqlCommand(toSql, toLease.Conn, toLease.Tx) { CommandTimeout = 0 })
            await using (var fr = await fc.ExecuteReaderAsync(ct))
            await using (var tr = await tc.ExecuteReaderAsync(ct))
            {
                var n = r.From.Columns.Count;
                string?[]? parent = await tr.ReadAsync(ct) ? Row(tr, n) : null;
                while (await fr.ReadAsync(ct))
                {
                    var child = Row(fr, n);
                    while (parent is not null && KeyOrder.Compare(parent, child, sorts) < 0)
                    {
                        parent = await tr.ReadAsync(ct) ? Row(tr, n) : null;
                    }

                    if (parent is null || KeyOrder.Compare(parent, child, sorts) != 0)
                    {
                        missing.Add(child);
                        if (missing.Count >= 5000)
                        {
                            await ChildRowsAsync(state, fromDb, fromTable, missing, ct);
                            missing.Clear();
                        }
                    }
                }
            }

            if (missing.Count > 0)
            {
                await ChildRowsAsync(state, fromDb, fromTable, missing, ct);
            }
        }
        finally
        {
            fromDb.Snapshot.Return(fromLease);
            toDb.Snapshot.Return(toLease);
        }
    }

    private static string?[] Row(NpgsqlDataReader r, int n)
    {
        var v = new string?[n];
        for (var i = 0; i < n; i++)
        {
            v[i] = r.IsDBNull(i) ? null : r.GetString(i);
        }

        return v;
    }

    /// <summary>The child rows that hold these missing values (the cross-database case finds values first, rows second).</summary>
    private async Task ChildRowsAsync(RefState state, TargetCatalog db, TargetTableInfo fromTable, List<string?[]> values, CancellationToken ct)
    {
        var r = state.Reference;
        var lease = await db.Snapshot.RentAsync(ct);
        try
        {
            await using var cmd = new NpgsqlCommand { Connection = lease.Conn, Transaction = lease.Tx, CommandTimeout = 0 };
            if (r.Array)
            {
                var type = fromTable.Info.Column(r.From.Columns[0])!.Type.Element?.Name ?? "text";
                cmd.CommandText = $"""
                    SELECT {ChildKeySql(fromTable)}, e.v::text
                    FROM {r.From.Table.Quoted} f CROSS JOIN LATERAL unnest(f.{Q(r.From.Columns[0])}) AS e(v)
                    WHERE e.v::text = ANY(@v0)
                    """;
                _ = type;
                cmd.Parameters.Add(new NpgsqlParameter("v0", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text) { Value = values.Select(v => v[0]!).ToArray() });
            }
            else
            {
                var arrays = string.Join(", ", r.From.Columns.Select((_, i) => $"@v{i}::text[]"));
                var on = string.Join(" AND ", r.From.Columns.Select((c, i) => $"f.{Q(c)} = u.v{i}::{fromTable.Info.Column(c)!.BaseTypeSql}"));
                cmd.CommandText = $"""
                    SELECT {ChildKeySql(fromTable)}, {ValueSql(r.From.Columns, "f")}
                    FROM unnest({arrays}) AS u({string.Join(", ", r.From.Columns.Select((_, i) => $"v{i}"))})
                    JOIN {r.From.Table.Quoted} f ON {on}
                    """;
                for (var i = 0; i < r.From.Columns.Count; i++)
                {
                    var idx = i;
                    cmd.Parameters.Add(new NpgsqlParameter($"v{i}", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text) { Value = values.Select(v => v[idx]!).ToArray() });
                }
            }

            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                Dangling(state, reader.GetString(0), reader.GetString(1));
            }
        }
        finally
        {
            db.Snapshot.Return(lease);
        }
    }

    private void Dangling(RefState state, string childKey, string value)
    {
        state.Rows++;
        _rows.WriteLine(JsonSerializer.Serialize(new[] { state.Reference.Name, childKey, value }));
        if (state.Values.TryGetValue(value, out var n))
        {
            state.Values[value] = n + 1;
        }
        else if (state.Values.Count < MaxTrackedValues)
        {
            state.Values[value] = 1;
        }
        else
        {
            state.UntrackedRows++;
            state.UntrackedValues++;
        }

        if (state.Samples.Count < _listLimit)
        {
            state.Samples.Add((childKey, value));
        }
    }

    public bool Watching => _watch.Values.Any(w => w.Count > 0);

    /// <summary>During the row pass: a mapped legacy row that produces (or deletes) a missing parent.</summary>
    public void Observe(string source, MappedOrigin origin)
    {
        if (!Watching)
        {
            return;
        }

        foreach (var op in origin.Operations)
        {
            var target = _targetName(source);
            if (target is null)
            {
                return;
            }

            foreach (var (key, watched) in _watch)
            {
                if (key.Target != target || key.Table != op.Table || watched.Count == 0)
                {
                    continue;
                }

                var (columns, types) = _watchShape[key];
                var rows = new List<System.Text.Json.Nodes.JsonObject?>();
                switch (op.Op)
                {
                    case RowOpKind.Upsert or RowOpKind.Insert:
                        rows.Add(op.Row);
                        break;
                    case RowOpKind.Replace:
                        rows.AddRange(op.Rows ?? []);
                        break;
                    case RowOpKind.Delete:
                        rows.Add(op.Key);
                        break;
                }

                foreach (var row in rows)
                {
                    if (row is null || columns.Any(c => !row.ContainsKey(c)))
                    {
                        continue;
                    }

                    var parts = columns.Select((c, i) => CanonicalValue.Of(Text(row[c], types[i]), types[i])).ToArray();
                    var id = parts.Length == 1 ? parts[0] ?? "" : "[" + string.Join(", ", parts.Select(p => p is null ? "null" : JsonbText.Quote(p))) + "]";
                    if (watched.TryGetValue(id, out var known) && (known is null || known.StartsWith("excluded", StringComparison.Ordinal)))
                    {
                        watched[id] = op.Op == RowOpKind.Delete
                            ? $"excluded: {source} {origin.Source.Change.Table} {origin.KeyText} maps to a delete of it"
                            : $"in flight: exists in {source} {origin.Source.Change.Table} {origin.KeyText}";
                    }
                }
            }
        }
    }

    private static string? Text(System.Text.Json.Nodes.JsonNode? value, PgType type)
    {
        try
        {
            return ValueCodec.ToPgText(value, type);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            return value?.ToJsonString();
        }
    }

    /// <summary>Values still orphaned, per target, for a re-check in a later round.</summary>
    public int Unclassified => _watch.Values.Sum(w => w.Count(v => v.Value is null));

    /// <summary>A later round: a missing parent that has since arrived in the target was in flight.</summary>
    public async Task RecheckAsync(Func<string, TargetCatalog?> targets, CancellationToken ct)
    {
        foreach (var (key, watched) in _watch)
        {
            var open = watched.Where(w => w.Value is null).Select(w => w.Key).ToList();
            if (open.Count == 0 || targets(key.Target) is not { } db)
            {
                continue;
            }

            var (columns, _) = _watchShape[key];
            var lease = await db.Snapshot.RentAsync(ct);
            try
            {
                var value = columns.Length == 1 ? $"t.{Q(columns[0])}::text" : "json_build_array(" + string.Join(", ", columns.Select(c => $"t.{Q(c)}::text")) + ")::text";
                await using var cmd = new NpgsqlCommand($"SELECT DISTINCT v FROM (SELECT {value} AS v FROM {key.Table.Quoted} t) q WHERE v = ANY(@v)", lease.Conn, lease.Tx) { CommandTimeout = 0 };
                cmd.Parameters.Add(new NpgsqlParameter("v", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text) { Value = open.ToArray() });
                await using var r = await cmd.ExecuteReaderAsync(ct);
                while (await r.ReadAsync(ct))
                {
                    watched[r.GetString(0)] = "in flight: arrived in the target while the run re-checked it";
                }
            }
            finally
            {
                db.Snapshot.Return(lease);
            }
        }
    }

    /// <summary>Classifies every dangling value, writes references.csv, and returns the results.</summary>
    public IReadOnlyList<ReferenceResult> Finish()
    {
        _rows.Dispose();
        var classOf = new Dictionary<(string Reference, string Value), (string Class, string? Detail)>();
        var results = new List<ReferenceResult>();
        foreach (var s in _states)
        {
            long inFlight = 0, orphaned = 0, excluded = 0;
            var watched = s.ToTarget is null ? null : _watch.GetValueOrDefault((s.ToTarget, s.Reference.To.Table, string.Join(",", s.Reference.To.Columns)));
            foreach (var (value, rows) in s.Values)
            {
                var known = watched?.GetValueOrDefault(value);
                var (cls, detail) = Classify(known);
                classOf[(s.Reference.Name, value)] = (cls, detail);
                switch (cls)
                {
                    case "in_flight": inFlight += rows; break;
                    case "excluded": excluded += rows; break;
                    default: orphaned += rows; break;
                }
            }

            var samples = s.Samples.Select(x =>
            {
                var (cls, detail) = classOf.TryGetValue((s.Reference.Name, x.Value), out var c) ? c : ("undetermined", "more missing parents than the run tracks");
                return new DanglingReference(s.Reference.Name, x.Child, x.Value, cls, detail);
            }).ToList();
            results.Add(new ReferenceResult(s.Reference.Name, s.Reference.CrossDatabase, s.Reference.From.ToString(), s.Reference.To.ToString(),
                s.Rows, s.Values.Count + s.UntrackedValues, inFlight, orphaned, excluded, s.UntrackedRows, samples, s.Note));
        }

        using (var csv = new CsvWriter(Path.Combine(_directory, "references.csv"), ["reference", "child_key", "missing_value", "class", "detail"]))
        {
            using var reader = new StreamReader(Path.Combine(_directory, "dangling-rows.tmp.jsonl"));
            while (reader.ReadLine() is { } line)
            {
                var f = JsonSerializer.Deserialize<string[]>(line)!;
                var (cls, detail) = classOf.TryGetValue((f[0], f[2]), out var c) ? c : ("undetermined", "more missing parents than the run tracks");
                csv.Row(f[0], f[1], f[2], cls, detail);
            }
        }

        File.Delete(Path.Combine(_directory, "dangling-rows.tmp.jsonl"));
        return results;
    }

    private static (string Class, string? Detail) Classify(string? known) => known switch
    {
        null => ("orphaned", "no legacy row maps to this parent: it is missing in the legacy data too"),
        var k when k.StartsWith("in flight", StringComparison.Ordinal) => ("in_flight", k),
        var k => ("excluded", k),
    };

    public void Dispose() => _rows.Dispose();
}
