using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>The net effect on one target row of the operations in a batch, folded in source order.</summary>
public sealed class PendingRow(JsonObject key)
{
    public JsonObject Key { get; } = key;

    /// <summary>The row's columns (null when deleted).</summary>
    public JsonObject? Row { get; set; }

    /// <summary>Columns whose stored value must be kept (unchanged TOAST, omitted sensitive values).</summary>
    public HashSet<string> Unchanged { get; } = new(StringComparer.Ordinal);

    public bool Deleted { get; set; }

    public Lsn Lsn { get; set; }

    public long Seq { get; set; }

    public int Sub { get; set; }

    public RowOrigin Origin { get; set; } = null!;

    /// <summary>The operation as received (for a parked row's payload).</summary>
    public RowOperation Last { get; set; } = null!;

    /// <summary>The row before lookups were resolved (null when it had none): what a shadowed claim keeps.</summary>
    public JsonObject? UnresolvedRow { get; set; }

    /// <summary>Lookups identity_map could not resolve yet (column, kind, legacy key, the other target whose map answers it): written NULL, recorded as pending.</summary>
    public List<(string Column, string Kind, string Key, string? Target)>? PendingLookups { get; set; }

    /// <summary>The claim of the last operation (null: no rule, a conflict parks).</summary>
    public ConflictClaim? Claim { get; set; }

    // Row is the operation's own object until a second operation merges into it (copy on write: most keys
    // see one operation per batch, and cloning every row costs more than the rest of the fold).
    private bool _owned;

    public void Apply(RowOperation op)
    {
        Lsn = op.CommitLsn;
        Seq = op.Seq;
        Sub = op.Sub;
        Origin = op.Origin;
        Last = op;
        Claim = op.Claim;
        if (op.Op == RowOpKind.Delete)
        {
            Deleted = true;
            Row = null;
            _owned = false;
            Unchanged.Clear();
            return;
        }

        var incoming = op.Row ?? [];
        if (Deleted || Row is null)
        {
            Deleted = false;
            Row = incoming;
            _owned = false;
            Unchanged.Clear();
            Unchanged.UnionWith(op.Unchanged);
            return;
        }

        if (!_owned)
        {
            Row = (JsonObject)Row.DeepClone();
            _owned = true;
        }

        // A later change in the same batch: its columns win; a column it leaves unchanged keeps the
        // value an earlier change in the batch set, or stays "unchanged" when none did.
        foreach (var (name, value) in incoming)
        {
            Row[name] = value?.DeepClone();
            Unchanged.Remove(name);
        }

        foreach (var u in op.Unchanged)
        {
            if (!Row.ContainsKey(u))
            {
                Unchanged.Add(u);
            }
        }
    }

    /// <summary>Sets a column of the row, copying the operation's object first so the received event stays intact.</summary>
    public void Set(string column, JsonNode? value)
    {
        if (!_owned)
        {
            UnresolvedRow ??= Row;
            Row = (JsonObject)Row!.DeepClone();
            _owned = true;
        }

        Row![column] = value;
    }
}

/// <summary>The operations of a batch for one target table, folded per key; keyless inserts kept in order.</summary>
public sealed class TableBatch(TableId table)
{
    private readonly Dictionary<string, PendingRow> _rows = new(StringComparer.Ordinal);
    private readonly List<PendingRow> _order = [];
    private readonly List<RowOperation> _inserts = [];
    private readonly List<RowOperation> _conflicts = [];

    public TableId Table { get; } = table;

    public IReadOnlyList<PendingRow> Rows => _order;

    public IReadOnlyList<RowOperation> Inserts => _inserts;

    /// <summary>Upserts of a key that another origin row of the same source holds in this batch (parked as conflicts).</summary>
    public IReadOnlyList<RowOperation> Conflicts => _conflicts;

    public int Count => _order.Count + _inserts.Count;

    public void Add(RowOperation op)
    {
        if (op.Op == RowOpKind.Insert)
        {
            _inserts.Add(op);
            return;
        }

        var key = op.Key ?? throw new InvalidOperationException($"{op.Op} on {op.Table} without a key");
        var text = key.ToJsonString();
        if (!_rows.TryGetValue(text, out var pending))
        {
            pending = new PendingRow(key);
            _rows[text] = pending;
            _order.Add(pending);
        }
        else if (!pending.Deleted && !SameOrigin(pending.Origin, op.Origin))
        {
            // Another row of this source claims a key one of its rows holds in this batch: an upsert is a
            // conflict (parked, never merged over the other row); a delete of a row it does not own is nothing.
            if (op.Op != RowOpKind.Delete)
            {
                _conflicts.Add(op);
            }

            return;
        }

        pending.Apply(op);
    }

    private static bool SameOrigin(RowOrigin a, RowOrigin b) => a.Table == b.Table && JsonNode.DeepEquals(a.Key, b.Key);
}
