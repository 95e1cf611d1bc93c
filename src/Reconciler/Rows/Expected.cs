using System.Text.Json.Nodes;
using Dapper;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Reconciler.Values;
using Peeq.Cdc.Reconciler.Watermarks;
using Peeq.Cdc.Sink.Apply;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Reconciler.Rows;

/// <summary>One row the mapping says the target should hold for an origin.</summary>
public sealed class ExpectedRow(string keyCanon, Func<string> keyJson, JsonObject row, IReadOnlyList<string> unchanged, ConflictClaim? claim)
{
    private string? _keyJson;

    public string KeyCanon { get; } = keyCanon;

    /// <summary>The key as JSON for reports: only a difference needs it, so it is written on first use (in the range that built the row).</summary>
    public string KeyJson => _keyJson ??= keyJson();

    public JsonObject Row { get; } = row;

    public IReadOnlyList<string> Unchanged { get; } = unchanged;

    public ConflictClaim? Claim { get; } = claim;
}

/// <summary>What one origin (source row) should produce in one target table.</summary>
public sealed class ExpectedTable
{
    public Dictionary<string, ExpectedRow> Rows { get; } = new(StringComparer.Ordinal);

    /// <summary>Rows for a table without a key (appended once each).</summary>
    public List<JsonObject> Appends { get; } = [];
}

/// <summary>A source row passed through the mapping: per target table, the rows it should produce.</summary>
public sealed class MappedOrigin(SourceRow row)
{
    public SourceRow Source { get; } = row;

    public string?[] Key => Source.OriginKey;

    private JsonObject? _keyJson;
    private string? _keyText;
    private string? _keyCanon;

    public JsonObject KeyJson => _keyJson ??= Source.Change.Key ?? [];

    public string KeyText => _keyText ??= KeyJson.ToJsonString();

    /// <summary>The origin key as PostgreSQL prints it as jsonb (what the lineage's origin_key::text gives), computed once.</summary>
    public string KeyCanon => _keyCanon ??= JsonbText.Canonical(KeyJson);

    /// <summary>The mapping's operations, in order.</summary>
    public List<RowOperation> Operations { get; } = [];

    /// <summary>Why the mapping could not map this row (the Transform parks it), or null.</summary>
    public string? Unmappable { get; set; }

    public Dictionary<TableId, ExpectedTable> Tables { get; } = [];
}

/// <summary>
/// Runs source rows through the target's mapping (the same <see cref="ITargetMapping"/> the Transform
/// runs) and turns the operations into expected rows per target table: upserts by key, replace sets as
/// the exact set of rows for the origin, deletes as absent keys. <c>$lookup</c> values are resolved
/// as the Sink resolves them (<see cref="Lookup"/>): against the target's identity map in the target
/// snapshot, and a lookup that names another configured target (<c>"target": T</c>) against T's identity
/// map through the Sink's <see cref="ForeignIdentities"/>. A lookup that names no configured target
/// resolves to nothing (the Sink parks such a row).
/// </summary>
public sealed class Expectations(ITargetMapping mapping, TargetCatalog catalog, ForeignIdentities? foreign = null)
{
    private readonly MappingOutput _output = new();

    // (target, kind, key): target null for this target's own identity_map, as BatchWriter keys them.
    private readonly Dictionary<(string? Target, string Kind, string Key), string?> _lookups = [];

    public ITargetMapping Mapping => mapping;

    public MappedOrigin Map(SourceRow row)
    {
        var origin = new MappedOrigin(row);
        _output.Clear();
        try
        {
            mapping.Map(row.Change, _output);
            origin.Operations.AddRange(_output.Operations);
        }
        catch (MappingException e)
        {
            origin.Unmappable = e.Message;
        }

        return origin;
    }

    /// <summary>Builds every origin's expected rows (after resolving its lookups in one query per batch).</summary>
    public async Task BuildAsync(IReadOnlyList<MappedOrigin> origins, CancellationToken ct)
    {
        await ResolveLookupsAsync(origins, ct);
        foreach (var o in origins)
        {
            foreach (var op in o.Operations)
            {
                var info = await catalog.GetAsync(op.Table, ct);
                if (!o.Tables.TryGetValue(op.Table, out var table))
                {
                    table = new ExpectedTable();
                    o.Tables[op.Table] = table;
                }

                switch (op.Op)
                {
                    case RowOpKind.Upsert when op.Row is not null:
                        Put(table, info, op.Key ?? KeyFrom(info, op.Row), op.Row, op.Unchanged, op.Claim);
                        break;
                    case RowOpKind.Replace:
                        table.Rows.Clear();
                        foreach (var r in op.Rows ?? [])
                        {
                            Put(table, info, KeyFrom(info, r), r, [], op.Claim);
                        }

                        break;
                    case RowOpKind.Delete when op.Key is null:
                        table.Rows.Clear();
                        break;
                    case RowOpKind.Delete:
                        table.Rows.Remove(KeyCanon(info, op.Key));
                        break;
                    case RowOpKind.Insert when op.Row is not null:
                        table.Appends.Add(op.Row);
                        break;
                }
            }
        }
    }

    private void Put(ExpectedTable table, TargetTableInfo? info, JsonObject key, JsonObject row, IReadOnlyList<string> unchanged, ConflictClaim? claim)
    {
        var canon = KeyCanon(info, key);
        table.Rows[canon] = new ExpectedRow(canon, () => KeyJson(key), row, unchanged, claim);
    }

    private static JsonObject KeyFrom(TargetTableInfo? info, JsonObject row)
    {
        var key = new JsonObject();
        foreach (var k in info?.Key ?? [])
        {
            key[k] = row[k]?.DeepClone();
        }

        return key;
    }

    private string KeyJson(JsonObject key)
    {
        var o = new JsonObject();
        foreach (var (k, v) in key)
        {
            o[k] = Resolve(v) is { } s ? JsonValue.Create(s) : null;
        }

        return o.ToJsonString();
    }

    /// <summary>The canonical key text, comparable with <see cref="TargetTableInfo.KeyOf"/>.</summary>
    public string KeyCanon(TargetTableInfo? info, JsonObject key)
    {
        if (info is null || info.Key.Count == 0)
        {
            return string.Join('\u001f', key.Select(p => ExpectedText(p.Value, PgType.BuiltIn(25)) ?? "\u2400"));
        }

        var parts = new string[info.Key.Count];
        for (var i = 0; i < parts.Length; i++)
        {
            var column = info.Columns[info.KeyIndexes[i]];
            parts[i] = CanonicalValue.Of(ExpectedText(key[column.Name], column.Type), column.Type) ?? "\u2400";
        }

        return parts.Length == 1 ? parts[0] : string.Join('\u001f', parts);
    }

    /// <summary>
    /// The text the Sink would write for an expected value: lookups resolved, sealed values left for the
    /// caller, everything else in the column type's input form (ValueCodec.ToPgText).
    /// </summary>
    public string? ExpectedText(JsonNode? value, PgType type)
    {
        if (Lookup.Is(value, out var kind, out var legacy, out var target))
        {
            return _lookups.TryGetValue((ForeignTarget(target), kind, legacy), out var id) ? id : null;
        }

        try
        {
            return ValueCodec.ToPgText(value, type);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            return value?.ToJsonString();
        }
    }

    private string? Resolve(JsonNode? value) =>
        Lookup.Is(value, out var kind, out var legacy, out var target)
            ? (_lookups.TryGetValue((ForeignTarget(target), kind, legacy), out var id) ? id : null)
            : value is null ? null : ValueCodec.KeyText(value);

    /// <summary>
    /// The configured target a lookup names when it is another one (its configured name), or null for this
    /// target's own identity_map; a name no configured target answers to is kept as written (it resolves to nothing).
    /// </summary>
    private string? ForeignTarget(string? lookupTarget)
    {
        var own = catalog.Snapshot.Name;
        if (lookupTarget is null || lookupTarget == own)
        {
            return null;
        }

        return foreign?.Find(lookupTarget) is { } t ? (t.Name == own ? null : t.Name) : lookupTarget;
    }

    private async Task ResolveLookupsAsync(IReadOnlyList<MappedOrigin> origins, CancellationToken ct)
    {
        var wanted = new HashSet<(string?, string, string)>();
        foreach (var o in origins)
        {
            foreach (var op in o.Operations)
            {
                Collect(op.Key, wanted);
                Collect(op.Row, wanted);
                foreach (var r in op.Rows ?? [])
                {
                    Collect(r, wanted);
                }
            }
        }

        wanted.ExceptWith(_lookups.Keys);
        if (wanted.Count == 0)
        {
            return;
        }

        if (_lookups.Count > 200_000)
        {
            _lookups.Clear();
        }

        foreach (var w in wanted)
        {
            _lookups[w] = null;
        }

        var local = wanted.Where(w => w.Item1 is null).ToList();
        if (local.Count > 0)
        {
            var snap = catalog.Snapshot;
            var exists = await snap.Connection.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT to_regclass('peeq_cdc.identity_map') IS NOT NULL", transaction: snap.Transaction, cancellationToken: ct));
            if (exists)
            {
                var rows = await snap.Connection.QueryAsync<(string kind, string legacy_key, string id)>(new CommandDefinition("""
                    SELECT m.kind, m.legacy_key, m.id::text
                    FROM unnest(@kinds::text[], @keys::text[]) AS w(kind, legacy_key)
                    JOIN peeq_cdc.identity_map m ON m.kind = w.kind AND m.legacy_key = w.legacy_key
                    """, new { kinds = local.Select(x => x.Item2).ToArray(), keys = local.Select(x => x.Item3).ToArray() }, snap.Transaction, cancellationToken: ct));
                foreach (var r in rows)
                {
                    _lookups[(null, r.kind, r.legacy_key)] = r.id;
                }
            }
        }

        // Another target's identity map, read as the Sink reads it (its apply and its sweep): its current state.
        foreach (var group in wanted.Where(w => w.Item1 is not null).GroupBy(w => w.Item1!))
        {
            if (foreign?.Find(group.Key) is not { } other)
            {
                continue;
            }

            foreach (var ((kind, key), id) in await foreign.FindIdsAsync(other, group.Select(w => (w.Item2, w.Item3)).ToList(), ct))
            {
                _lookups[(group.Key, kind, key)] = id;
            }
        }
    }

    private void Collect(JsonObject? row, HashSet<(string?, string, string)> into)
    {
        if (row is null)
        {
            return;
        }

        foreach (var (_, v) in row)
        {
            if (Lookup.Is(v, out var kind, out var key, out var target))
            {
                into.Add((ForeignTarget(target), kind, key));
            }
        }
    }
}
