using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Reconciler.Rows;
using Peeq.Cdc.Reconciler.Values;
using Peeq.Cdc.Reconciler.Watermarks;

namespace Peeq.Cdc.Reconciler.Balances;

/// <summary>The snapshots of one round, by source and target name.</summary>
public sealed record RoundSnapshots(IReadOnlyDictionary<string, SourceSnapshot> Sources, IReadOnlyDictionary<string, TargetCatalog> Targets);

/// <summary>
/// Runs the balance checks and invariants of reconcile/checks.yaml. Every query streams its groups in key
/// order (byte order of the key's text), the source queries' groups are added up across sources and
/// compared with the target's, group by group, in exact decimal arithmetic (<see cref="ExactDecimal"/>;
/// units such as cents are converted by multiplying by the declared unit, exactly). A group that differs
/// is checked again in later rounds: it is reported different only when the difference stays the same
/// across re-checks (a group the workload keeps moving is reported unresolved, never clean).
/// </summary>
public sealed partial class BalanceReconciler(CheckFile checks, int listLimit, string directory)
{
    private sealed class Pending(string?[] key, ExactDecimal[] source, ExactDecimal[] target)
    {
        public string?[] Key { get; } = key;

        public ExactDecimal[] Source { get; set; } = source;

        public ExactDecimal[] Target { get; set; } = target;

        public bool Stable { get; set; }

        public int Checks { get; set; } = 1;
    }

    private sealed class CheckState(BalanceCheck check)
    {
        public BalanceCheck Check { get; } = check;

        public long Groups { get; set; }

        public ExactDecimal[] SourceTotals { get; set; } = [];

        public ExactDecimal[] TargetTotals { get; set; } = [];

        public Dictionary<string, Pending> Pending { get; } = new(StringComparer.Ordinal);

        public long Different { get; set; }

        public long Unresolved { get; set; }

        public List<BalanceDifference> Listed { get; } = [];

        public string? Error { get; set; }
    }

    private readonly List<CheckState> _states = checks.Balances.Select(b => new CheckState(b)).ToList();
    private readonly List<InvariantResult> _invariants = [];

    public int PendingCount => _states.Sum(s => s.Pending.Count);

    /// <summary>Round one: every group of every check, and the invariants.</summary>
    public async Task RunAsync(RoundSnapshots round, CancellationToken ct)
    {
        foreach (var state in _states)
        {
            try
            {
                await CompareAsync(state, round, null, ct);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or FormatException or KeyNotFoundException)
            {
                state.Error = $"balance check {state.Check.Name}: {Explain(e)}";
            }
        }

        foreach (var inv in checks.Invariants)
        {
            await InvariantAsync(inv, round, ct);
        }
    }

    /// <summary>A later round: only the groups that differed, in fresh snapshots.</summary>
    public async Task RecheckAsync(RoundSnapshots round, CancellationToken ct)
    {
        foreach (var state in _states.Where(s => s.Pending.Count > 0 && s.Error is null))
        {
            try
            {
                await CompareAsync(state, round, state.Pending.Values.Select(p => p.Key).ToList(), ct);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or FormatException or KeyNotFoundException)
            {
                state.Error = $"balance check {state.Check.Name} (re-check): {Explain(e)}";
            }
        }
    }

    public IEnumerable<string> SourcesNeeded() =>
        _states.Where(s => s.Pending.Count > 0).SelectMany(s => s.Check.Source.Select(q => q.Source!)).Distinct();

    public IEnumerable<string> TargetsNeeded() =>
        _states.Where(s => s.Pending.Count > 0).Select(s => s.Check.Target.Target!).Distinct();

    private async Task CompareAsync(CheckState state, RoundSnapshots round, IReadOnlyList<string?[]>? only, CancellationToken ct)
    {
        var check = state.Check;
        var n = check.Values.Count;
        var streams = new List<(IAsyncEnumerator<(string?[] Key, ExactDecimal[] Values)> Rows, bool Target)>();
        try
        {
            foreach (var q in check.Source)
            {
                if (!round.Sources.TryGetValue(q.Source!, out var snap))
                {
                    throw new InvalidOperationException($"source '{q.Source}' could not be read in this round");
                }

                streams.Add((ReadAsync(snap.Connection, snap.Transaction, q.Sql, check.Key, check.Values, q, only, ct).GetAsyncEnumerator(ct), false));
            }

            var target = round.Targets[check.Target.Target!];
            var sql = await ExpandAsync(check.Target.Sql, target, ct);
            var lease = await target.Snapshot.RentAsync(ct);
            try
            {
                streams.Add((ReadAsync(lease.Conn, lease.Tx, sql, check.Key, check.Values, check.Target, only, ct).GetAsyncEnumerator(ct), true));
                var live = new List<bool>();
                foreach (var s in streams)
                {
                    live.Add(await s.Rows.MoveNextAsync());
                }

                var sorts = check.Key.Select(_ => KeySort.Text).ToArray();
                var sourceTotals = Enumerable.Repeat(ExactDecimal.Zero, n).ToArray();
                var targetTotals = Enumerable.Repeat(ExactDecimal.Zero, n).ToArray();
                var seen = new HashSet<string>(StringComparer.Ordinal);
                while (true)
                {
                    string?[]? min = null;
                    for (var i = 0; i < streams.Count; i++)
                    {
                        if (live[i] && (min is null || KeyOrder.Compare(streams[i].Rows.Current.Key, min, sorts) < 0))
                        {
                            min = streams[i].Rows.Current.Key;
                        }
                    }

                    if (min is null)
                    {
                        break;
                    }

                    var src = Enumerable.Repeat(ExactDecimal.Zero, n).ToArray();
                    var tgt = Enumerable.Repeat(ExactDecimal.Zero, n).ToArray();
                    for (var i = 0; i < streams.Count; i++)
                    {
                        while (live[i] && KeyOrder.Compare(streams[i].Rows.Current.Key, min, sorts) == 0)
                        {
                            var into = streams[i].Target ? tgt : src;
                            var values = streams[i].Rows.Current.Values;
                            for (var v = 0; v < n; v++)
                            {
                                into[v] += values[v];
                            }

                            live[i] = await streams[i].Rows.MoveNextAsync();
                        }
                    }

                    var id = KeyId(min);
                    seen.Add(id);
                    if (only is null)
                    {
                        state.Groups++;
                        for (var v = 0; v < n; v++)
                        {
                            sourceTotals[v] += src[v];
                            targetTotals[v] += tgt[v];
                        }
                    }

                    var differs = Enumerable.Range(0, n).Any(v => src[v] != tgt[v]);
                    if (only is null)
                    {
                        if (differs)
                        {
                            state.Pending[id] = new Pending(min, src, tgt);
                        }
                    }
                    else if (state.Pending.TryGetValue(id, out var p))
                    {
                        if (!differs)
                        {
                            state.Pending.Remove(id);
                        }
                        else
                        {
                            p.Stable = Same(p.Source, src) && Same(p.Target, tgt);
                            p.Source = src;
                            p.Target = tgt;
                            p.Checks++;
                        }
                    }
                }

                if (only is null)
                {
                    state.SourceTotals = sourceTotals;
                    state.TargetTotals = targetTotals;
                }
                else
                {
                    // A pending group that no side returns any more has vanished on both: it no longer differs.
                    foreach (var gone in state.Pending.Keys.Where(k => !seen.Contains(k)).ToList())
                    {
                        state.Pending.Remove(gone);
                    }
                }
            }
            finally
            {
                target.Snapshot.Return(lease);
            }
        }
        finally
        {
            foreach (var s in streams)
            {
                await s.Rows.DisposeAsync();
            }
        }
    }

    private static bool Same(ExactDecimal[] a, ExactDecimal[] b) => a.Length == b.Length && a.Zip(b).All(x => x.First == x.Second);

    private static string KeyId(string?[] key) => string.Join('\u001f', key.Select(k => k ?? "\u2400"));

    [GeneratedRegex(@"\{lineage:([^}]+)\}")]
    private static partial Regex LineageRef();

    /// <summary>Replaces <c>{lineage:schema.table}</c> with the quoted name of that target table's lineage table.</summary>
    public static async Task<string> ExpandAsync(string sql, TargetCatalog target, CancellationToken ct)
    {
        var lineage = await target.LineageTablesAsync(ct);
        return LineageRef().Replace(sql, m =>
        {
            var id = TableId.Parse(m.Groups[1].Value.Trim());
            return lineage.TryGetValue(id, out var name)
                ? $"{Sql.QuoteIdent("peeq_cdc")}.{Sql.QuoteIdent(name)}"
                : throw new InvalidOperationException($"{{lineage:{id}}}: target '{target.Snapshot.Name}' has no lineage for {id} (the Sink has not written it yet)");
        });
    }

    private static async IAsyncEnumerable<(string?[] Key, ExactDecimal[] Values)> ReadAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql,
        IReadOnlyList<string> key, IReadOnlyList<string> values, CheckQuery query, IReadOnlyList<string?[]>? only, [EnumeratorCancellation] CancellationToken ct)
    {
        await using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandTimeout = 0;
        cmd.AllResultTypesAreUnknown = true;
        var keyText = key.Select(k => $"q.{Sql.QuoteIdent(k)}::text").ToList();
        var text = $"SELECT {string.Join(", ", keyText.Concat(values.Select(v => $"q.{Sql.QuoteIdent(v)}::text")))} FROM ({sql.Trim().TrimEnd(';')}) q";
        if (only is not null)
        {
            var arrays = string.Join(", ", key.Select((_, i) => $"@k{i}::text[]"));
            var match = string.Join(" AND ", keyText.Select((k, i) => $"{k} IS NOT DISTINCT FROM u.k{i}"));
            text += $" WHERE EXISTS (SELECT 1 FROM unnest({arrays}) AS u({string.Join(", ", key.Select((_, i) => $"k{i}"))}) WHERE {match})";
            for (var i = 0; i < key.Count; i++)
            {
                cmd.Parameters.Add(new NpgsqlParameter($"k{i}", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text)
                { Value = only.Select(k => (object?)k[i] ?? DBNull.Value).ToArray() });
            }
        }

        cmd.CommandText = text + " ORDER BY " + string.Join(", ", keyText.Select(k => $"{k} COLLATE \"C\""));
        var units = values.Select(query.UnitOf).ToArray();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var k = new string?[key.Count];
            for (var i = 0; i < k.Length; i++)
            {
                k[i] = r.IsDBNull(i) ? null : r.GetString(i);
            }

            var v = new ExactDecimal[values.Count];
            for (var i = 0; i < v.Length; i++)
            {
                v[i] = r.IsDBNull(key.Count + i) ? ExactDecimal.Zero : ExactDecimal.Parse(r.GetString(key.Count + i)) * units[i];
            }

            yield return (k, v);
        }
    }

    private async Task InvariantAsync(InvariantCheck inv, RoundSnapshots round, CancellationToken ct)
    {
        var sourceBreaks = new HashSet<string>(StringComparer.Ordinal);
        using var csv = new CsvWriter(Path.Combine(directory, $"observations-{Safe(inv.Name)}.csv"), [.. inv.Key, "side", "left", "right", "delta", "also_in_source"]);
        foreach (var q in inv.On.OrderBy(q => q.Target is null ? 0 : 1))
        {
            var rows = 0L;
            var breaks = 0L;
            var targetOnly = 0L;
            var listed = new List<Observation>();
            string? note = null;
            string database;
            try
            {
                NpgsqlConnection conn;
                NpgsqlTransaction tx;
                var sql = q.Sql;
                (NpgsqlConnection, NpgsqlTransaction)? lease = null;
                TargetCatalog? catalog = null;
                if (q.Source is not null)
                {
                    var snap = round.Sources.TryGetValue(q.Source, out var s) ? s : throw new InvalidOperationException($"source '{q.Source}' could not be read");
                    (conn, tx, database) = (snap.Connection, snap.Transaction, snap.Database);
                }
                else
                {
                    catalog = round.Targets[q.Target!];
                    sql = await ExpandAsync(sql, catalog, ct);
                    lease = await catalog.Snapshot.RentAsync(ct);
                    (conn, tx) = lease.Value;
                    database = catalog.Snapshot.Database;
                }

                try
                {
                    await foreach (var (key, values) in ReadAsync(conn, tx, sql, inv.Key, [inv.Left, inv.Right], q, null, ct))
                    {
                        rows++;
                        if (values[0] == values[1])
                        {
                            continue;
                        }

                        breaks++;
                        var id = KeyId(key);
                        var also = q.Source is not null || sourceBreaks.Contains(id);
                        if (q.Source is not null)
                        {
                            if (sourceBreaks.Count < 1_000_000)
                            {
                                sourceBreaks.Add(id);
                            }
                        }
                        else if (!also)
                        {
                            targetOnly++;
                        }

                        var group = Group(inv.Key, key);
                        var obs = new Observation(inv.Name, q.Side, group, values[0].ToString(), values[1].ToString(), (values[0] - values[1]).ToString(), also);
                        if (listed.Count < listLimit)
                        {
                            listed.Add(obs);
                        }

                        csv.Row([.. key, q.Side, obs.Left, obs.Right, obs.Delta, also ? "yes" : "no"]);
                    }
                }
                finally
                {
                    if (lease is { } l)
                    {
                        catalog!.Snapshot.Return(l);
                    }
                }
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or FormatException)
            {
                note = $"failed: {Explain(e)}";
                database = q.Source ?? q.Target!;
            }

            _invariants.Add(new InvariantResult(inv.Name, inv.Title, inv.Domain, inv.Description, q.Side, database, rows, breaks, targetOnly, listed, note));
        }
    }

    private static Dictionary<string, string?> Group(IReadOnlyList<string> names, string?[] key) =>
        names.Select((n, i) => (n, key[i])).ToDictionary(x => x.n, x => x.Item2);

    private static string Safe(string name) => new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_').ToArray());

    private static string Explain(Exception e) => e is PostgresException pg ? $"{pg.MessageText} (SQLSTATE {pg.SqlState})" : e.Message;

    /// <summary>After the last round: every group still differing is a difference (stable) or unresolved (still moving).</summary>
    public (IReadOnlyList<BalanceResult> Balances, IReadOnlyList<InvariantResult> Invariants, IReadOnlyList<string> Errors) Finish(bool recheckEnabled)
    {
        using var csv = new CsvWriter(Path.Combine(directory, "balances.csv"), ["check", "group", "value", "source", "target", "delta", "status"]);
        var results = new List<BalanceResult>();
        foreach (var s in _states)
        {
            foreach (var p in s.Pending.Values)
            {
                var status = !recheckEnabled || p.Checks > 1 && p.Stable ? DifferenceStatus.Different : DifferenceStatus.Unresolved;
                if (status == DifferenceStatus.Different)
                {
                    s.Different++;
                }
                else
                {
                    s.Unresolved++;
                }

                for (var v = 0; v < s.Check.Values.Count; v++)
                {
                    if (p.Source[v] == p.Target[v])
                    {
                        continue;
                    }

                    var d = new BalanceDifference(s.Check.Name, Group(s.Check.Key, p.Key), s.Check.Values[v], p.Source[v].ToString(), p.Target[v].ToString(),
                        (p.Target[v] - p.Source[v]).ToString(), status);
                    if (s.Listed.Count < listLimit)
                    {
                        s.Listed.Add(d);
                    }

                    csv.Row(s.Check.Name, System.Text.Json.JsonSerializer.Serialize(d.Group), d.Value, d.Source, d.Target, d.Delta, status.ToString().ToLowerInvariant());
                }
            }

            var verdict = s.Error is not null ? Verdict.Failed : s.Different > 0 ? Verdict.Different : s.Unresolved > 0 ? Verdict.Unresolved : Verdict.Clean;
            results.Add(new BalanceResult(s.Check.Name, s.Check.Title, s.Check.Domain, s.Check.Description, s.Check.Key, s.Check.Values, s.Groups,
                s.Different, s.Unresolved, s.SourceTotals.Select(t => t.ToString()).ToList(), s.TargetTotals.Select(t => t.ToString()).ToList(), verdict, s.Listed, s.Error));
        }

        return (results, _invariants, _states.Where(s => s.Error is not null).Select(s => s.Error!).ToList());
    }
}
