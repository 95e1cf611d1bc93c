using Npgsql;
using NpgsqlTypes;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>
/// One table being filled with binary COPY. Values are written in the order of the column list given
/// to <see cref="DatabaseLoader.Copy"/>; each typed method writes one field (NULL for a null argument).
/// </summary>
public sealed class TableCopy(NpgsqlBinaryImporter importer, SeedProgress progress, CancellationToken ct)
{
    private long _rows;

    public long Rows => _rows;

    public void Row()
    {
        importer.StartRow();
        _rows++;
        if ((_rows & 1023) == 0)
        {
            progress.Add(1024);
            ct.ThrowIfCancellationRequested();
        }
    }

    internal ulong Complete()
    {
        progress.Add(_rows & 1023);
        return importer.Complete();
    }

    public void Uuid(Guid value) => importer.Write(value, NpgsqlDbType.Uuid);

    public void Uuid(Guid? value)
    {
        if (value is { } v)
        {
            importer.Write(v, NpgsqlDbType.Uuid);
        }
        else
        {
            importer.WriteNull();
        }
    }

    /// <summary>text and varchar (binary-compatible in COPY).</summary>
    public void Text(string? value)
    {
        if (value is null)
        {
            importer.WriteNull();
        }
        else
        {
            importer.Write(value, NpgsqlDbType.Text);
        }
    }

    public void Jsonb(string? value)
    {
        if (value is null)
        {
            importer.WriteNull();
        }
        else
        {
            importer.Write(value, NpgsqlDbType.Jsonb);
        }
    }

    public void Int(int? value)
    {
        if (value is { } v)
        {
            importer.Write(v, NpgsqlDbType.Integer);
        }
        else
        {
            importer.WriteNull();
        }
    }

    public void Long(long value) => importer.Write(value, NpgsqlDbType.Bigint);

    public void Bool(bool value) => importer.Write(value, NpgsqlDbType.Boolean);

    public void Numeric(decimal? value)
    {
        if (value is { } v)
        {
            importer.Write(v, NpgsqlDbType.Numeric);
        }
        else
        {
            importer.WriteNull();
        }
    }

    /// <summary>timestamptz: a UTC instant.</summary>
    public void TimestampTz(DateTime? value)
    {
        if (value is { } v)
        {
            importer.Write(DateTime.SpecifyKind(v, DateTimeKind.Utc), NpgsqlDbType.TimestampTz);
        }
        else
        {
            importer.WriteNull();
        }
    }

    /// <summary>timestamp without time zone: a wall-clock value.</summary>
    public void Timestamp(DateTime? value)
    {
        if (value is { } v)
        {
            importer.Write(DateTime.SpecifyKind(v, DateTimeKind.Unspecified), NpgsqlDbType.Timestamp);
        }
        else
        {
            importer.WriteNull();
        }
    }

    public void UuidArray(Guid[]? value)
    {
        if (value is null)
        {
            importer.WriteNull();
        }
        else
        {
            importer.Write(value, NpgsqlDbType.Array | NpgsqlDbType.Uuid);
        }
    }

    /// <summary>text[] (the element type is part of the binary array format, so text[] and varchar[] differ).</summary>
    public void TextArray(string[]? value)
    {
        if (value is null)
        {
            importer.WriteNull();
        }
        else
        {
            importer.Write(value, NpgsqlDbType.Array | NpgsqlDbType.Text);
        }
    }

    public void VarcharArray(string[]? value)
    {
        if (value is null)
        {
            importer.WriteNull();
        }
        else
        {
            importer.Write(value, NpgsqlDbType.Array | NpgsqlDbType.Varchar);
        }
    }
}

/// <summary>Loads one legacy database: one binary COPY per table, rows counted for the summary.</summary>
public sealed class DatabaseLoader(LegacyDatabase database, NpgsqlConnection connection, SeedProgress progress, CancellationToken ct)
{
    private readonly Dictionary<string, long> _rows = [];

    public LegacyDatabase Database => database;

    public IReadOnlyDictionary<string, long> Rows => _rows;

    /// <summary>Streams the rows <paramref name="fill"/> writes into <paramref name="table"/> (columns in the given order).</summary>
    public void Copy(string table, string columns, Action<TableCopy> fill)
    {
        var list = string.Join(", ", columns.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(Sql.QuoteIdent));
        progress.Current = $"{database.Key}.{table}";
        using var importer = connection.BeginBinaryImport($"COPY {Sql.QuoteIdent(table)} ({list}) FROM STDIN (FORMAT BINARY)");
        var copy = new TableCopy(importer, progress, ct);
        fill(copy);
        var written = (long)copy.Complete();
        _rows[table] = _rows.GetValueOrDefault(table) + written;
    }
}
