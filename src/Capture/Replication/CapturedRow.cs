using System.Text;
using System.Text.Json;
using Npgsql.Replication.PgOutput;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Capture.Replication;

/// <summary>A column of a captured relation: how to encode it and whether it must stay out of Kafka.</summary>
public sealed record CapturedColumn(string Name, PgType Type, bool IsKey, bool Sensitive);

/// <summary>
/// A row copied out of a pgoutput tuple as PostgreSQL text. Npgsql reuses its message and tuple
/// objects, so every value is read into this before the next message is requested. A streamed row keeps
/// the text as the UTF-8 bytes pgoutput sent, back to back in one array, and writes them to the event
/// as they are (no string per column); a string is made only where one is needed (an array, bytea, a
/// sensitive value, a snapshot merge). Rows read from COPY hold strings.
/// </summary>
public sealed class CapturedRow : IRowImage
{
    private readonly CapturedColumn[] _columns;
    private readonly string?[] _values;
    private readonly bool[] _present;
    private readonly bool[] _unchanged;
    private readonly ISensitiveValueProtector _protector;

    // Streamed rows: column i's text is _utf8[_offsets[i] .. + _lengths[i]] where _lengths[i] >= 0.
    private byte[]? _utf8;
    private int[]? _offsets;
    private int[]? _lengths;
    private int _used;

    public CapturedRow(CapturedColumn[] columns, ISensitiveValueProtector protector)
    {
        _columns = columns;
        _values = new string?[columns.Length];
        _present = new bool[columns.Length];
        _unchanged = new bool[columns.Length];
        _protector = protector;
    }

    /// <summary>Columns absent from the image whose stored value must be kept: unchanged TOAST, and omitted sensitive values.</summary>
    public IReadOnlyList<string> Unchanged
    {
        get
        {
            List<string>? names = null;
            for (var i = 0; i < _columns.Length; i++)
            {
                if (_unchanged[i] || Omitted(_columns[i], i))
                {
                    (names ??= []).Add(_columns[i].Name);
                }
            }

            return names is null ? [] : names.ToArray();
        }
    }

    private bool Omitted(CapturedColumn c, int i) => c.Sensitive && _protector.Omits && _present[i];

    public string? this[int i] => Text(i);

    /// <summary>Column <paramref name="i"/>'s text (null: NULL or absent), made a string on first use.</summary>
    private string? Text(int i)
    {
        if (_values[i] is null && _lengths is { } lengths && lengths[i] >= 0)
        {
            _values[i] = Encoding.UTF8.GetString(_utf8!, _offsets![i], lengths[i]);
            lengths[i] = -1;
        }

        return _values[i];
    }

    private bool HasUtf8(int i) => _lengths is { } lengths && lengths[i] >= 0;

    /// <summary>True when pgoutput left a TOASTed value out because the change did not touch it.</summary>
    public bool HasUnchangedToast => _unchanged.Any(u => u);

    /// <summary>
    /// This row with <paramref name="change"/>'s explicit values laid over it, column by column (by name); a column
    /// the change left unchanged keeps this row's value. Null when the change names a column this row lacks.
    /// </summary>
    public CapturedRow? Overlay(CapturedRow change)
    {
        var merged = new CapturedRow(_columns, _protector);
        for (var i = 0; i < _columns.Length; i++)
        {
            merged._values[i] = Text(i);
        }

        Array.Copy(_present, merged._present, _present.Length);
        Array.Copy(_unchanged, merged._unchanged, _unchanged.Length);
        for (var j = 0; j < change._columns.Length; j++)
        {
            if (!change._present[j])
            {
                continue;
            }

            var i = Array.FindIndex(_columns, c => c.Name == change._columns[j].Name);
            if (i < 0)
            {
                return null;
            }

            merged._values[i] = change.Text(j);
            merged._present[i] = true;
            merged._unchanged[i] = false;
        }

        return merged;
    }

    /// <summary>
    /// Copies a tuple out. With <paramref name="keyOnly"/> (an old-key tuple), the non-key columns pgoutput
    /// sends as NULL placeholders are left absent: absent is not NULL.
    /// </summary>
    public static async ValueTask<CapturedRow> ReadAsync(ReplicationTuple tuple, CapturedColumn[] columns, ISensitiveValueProtector protector, CancellationToken ct, bool keyOnly = false)
    {
        var row = new CapturedRow(columns, protector);
        var i = 0;
        await foreach (var value in tuple.WithCancellation(ct))
        {
            if (i >= columns.Length)
            {
                // The relation changed under us without a Relation message first: never guess.
                throw new InvalidOperationException($"tuple has more columns than its relation ({columns.Length})");
            }

            switch (value.Kind)
            {
                case TupleDataKind.Null:
                    row._present[i] = !keyOnly || columns[i].IsKey;
                    break;
                case TupleDataKind.UnchangedToastedValue:
                    row._unchanged[i] = true;
                    break;
                case TupleDataKind.TextValue:
                    await row.CopyTextAsync(i, value);
                    row._present[i] = true;
                    break;
                default:
                    row._values[i] = await value.Get<string>(ct);
                    row._present[i] = true;
                    break;
            }

            i++;
        }

        return row;
    }

    /// <summary>
    /// Copies a text value's bytes as pgoutput sent them (the stream completes synchronously while the bytes are
    /// buffered). The read takes no token on purpose: a cancellable token makes Npgsql register a cancellation
    /// callback on the connection for every column read; the replication stream's own token (given to
    /// StartReplication) already cancels any read on that connection, this one included.
    /// </summary>
    private async ValueTask CopyTextAsync(int i, ReplicationValue value)
    {
        var destination = Reserve(i, value.Length);
        var stream = value.GetStream();
        while (!destination.IsEmpty)
        {
            var read = await stream.ReadAsync(destination, CancellationToken.None);
            if (read == 0)
            {
                throw new EndOfStreamException($"column {_columns[i].Name}: the value ended before its {value.Length} bytes");
            }

            destination = destination[read..];
        }
    }

    /// <summary>Room for column <paramref name="i"/>'s <paramref name="length"/> bytes of text, recorded as its value.</summary>
    private Memory<byte> Reserve(int i, int length)
    {
        if (_lengths is null)
        {
            _offsets = new int[_columns.Length];
            _lengths = new int[_columns.Length];
            Array.Fill(_lengths, -1);
            _utf8 = new byte[Math.Max(256, length)];
        }
        else if (_utf8!.Length - _used < length)
        {
            Array.Resize(ref _utf8, Math.Max(_utf8.Length * 2, _used + length));
        }

        _offsets![i] = _used;
        _lengths[i] = length;
        _used += length;
        return _utf8.AsMemory(_offsets[i], length);
    }

    /// <summary>A change's new row as pgoutput streams it (text kept as UTF-8 bytes): null is NULL, <paramref name="unchanged"/> columns left out. For tests.</summary>
    internal static CapturedRow FromStreamed(CapturedColumn[] columns, string?[] values, bool[] unchanged, ISensitiveValueProtector protector)
    {
        var row = new CapturedRow(columns, protector);
        for (var i = 0; i < columns.Length; i++)
        {
            if (unchanged[i])
            {
                row._unchanged[i] = true;
                continue;
            }

            row._present[i] = true;
            if (values[i] is { } text)
            {
                Encoding.UTF8.GetBytes(text, row.Reserve(i, Encoding.UTF8.GetByteCount(text)).Span);
            }
        }

        return row;
    }

    /// <summary>A row read from COPY text output (snapshots), where every column is present.</summary>
    public static CapturedRow FromValues(CapturedColumn[] columns, string?[] values, ISensitiveValueProtector protector)
    {
        var row = new CapturedRow(columns, protector);
        Array.Copy(values, row._values, values.Length);
        Array.Fill(row._present, true);
        return row;
    }

    /// <summary>A change's new row as pgoutput sends it: <paramref name="unchanged"/> columns left out (TOAST not re-sent). For tests.</summary>
    internal static CapturedRow FromChange(CapturedColumn[] columns, string?[] values, bool[] unchanged, ISensitiveValueProtector protector)
    {
        var row = FromValues(columns, values, protector);
        for (var i = 0; i < columns.Length; i++)
        {
            if (unchanged[i])
            {
                row._values[i] = null;
                row._present[i] = false;
                row._unchanged[i] = true;
            }
        }

        return row;
    }

    /// <summary>The key columns only, as Debezium's event key.</summary>
    public IRowImage KeyImage => _keyView ??= new KeyView(this);

    private KeyView? _keyView;

    public bool HasKey => _columns.Any(c => c.IsKey);

    public void WriteTo(Utf8JsonWriter w) => Write(w, keysOnly: false);

    private void Write(Utf8JsonWriter w, bool keysOnly)
    {
        w.WriteStartObject();
        for (var i = 0; i < _columns.Length; i++)
        {
            var c = _columns[i];
            if (!_present[i] || keysOnly && !c.IsKey || Omitted(c, i))
            {
                continue;
            }

            w.WritePropertyName(c.Name);
            if (!c.Sensitive && HasUtf8(i))
            {
                ValueCodec.WriteJson(w, c.Type, _utf8.AsSpan(_offsets![i], _lengths![i]));
                continue;
            }

            var text = Text(i);
            if (text is null)
            {
                w.WriteNullValue();
            }
            else if (c.Sensitive)
            {
                _protector.Write(w, c, text);
            }
            else
            {
                ValueCodec.WriteJson(w, c.Type, text);
            }
        }

        w.WriteEndObject();
    }

    private sealed class KeyView(CapturedRow row) : IRowImage
    {
        public void WriteTo(Utf8JsonWriter writer) => row.Write(writer, keysOnly: true);
    }
}
