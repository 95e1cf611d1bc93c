using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Reconciler.Values;
using Peeq.Cdc.Reconciler.Watermarks;

namespace Peeq.Cdc.Reconciler.Rows;

/// <summary>A difference found by the merge, before it is classified.</summary>
internal sealed record Candidate(
    DifferenceKind Kind,
    string KeyCanon,
    string KeyJson,
    string?[] Origin,
    string OriginJson,
    ExpectedRow? Expected,
    ActualRow? Actual,
    List<ColumnDifference> Columns);

/// <summary>
/// Compares one mapping pair (target table, source table) range by range: the expected rows of each
/// origin (the mapped source row) against the target rows whose lineage names that origin. Each range
/// of source keys gets a checksum on both sides over the same canonical values; a range whose
/// checksums differ is narrowed to its exact keys (the merge already holds them), and every key is
/// classified against its lineage and the parked rows: a real difference, a key that moved after the
/// watermark (checked again later), parked, or shadowed by another source's claim.
/// </summary>
internal sealed class PairComparer
{
    private const string Null = "\u2400";
    private readonly PairResult _result;
    private readonly TargetTableInfo? _table;
    private readonly SourceTable _source;
    private readonly SourceSnapshot _snapshot;
    private readonly TargetSnapshot _target;
    private readonly Expectations _expectations;
    private readonly SensitiveHandling _sensitive;
    private readonly RunCollector _run;
    private readonly bool _moving;
    private readonly string? _movingReason;
    private readonly bool _recheck;
    private readonly XxHash3 _hash = new();
    private readonly List<(string Name, string Hashed)> _columns = [];
    private readonly List<Candidate> _candidates = [];
    private ActualStream? _stream;
    private ActualGroup? _peek;
    private bool _peeked;
    private ulong _rangeExpected;
    private ulong _rangeActual;

    // The range's first and last origin: a mapped source row (its key JSON written only when the range is reported) or a target origin's text.
    private object? _rangeFirst;
    private object? _rangeLast;

    public PairComparer(PairResult result, TargetTableInfo? table, SourceTable source, SourceSnapshot snapshot, TargetSnapshot target,
        Expectations expectations, SensitiveHandling sensitive, RunCollector run, string? movingReason, bool recheck)
    {
        _result = result;
        _table = table;
        _source = source;
        _snapshot = snapshot;
        _target = target;
        _expectations = expectations;
        _sensitive = sensitive;
        _run = run;
        _moving = movingReason is not null;
        _movingReason = movingReason;
        _recheck = recheck;
    }

    public PairId Id => _result.Id;

    public async Task OpenAsync(IReadOnlyList<string>? origins, CancellationToken ct)
    {
        if (_table?.LineageTable is not null && !_table.Keyless)
        {
            _stream = await ActualStream.OpenAsync(_target, _table, _source, origins, ct);
        }
    }

    /// <summary>Compares one range of origins (consecutive in key order); with <paramref name="last"/>, every remaining target row too.</summary>
    public async Task CompareRangeAsync(IReadOnlyList<MappedOrigin> origins, bool last, CancellationToken ct)
    {
        _rangeExpected = _rangeActual = 0;
        _rangeFirst = _rangeLast = null;
        foreach (var o in origins)
        {
            var group = await NextGroupAsync(o.Key, ct);
            o.Tables.TryGetValue(_result.Id.TargetTable, out var expected);
            if (o.Unmappable is not null && group is null && expected is null)
            {
                continue;
            }

            Track(o);
            CompareOrigin(o.Key, new OriginText(o, null), expected, group);
        }

        if (last)
        {
            while (await PeekAsync(ct) is { } rest)
            {
                Consume();
                Track(rest.OriginJson);
                CompareOrigin(rest.Origin, new OriginText(null, Canon(rest.OriginJson)), null, rest);
            }
        }

        if (_rangeFirst is null && _candidates.Count == 0)
        {
            return;
        }

        if (!_recheck)
        {
            _result.Ranges++;
            _result.ExpectedDigest += _rangeExpected;
            _result.TargetDigest += _rangeActual;
        }

        var differing = _rangeExpected != _rangeActual || _candidates.Count > 0;
        var found = _candidates.Count;
        await ClassifyAsync(ct);
        if (differing && !_recheck)
        {
            _result.RangesDiffering++;
            if (_result.DifferingRanges.Count < _run.ListLimit)
            {
                _result.DifferingRanges.Add(new RangeDifference(RangeText(_rangeFirst), RangeText(_rangeLast), PairResult.Hex(_rangeExpected), PairResult.Hex(_rangeActual), found));
            }
        }
    }

    private void Track(object origin)
    {
        _rangeFirst ??= origin;
        _rangeLast = origin;
    }

    private static string RangeText(object? origin) => origin is MappedOrigin m ? m.KeyText : (string?)origin ?? "";

    /// <summary>
    /// An origin's canonical key text, which only a difference reports: for a mapped source row its
    /// <see cref="MappedOrigin.KeyCanon"/>, computed on first use; for target rows without a source row, the text given.
    /// </summary>
    private readonly record struct OriginText(MappedOrigin? Mapped, string? Text)
    {
        public string Value => Mapped?.KeyCanon ?? Text!;
    }

    private static string Canon(string json) => JsonbText.TryCanonical(json, out var c) ? c : json;

    private async Task<ActualGroup?> NextGroupAsync(string?[] origin, CancellationToken ct)
    {
        while (await PeekAsync(ct) is { } g)
        {
            var c = KeyOrder.Compare(g.Origin, origin, _source.KeySorts);
            if (c > 0)
            {
                return null;
            }

            Consume();
            if (c == 0)
            {
                return g;
            }

            // Target rows of an origin the source no longer has.
            Track(g.OriginJson);
            CompareOrigin(g.Origin, new OriginText(null, Canon(g.OriginJson)), null, g);
        }

        return null;
    }

    private async Task<ActualGroup?> PeekAsync(CancellationToken ct)
    {
        if (!_peeked)
        {
            _peek = _stream is null ? null : await _stream.NextAsync(ct);
            _peeked = true;
        }

        return _peek;
    }

    private void Consume() => _peeked = false;

    private void CompareOrigin(string?[] origin, OriginText originJson, ExpectedTable? expected, ActualGroup? actual)
    {
        // Which expected rows a target row matched: one flag for the usual single row, a set otherwise.
        HashSet<string>? matched = null;
        var matchedOnly = false;
        if (actual is not null)
        {
            _result.TargetRows += _recheck ? 0 : actual.Rows.Count;
            foreach (var a in actual.Rows)
            {
                if (expected is not null && expected.Rows.TryGetValue(a.KeyCanon, out var e))
                {
                    if (expected.Rows.Count == 1)
                    {
                        matchedOnly = true;
                    }
                    else
                    {
                        (matched ??= new HashSet<string>(StringComparer.Ordinal)).Add(a.KeyCanon);
                    }

                    CompareRow(origin, originJson, e, a);
                }
                else
                {
                    _rangeActual += HashActual(a);
                    _candidates.Add(new Candidate(DifferenceKind.Extra, a.KeyCanon, _table!.KeyJson(a.Values), origin, originJson.Value, null, a, []));
                }
            }
        }

        if (expected is not null)
        {
            _result.ExpectedRows += _recheck ? 0 : expected.Rows.Count;
            foreach (var e in expected.Rows.Values)
            {
                if (expected.Rows.Count == 1 ? matchedOnly : matched?.Contains(e.KeyCanon) == true)
                {
                    continue;
                }

                _rangeExpected += HashExpected(e);
                _candidates.Add(new Candidate(DifferenceKind.Missing, e.KeyCanon, e.KeyJson, origin, originJson.Value, e, null, []));
            }
        }
    }

    private void CompareRow(string?[] origin, OriginText originJson, ExpectedRow e, ActualRow a)
    {
        if (!_recheck)
        {
            _result.RowsCompared++;
        }

        List<ColumnDifference>? diffs = null;
        // Both checksums hash the same input (key, then each compared column's name and value) except that the
        // expected side hashes a differing column's canonical expected value: one hash while the row agrees, the
        // expected side replayed from the columns kept here only when it does not.
        _hash.Reset();
        Append(_hash, e.KeyCanon);
        _columns.Clear();
        foreach (var (name, value) in e.Row)
        {
            if (!_table!.ColumnIndex.TryGetValue(name, out var index) || (e.Unchanged.Count > 0 && e.Unchanged.Contains(name)))
            {
                continue; // not a target column (the Sink ignores it), or kept as stored
            }

            var column = _table.Columns[index];
            var sensitive = false;
            string? expectedText;
            if (SealedValue.IsSealed(value, out var sealedText) && _sensitive.Key is not null)
            {
                sensitive = true;
                expectedText = SealedValue.Unseal(_sensitive.Key, name, sealedText);
            }
            else
            {
                expectedText = _expectations.ExpectedText(value, column.Type);
            }

            var actualText = a.Values[index];
            Append(_hash, name);
            Append(_hash, actualText ?? Null);
            // The same text is the same stored value (CanonicalValue.Equal(x, x) holds for every x): only texts that
            // differ are put in canonical form to tell a real difference from another spelling of the same value.
            if (string.Equals(expectedText, actualText, StringComparison.Ordinal) || CanonicalValue.Equal(expectedText, actualText, column.Type, out var canonical))
            {
                _columns.Add((name, actualText ?? Null));
            }
            else
            {
                _columns.Add((name, canonical ?? Null));
                (diffs ??= []).Add(sensitive
                    ? new ColumnDifference(name, "(sensitive value)", "(sensitive value, differs)")
                    : new ColumnDifference(name, column.Type.Kind == ValueKind.Array ? canonical : expectedText, actualText));
            }
        }

        var actualHash = _hash.GetCurrentHashAsUInt64();
        _rangeActual += actualHash;
        if (diffs is null)
        {
            _rangeExpected += actualHash;
            return;
        }

        _hash.Reset();
        Append(_hash, e.KeyCanon);
        foreach (var (name, hashed) in _columns)
        {
            Append(_hash, name);
            Append(_hash, hashed);
        }

        _rangeExpected += _hash.GetCurrentHashAsUInt64();
        _candidates.Add(new Candidate(DifferenceKind.Changed, e.KeyCanon, e.KeyJson, origin, originJson.Value, e, a, diffs));
    }

    private ulong HashActual(ActualRow a)
    {
        _hash.Reset();
        Append(_hash, a.KeyCanon);
        for (var i = 0; i < a.Values.Length; i++)
        {
            Append(_hash, _table!.Columns[i].Name);
            Append(_hash, a.Values[i] ?? Null);
        }

        return _hash.GetCurrentHashAsUInt64();
    }

    private ulong HashExpected(ExpectedRow e)
    {
        _hash.Reset();
        Append(_hash, e.KeyCanon);
        foreach (var (name, value) in e.Row)
        {
            Append(_hash, name);
            var type = _table is not null && _table.ColumnIndex.TryGetValue(name, out var i) ? _table.Columns[i].Type : PgType.BuiltIn(25);
            Append(_hash, CanonicalValue.Of(_expectations.ExpectedText(value, type), type) ?? Null);
        }

        return _hash.GetCurrentHashAsUInt64();
    }

    private static void Append(XxHash3 hash, string s)
    {
        hash.Append(MemoryMarshal.AsBytes(s.AsSpan()));
        hash.Append([0x1e, 0]);
    }

    private sealed record LineageRow(string source, string origin_table, string origin_key, string lsn, bool deleted);

    /// <summary>Classifies this range's candidates (two queries at most: lineage by key, parked rows by origin).</summary>
    private async Task ClassifyAsync(CancellationToken ct)
    {
        if (_candidates.Count == 0)
        {
            return;
        }

        var lineage = await LineageAsync(_candidates.Where(c => c.Kind == DifferenceKind.Missing).ToList(), ct);
        var parked = await _run.ParkedOriginsAsync(_target, _source, _candidates.Select(c => c.OriginJson).Distinct().ToList(), ct);
        var pending = await PendingLookupsAsync(_candidates.Where(c => c.Kind == DifferenceKind.Changed).ToList(), ct);
        foreach (var c in _candidates)
        {
            parked.TryGetValue(c.OriginJson, out var parkReason);
            var (status, note) = LookupInFlight(c, pending) is { } inFlight
                ? (DifferenceStatus.Unresolved, inFlight)
                : Decide(c, lineage, parkReason);
            var diff = new RowDifference(c.Kind, status, _result.Id.Target, _result.Id.TargetTable.ToString(), c.KeyJson,
                _result.Id.Source, _result.Id.SourceTable.ToString(), c.OriginJson, c.Columns, note);
            _run.Report(_result, c.Origin, diff, conclusive: status != DifferenceStatus.Unresolved);
        }

        _candidates.Clear();
    }

    private (DifferenceStatus Status, string? Note) Decide(Candidate c, Dictionary<string, LineageRow> lineage, string? parkReason)
    {
        if (_moving)
        {
            return (DifferenceStatus.Unresolved, _movingReason);
        }

        var after = _snapshot.ChangedAfter;
        if (c.Kind == DifferenceKind.Missing)
        {
            if (!lineage.TryGetValue(c.KeyCanon, out var l))
            {
                return parkReason is not null
                    ? (DifferenceStatus.Parked, $"parked: {parkReason}")
                    : (DifferenceStatus.Different, "not in the target, and no lineage: the pipeline never applied it");
            }

            var lsn = Lsn.Parse(l.lsn);
            if (l.source != _result.Id.Source && !l.deleted)
            {
                if (c.Expected?.Claim is { Mode: ConflictMode.Priority } claim)
                {
                    return (DifferenceStatus.Shadowed, $"owned by source {l.source} ({l.origin_table} {l.origin_key}); this claim (rank {claim.Rank}) is shadowed");
                }

                return parkReason is not null
                    ? (DifferenceStatus.Parked, $"parked: {parkReason}")
                    : lsn >= LsnOf(l.source)
                        ? (DifferenceStatus.Unresolved, $"owned by source {l.source}, changed after its watermark")
                        : (DifferenceStatus.Different, $"the key is owned by source {l.source} ({l.origin_table} {l.origin_key}) and no rule or parked row accounts for it");
            }

            if (lsn >= after)
            {
                return (DifferenceStatus.Unresolved, $"{(l.deleted ? "deleted" : "moved")} at {l.lsn}, after the watermark {after}");
            }

            if (parkReason is not null)
            {
                return (DifferenceStatus.Parked, $"parked: {parkReason}");
            }

            return l.deleted
                ? (DifferenceStatus.Different, $"the lineage records a delete at {l.lsn}, before the watermark, but the source holds the row")
                : Canon(l.origin_key) != c.OriginJson
                    ? (DifferenceStatus.Different, $"the key belongs to another origin ({l.origin_table} {l.origin_key})")
                    : (DifferenceStatus.Different, $"the lineage says the row is present (applied at {l.lsn}) but the target does not hold it: removed behind the pipeline's back");
        }

        if (c.Actual!.Lsn >= after)
        {
            return (DifferenceStatus.Unresolved, $"changed at {c.Actual.Lsn}, after the watermark {after}");
        }

        if (parkReason is not null)
        {
            return (DifferenceStatus.Parked, $"parked: {parkReason}");
        }

        return c.Kind == DifferenceKind.Extra
            ? (DifferenceStatus.Different, $"the mapped source does not produce this row (last applied at {c.Actual.Lsn}, before the watermark)")
            : (DifferenceStatus.Different, $"last applied at {c.Actual.Lsn}, before the watermark");
    }

    private Lsn LsnOf(string source) => _run.ChangedAfter(source);

    private async Task<Dictionary<string, LineageRow>> LineageAsync(List<Candidate> missing, CancellationToken ct)
    {
        var result = new Dictionary<string, LineageRow>(StringComparer.Ordinal);
        if (missing.Count == 0 || _table?.LineageTable is null || _table.Key.Count == 0)
        {
            return result;
        }

        var keyCols = _table.Key.Select(k => _table.Columns[_table.ColumnIndex[k]]).ToList();
        var arrays = string.Join(", ", keyCols.Select((_, i) => $"@k{i}::text[]"));
        var on = string.Join(" AND ", keyCols.Select((c, i) => $"l.{Sql.QuoteIdent(c.Name)} = u.k{i}::{c.BaseTypeSql}"));
        var select = string.Join(", ", keyCols.Select(c => $"l.{Sql.QuoteIdent(c.Name)}::text"));
        var lease = await _target.RentAsync(ct);
        try
        {
            await using var cmd = new NpgsqlCommand($"""
                SELECT {select}, l.source, l.origin_table, l.origin_key::text, l.lsn::text, l.deleted
                FROM unnest({arrays}) AS u({string.Join(", ", keyCols.Select((_, i) => $"k{i}"))})
                JOIN {_table.QuotedLineage} l ON {on}
                """, lease.Conn, lease.Tx);
            for (var i = 0; i < keyCols.Count; i++)
            {
                var idx = i;
                cmd.Parameters.Add(new NpgsqlParameter($"k{i}", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text)
                { Value = missing.Select(m => (object?)Part(m.KeyCanon, idx, keyCols.Count) ?? DBNull.Value).ToArray() });
            }

            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var parts = new string[keyCols.Count];
                for (var i = 0; i < parts.Length; i++)
                {
                    parts[i] = CanonicalValue.Of(r.GetString(i), keyCols[i].Type) ?? Null;
                }

                var n = keyCols.Count;
                result[parts.Length == 1 ? parts[0] : string.Join('\u001f', parts)] =
                    new LineageRow(r.GetString(n), r.GetString(n + 1), r.GetString(n + 2), r.GetString(n + 3), r.GetBoolean(n + 4));
            }
        }
        finally
        {
            _target.Return(lease);
        }

        return result;
    }

    /// <summary>
    /// A changed row whose every differing column the target holds NULL with a pending lookup for it
    /// (peeq_cdc.pending_lookups): the Sink wrote it NULL because the identity had not arrived when the row
    /// was applied and fills it in when it does (in the identity's apply transaction, or at its sweep for a
    /// lookup into another target). In flight, not a difference; checked again in later rounds.
    /// </summary>
    internal static string? LookupInFlight(Candidate c, Dictionary<string, List<(string Column, string Kind, string Key, string? Target)>> pending)
    {
        if (c.Kind != DifferenceKind.Changed || !pending.TryGetValue(c.KeyCanon, out var lookups))
        {
            return null;
        }

        var waiting = new List<string>();
        foreach (var d in c.Columns)
        {
            if (d.Actual is not null || lookups.FirstOrDefault(l => l.Column == d.Column) is not { Column: not null } l)
            {
                return null;
            }

            waiting.Add($"{d.Column} ({l.Kind} {l.Key}{(l.Target is null ? "" : " in target " + l.Target)})");
        }

        return $"lookup pending: the Sink wrote {string.Join(", ", waiting)} NULL until the identity arrives and fills it in (peeq_cdc.pending_lookups); in flight, not a difference";
    }

    /// <summary>The pending lookups of these target keys (by canonical key), one query.</summary>
    private async Task<Dictionary<string, List<(string Column, string Kind, string Key, string? Target)>>> PendingLookupsAsync(List<Candidate> changed, CancellationToken ct)
    {
        var result = new Dictionary<string, List<(string, string, string, string?)>>(StringComparer.Ordinal);
        if (changed.Count == 0 || _table is null || _table.Key.Count == 0)
        {
            return result;
        }

        var keyCols = _table.Key.Select(k => _table.Columns[_table.ColumnIndex[k]]).ToList();
        var arrays = string.Join(", ", keyCols.Select((_, i) => $"@k{i}::text[]"));
        var names = string.Join(", ", keyCols.Select((_, i) => $"k{i}"));
        // The key as the Sink records it (BatchWriter.Canon): jsonb_build_object of each key column in its base type.
        var key = $"jsonb_build_object({string.Join(", ", keyCols.Select((c, i) => $"{Sql.QuoteLiteral(c.Name)}, u.k{i}::{c.BaseTypeSql}"))})";
        var lease = await _target.RentAsync(ct);
        try
        {
            await using (var probe = new NpgsqlCommand("SELECT to_regclass('peeq_cdc.pending_lookups') IS NOT NULL", lease.Conn, lease.Tx))
            {
                if (await probe.ExecuteScalarAsync(ct) is not true)
                {
                    return result;
                }
            }

            await using var cmd = new NpgsqlCommand($"""
                SELECT u.n, p.column_name, p.kind, p.legacy_key, p.lookup_target
                FROM unnest({arrays}) WITH ORDINALITY AS u({names}, n)
                JOIN peeq_cdc.pending_lookups p ON p.target_table = @table AND p.target_key = {key}
                """, lease.Conn, lease.Tx);
            cmd.Parameters.Add(new NpgsqlParameter("table", _table.Id.ToString()));
            for (var i = 0; i < keyCols.Count; i++)
            {
                var idx = i;
                cmd.Parameters.Add(new NpgsqlParameter($"k{i}", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text)
                { Value = changed.Select(m => (object?)Part(m.KeyCanon, idx, keyCols.Count) ?? DBNull.Value).ToArray() });
            }

            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var c = changed[(int)r.GetInt64(0) - 1];
                if (!result.TryGetValue(c.KeyCanon, out var list))
                {
                    result[c.KeyCanon] = list = [];
                }

                list.Add((r.GetString(1), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4)));
            }
        }
        finally
        {
            _target.Return(lease);
        }

        return result;
    }

    private static string? Part(string keyCanon, int index, int count)
    {
        var p = count == 1 ? keyCanon : keyCanon.Split('\u001f')[index];
        return p == Null ? null : p;
    }

    public async ValueTask CloseAsync()
    {
        if (_stream is not null)
        {
            await _stream.DisposeAsync();
            _stream = null;
        }
    }
}
