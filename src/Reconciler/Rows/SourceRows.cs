using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Reconciler.Values;
using Peeq.Cdc.Reconciler.Watermarks;

namespace Peeq.Cdc.Reconciler.Rows;

/// <summary>
/// How sensitive source columns reach the mapping: exactly as Capture sends them. With a sealing key
/// configured for the pipeline they are sealed (here with a key of this run, so the mapping sees the
/// same shape and the reconciler can open them again to compare); without one they are left out and
/// marked unchanged, and are not compared.
/// </summary>
public sealed class SensitiveHandling
{
    private SensitiveHandling(byte[]? key) => Key = key;

    public byte[]? Key { get; }

    public bool Seals => Key is not null;

    /// <summary>Sealed as Capture seals (a throwaway key of the same kind) when the pipeline has a sealing key.</summary>
    public static SensitiveHandling For(Peeq.Cdc.Configuration.PipelineOptions options) =>
        new(options.ResolveSealKey() is null ? null : System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
}

/// <summary>A source row read at the watermark, as the change event Capture would have produced for it.</summary>
public sealed record SourceRow(RawChange Change, string?[] OriginKey);

/// <summary>
/// Streams a source table in the snapshot, ordered by its key (<see cref="KeyOrder"/>), each row turned
/// into the RawChange (op r) that Capture's snapshot would emit: values in the event encoding
/// (ValueCodec, from PostgreSQL's text output), the key image, sensitive columns handled as Capture does.
/// Memory stays bounded: rows are read one at a time from the server.
/// </summary>
public sealed class SourceTable
{
    private readonly HashSet<string> _sensitive;

    public SourceTable(SourceOptions source, TableInfo info)
    {
        Source = source;
        Info = info;
        _sensitive = source.SensitiveColumns
            .Select(c => ColumnRef.TryParse(c, out var r, out _) ? r : default)
            .Where(r => r.Table == info.Id)
            .Select(r => r.Column)
            .ToHashSet(StringComparer.Ordinal);
        KeyColumns = info.KeyColumns.Select(k => info.Column(k)!).ToArray();
        KeySorts = KeyColumns.Select(c => KeyOrder.SortOf(c.Type)).ToArray();
    }

    public SourceOptions Source { get; }

    public TableInfo Info { get; }

    public TableId Id => Info.Id;

    public ColumnInfo[] KeyColumns { get; }

    public KeySort[] KeySorts { get; }

    public bool Keyless => KeyColumns.Length == 0;

    public bool IsSensitive(string column) => _sensitive.Contains(column);

    /// <summary>Every row, or only those whose key is among <paramref name="keys"/> (the origin keys' texts).</summary>
    public async IAsyncEnumerable<SourceRow> ReadAsync(SourceSnapshot snapshot, SensitiveHandling sensitive, IReadOnlyList<string?[]>? keys,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var columns = Info.Columns;
        var list = string.Join(", ", columns.Select(c => Sql.QuoteIdent(c.Name)));
        await using var cmd = snapshot.Connection.CreateCommand();
        cmd.Transaction = snapshot.Transaction;
        cmd.CommandTimeout = 0;
        // Text results: PostgreSQL's own output of every value, exactly what pgoutput and COPY send.
        cmd.AllResultTypesAreUnknown = true;
        var sql = $"SELECT {list} FROM {Info.Id.Quoted} t";
        if (keys is not null)
        {
            var arrays = string.Join(", ", KeyColumns.Select((_, i) => $"@k{i}::text[]"));
            var on = string.Join(" AND ", KeyColumns.Select((c, i) => $"t.{Sql.QuoteIdent(c.Name)} = u.k{i}::{c.BaseTypeSql}"));
            sql += $" JOIN unnest({arrays}) AS u({string.Join(", ", KeyColumns.Select((_, i) => $"k{i}"))}) ON {on}";
            for (var i = 0; i < KeyColumns.Length; i++)
            {
                cmd.Parameters.Add(new NpgsqlParameter($"k{i}", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text) { Value = keys.Select(k => (object?)k[i] ?? DBNull.Value).ToArray() });
            }
        }

        if (!Keyless)
        {
            sql += " ORDER BY " + string.Join(", ", KeyColumns.Select(c => "t." + KeyOrder.SourceExpression(c.Name, c.Type)));
        }

        cmd.CommandText = sql;
        var nodes = new RowNodes();
        var values = new string?[columns.Count];
        var ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        long seq = 0;
        // Not SequentialAccess: each row arrives whole in the reader's buffer (memory is still one row), so the
        // values are read synchronously instead of one awaited seek per column.
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = reader.IsDBNull(i) ? null : reader.GetString(i);
            }

            yield return ToRow(snapshot, values, nodes, sensitive, ts, ++seq);
        }
    }

    private SourceRow ToRow(SourceSnapshot snapshot, string?[] values, RowNodes nodes, SensitiveHandling sensitive, long ts, long seq)
    {
        var columns = Info.Columns;
        List<string>? unchanged = null;
        // The nodes the Transform would parse from Capture's event, built from the texts (RowNodes): no JSON
        // written and parsed back for the whole row.
        nodes.Start(columns.Count);
        for (var i = 0; i < columns.Count; i++)
        {
            var c = columns[i];
            var text = values[i];
            if (text is not null && _sensitive.Count > 0 && _sensitive.Contains(c.Name))
            {
                if (sensitive.Key is null)
                {
                    (unchanged ??= []).Add(c.Name);
                    continue;
                }

                nodes.Add(c.Name, new JsonObject { [SealedValue.Marker] = JsonValue.Create(SealedValue.Seal(sensitive.Key, c.Name, text)) });
                continue;
            }

            nodes.Add(c.Name, c.Type, text);
        }

        var after = nodes.Finish();
        JsonObject? key = null;
        var origin = new string?[KeyColumns.Length];
        if (!Keyless)
        {
            key = [];
            for (var i = 0; i < KeyColumns.Length; i++)
            {
                var v = after[KeyColumns[i].Name];
                key[KeyColumns[i].Name] = v?.DeepClone();
                origin[i] = v is null ? null : ValueCodec.KeyText(v);
            }
        }

        var position = new SourcePosition(snapshot.ApplyGoal, seq);
        var change = new RawChange(Source.Name, snapshot.Database, Info.Id, ChangeOp.Read, position, snapshot.ApplyGoal, 0, ts, true, key, null, after, (IReadOnlyList<string>?)unchanged ?? []);
        return new SourceRow(change, origin);
    }
}
