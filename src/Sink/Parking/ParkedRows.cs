using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Sink.Apply;

namespace Peeq.Cdc.Sink.Parking;

/// <summary>A row of peeq_cdc.parked_rows.</summary>
public sealed record ParkedRow(
    long id, string source, string commit_lsn, long seq, int sub, string source_table, string? source_key, string? target_table, string? target_key,
    string reason, string? payload, string payload_kind, bool whole_transaction, string? held_behind, DateTime parked_at, string status,
    DateTime? resolved_at, string? resolved_by)
{
    public Lsn CommitLsn => Lsn.Parse(commit_lsn);

    public Lsn? HeldBehind => held_behind is null ? null : Lsn.Parse(held_behind);

    /// <summary>The event the Sink parked, for a 'unified' payload; null for a raw event parked by the Transform.</summary>
    public UnifiedEvent? Unified => payload_kind == "unified" && payload is not null ? UnifiedEventCodec.Read(Encoding.UTF8.GetBytes(payload)) : null;
}

/// <summary>Writing and reading peeq_cdc.parked_rows.</summary>
public static class ParkedRows
{
    private const string Columns = """
        id, source, commit_lsn::text AS commit_lsn, seq, sub, source_table, source_key::text AS source_key, target_table, target_key::text AS target_key,
        reason, payload, payload_kind, whole_transaction, held_behind::text AS held_behind, parked_at, status, resolved_at, resolved_by
        """;

    /// <summary>
    /// Records parked operations, idempotently by position (a replay parks nothing twice). <paramref name="whole"/>
    /// marks them as one source transaction parked whole; <paramref name="heldBehind"/> names the parked transaction
    /// it waits behind. A discarded row stays discarded.
    /// </summary>
    public static async Task ParkAsync(NpgsqlConnection conn, IReadOnlyList<ParkedOp> parks, bool whole, Lsn? heldBehind, CancellationToken ct)
    {
        if (parks.Count == 0)
        {
            return;
        }

        var n = parks.Count;
        var sources = new string[n];
        var lsns = new string[n];
        var seqs = new long[n];
        var subs = new int[n];
        var sourceTables = new string[n];
        var sourceKeys = new string?[n];
        var targetTables = new string?[n];
        var targetKeys = new string?[n];
        var reasons = new string[n];
        var payloads = new string?[n];
        var kinds = new string[n];
        for (var i = 0; i < n; i++)
        {
            var (op, reason) = parks[i];
            sources[i] = op.Source;
            lsns[i] = op.CommitLsn.ToString();
            reasons[i] = reason;
            switch (op)
            {
                case RowOperation r:
                    seqs[i] = r.Seq;
                    subs[i] = r.Sub;
                    sourceTables[i] = r.Origin.Table.ToString();
                    sourceKeys[i] = r.Origin.Key.ToJsonString();
                    targetTables[i] = r.Table.ToString();
                    targetKeys[i] = r.Key?.ToJsonString();
                    payloads[i] = Encoding.UTF8.GetString(UnifiedEventCodec.Write(r));
                    kinds[i] = "unified";
                    break;
                case ParkedChange p:
                    seqs[i] = p.Seq;
                    sourceTables[i] = p.SourceTable.ToString();
                    sourceKeys[i] = p.SourceKey?.ToJsonString();
                    targetTables[i] = p.TargetTable?.ToString();
                    // Parked whole, the park event itself is kept (with its reason and raw payload), so the
                    // transaction can be rebuilt exactly when it is released or replayed.
                    payloads[i] = whole ? Encoding.UTF8.GetString(UnifiedEventCodec.Write(p)) : p.Payload;
                    kinds[i] = whole ? "unified" : "raw";
                    break;
                default:
                    throw new ArgumentException($"cannot park a {op.GetType().Name}", nameof(parks));
            }
        }

        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.parked_rows AS p (source, commit_lsn, seq, sub, source_table, source_key, target_table, target_key, reason, payload,
                payload_kind, whole_transaction, held_behind)
            SELECT u.source, u.lsn::pg_lsn, u.seq, u.sub, u.source_table, u.source_key::jsonb, u.target_table, u.target_key::jsonb, u.reason, u.payload,
                u.kind, @whole, @held::pg_lsn
            FROM unnest(@sources::text[], @lsns::text[], @seqs::bigint[], @subs::int[], @source_tables::text[], @source_keys::text[], @target_tables::text[],
                        @target_keys::text[], @reasons::text[], @payloads::text[], @kinds::text[])
                 AS u(source, lsn, seq, sub, source_table, source_key, target_table, target_key, reason, payload, kind)
            ON CONFLICT (source, commit_lsn, seq, sub) DO UPDATE SET reason = excluded.reason, payload = excluded.payload, payload_kind = excluded.payload_kind,
                whole_transaction = excluded.whole_transaction, held_behind = excluded.held_behind, target_key = excluded.target_key,
                status = 'parked', resolved_at = NULL, resolved_by = NULL, parked_at = now()
            WHERE p.status <> 'discarded'
            """, new
        {
            sources,
            lsns,
            seqs,
            subs,
            source_tables = sourceTables,
            source_keys = sourceKeys,
            target_tables = targetTables,
            target_keys = targetKeys,
            reasons,
            payloads,
            kinds,
            whole,
            held = heldBehind?.ToString(),
        }, cancellationToken: ct));
    }

    /// <summary>Parked rows, newest first, filtered (null: any).</summary>
    public static async Task<List<ParkedRow>> ListAsync(NpgsqlConnection conn, string? source, string? status, int limit, CancellationToken ct) =>
        (await conn.QueryAsync<ParkedRow>(new CommandDefinition($"""
            SELECT {Columns} FROM peeq_cdc.parked_rows
            WHERE (@source::text IS NULL OR source = @source) AND (@status::text IS NULL OR status = @status)
            ORDER BY source, commit_lsn, seq, sub LIMIT @limit
            """, new { source, status, limit }, cancellationToken: ct))).ToList();

    public static async Task<ParkedRow?> GetAsync(NpgsqlConnection conn, long id, CancellationToken ct) =>
        await conn.QuerySingleOrDefaultAsync<ParkedRow>(new CommandDefinition($"SELECT {Columns} FROM peeq_cdc.parked_rows WHERE id = @id", new { id }, cancellationToken: ct));

    /// <summary>The rows of one source transaction parked whole, in order.</summary>
    public static async Task<List<ParkedRow>> TransactionAsync(NpgsqlConnection conn, string source, Lsn commitLsn, CancellationToken ct) =>
        (await conn.QueryAsync<ParkedRow>(new CommandDefinition($"""
            SELECT {Columns} FROM peeq_cdc.parked_rows WHERE source = @source AND commit_lsn = @lsn::pg_lsn AND whole_transaction ORDER BY seq, sub
            """, new { source, lsn = commitLsn.ToString() }, cancellationToken: ct))).ToList();

    /// <summary>Every row of this source's open whole-transaction parks (the blockers and the held), for the hold set.</summary>
    public static async Task<List<ParkedRow>> OpenWholeAsync(NpgsqlConnection conn, string source, CancellationToken ct) =>
        (await conn.QueryAsync<ParkedRow>(new CommandDefinition($"""
            SELECT {Columns} FROM peeq_cdc.parked_rows WHERE source = @source AND whole_transaction AND status = 'parked' ORDER BY commit_lsn, seq, sub
            """, new { source }, cancellationToken: ct))).ToList();

    /// <summary>Open rows of one source table parked because the table was parked, from <paramref name="since"/> on, in source order.</summary>
    public static async Task<List<ParkedRow>> TableParkedSinceAsync(NpgsqlConnection conn, string source, TableId table, Lsn since, CancellationToken ct) =>
        (await conn.QueryAsync<ParkedRow>(new CommandDefinition($"""
            SELECT {Columns} FROM peeq_cdc.parked_rows
            WHERE source = @source AND source_table = @table AND status = 'parked' AND NOT whole_transaction
              AND commit_lsn >= @since::pg_lsn AND reason LIKE 'table parked: %' AND payload_kind = 'unified'
            ORDER BY commit_lsn, seq, sub
            """, new { source, table = table.ToString(), since = since.ToString() }, cancellationToken: ct))).ToList();

    /// <summary>Marks rows resolved (replayed or discarded) by whom and when.</summary>
    public static Task MarkAsync(NpgsqlConnection conn, IReadOnlyCollection<long> ids, string status, string by, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            UPDATE peeq_cdc.parked_rows SET status = @status, resolved_at = now(), resolved_by = @by WHERE id = ANY(@ids)
            """, new { ids = ids.ToArray(), status, by }, cancellationToken: ct));

    /// <summary>A stable text for a key object (property order and formatting do not matter).</summary>
    public static string CanonicalKey(JsonObject? key)
    {
        if (key is null || key.Count == 0)
        {
            return "";
        }

        var sb = new StringBuilder();
        foreach (var (name, value) in key.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            sb.Append(name).Append('=').Append(value?.ToJsonString() ?? "null").Append(';');
        }

        return sb.ToString();
    }
}

/// <summary>
/// The keys that open whole-transaction parks of one source hold: a later transaction of that source that
/// touches one of them (its target key, or its origin key) waits behind it. Positions only look back: a
/// transaction waits only behind earlier ones.
/// </summary>
public sealed class HoldSet
{
    private readonly Dictionary<string, SortedSet<Lsn>> _keys = new(StringComparer.Ordinal);

    public bool IsEmpty => _keys.Count == 0;

    public void Clear() => _keys.Clear();

    public static IEnumerable<string> KeysOf(UnifiedEvent e)
    {
        switch (e)
        {
            case RowOperation r:
                if (r.Key is { Count: > 0 })
                {
                    yield return "t|" + r.Table + "|" + ParkedRows.CanonicalKey(r.Key);
                }

                if (r.Origin.Key.Count > 0)
                {
                    yield return "o|" + r.Origin.Table + "|" + ParkedRows.CanonicalKey(r.Origin.Key);
                }

                break;
            case ParkedChange p when p.SourceKey is { Count: > 0 }:
                yield return "o|" + p.SourceTable + "|" + ParkedRows.CanonicalKey(p.SourceKey);
                break;
        }
    }

    public void Add(IEnumerable<UnifiedEvent> ops, Lsn position)
    {
        foreach (var op in ops)
        {
            foreach (var k in KeysOf(op))
            {
                if (!_keys.TryGetValue(k, out var set))
                {
                    set = [];
                    _keys[k] = set;
                }

                set.Add(position);
            }
        }
    }

    /// <summary>The latest parked transaction before <paramref name="position"/> that these operations touch a key of, if any.</summary>
    public Lsn? BlockerFor(IEnumerable<UnifiedEvent> ops, Lsn position)
    {
        if (_keys.Count == 0)
        {
            return null;
        }

        Lsn? best = null;
        foreach (var op in ops)
        {
            foreach (var k in KeysOf(op))
            {
                if (_keys.TryGetValue(k, out var set))
                {
                    foreach (var l in set.GetViewBetween(Lsn.Zero, new Lsn(position.Value - 1)))
                    {
                        if (best is null || l > best.Value)
                        {
                            best = l;
                        }
                    }
                }
            }
        }

        return best;
    }

    public void Load(IEnumerable<ParkedRow> rows)
    {
        _keys.Clear();
        foreach (var r in rows)
        {
            var lsn = r.CommitLsn;
            var keys = new List<string>();
            if (r.target_table is not null && r.target_key is not null && JsonNode.Parse(r.target_key) is JsonObject tk && tk.Count > 0)
            {
                keys.Add("t|" + r.target_table + "|" + ParkedRows.CanonicalKey(tk));
            }

            if (r.source_key is not null && JsonNode.Parse(r.source_key) is JsonObject sk && sk.Count > 0)
            {
                keys.Add("o|" + r.source_table + "|" + ParkedRows.CanonicalKey(sk));
            }

            foreach (var k in keys)
            {
                if (!_keys.TryGetValue(k, out var set))
                {
                    set = [];
                    _keys[k] = set;
                }

                set.Add(lsn);
            }
        }
    }
}
