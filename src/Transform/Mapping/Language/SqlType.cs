using System.Globalization;
using System.Text.RegularExpressions;

namespace Peeq.Cdc.Transform.Mapping.Language;

/// <summary>The kinds of value the mapping language knows (PostgreSQL's, as the legacy and target schemas use them).</summary>
public enum SqlKind
{
    /// <summary>The type of the literal NULL: goes anywhere.</summary>
    Null,
    Bool,
    Int2,
    Int4,
    Int8,
    Numeric,
    Float4,
    Float8,
    Text,
    Varchar,
    Char,
    Uuid,
    Date,
    Timestamp,
    Timestamptz,
    Json,
    Jsonb,
    Array,
    /// <summary>Any other type (interval, enums, ...): copied as PostgreSQL's text, only into the same type.</summary>
    Other,
}

/// <summary>
/// A column or expression type: kind plus modifiers (<c>varchar(255)</c>, <c>numeric(12,2)</c>) and the
/// element type of an array. Parsed from the catalog's <c>format_type</c> output.
/// </summary>
public sealed partial record SqlType(SqlKind Kind, int? Length = null, int? Precision = null, int? Scale = null, SqlType? Element = null, string? Name = null)
{
    public static readonly SqlType Null = new(SqlKind.Null);
    public static readonly SqlType Bool = new(SqlKind.Bool);
    public static readonly SqlType Int2 = new(SqlKind.Int2);
    public static readonly SqlType Int4 = new(SqlKind.Int4);
    public static readonly SqlType Int8 = new(SqlKind.Int8);
    public static readonly SqlType Numeric = new(SqlKind.Numeric);
    public static readonly SqlType Float8 = new(SqlKind.Float8);
    public static readonly SqlType Text = new(SqlKind.Text);
    public static readonly SqlType Uuid = new(SqlKind.Uuid);
    public static readonly SqlType Date = new(SqlKind.Date);
    public static readonly SqlType Timestamp = new(SqlKind.Timestamp);
    public static readonly SqlType Timestamptz = new(SqlKind.Timestamptz);
    public static readonly SqlType Json = new(SqlKind.Json);
    public static readonly SqlType Jsonb = new(SqlKind.Jsonb);

    public static SqlType ArrayOf(SqlType element) => new(SqlKind.Array, Element: element);

    public bool IsInteger => Kind is SqlKind.Int2 or SqlKind.Int4 or SqlKind.Int8;

    public bool IsNumber => IsInteger || Kind is SqlKind.Numeric or SqlKind.Float4 or SqlKind.Float8;

    public bool IsString => Kind is SqlKind.Text or SqlKind.Varchar or SqlKind.Char;

    public bool IsJson => Kind is SqlKind.Json or SqlKind.Jsonb;

    public bool IsTime => Kind is SqlKind.Timestamp or SqlKind.Timestamptz or SqlKind.Date;

    /// <summary>Parses <c>format_type</c> output: <c>character varying(255)</c>, <c>numeric(12,2)</c>, <c>uuid[]</c>, <c>timestamp with time zone</c>.</summary>
    public static SqlType Parse(string text)
    {
        var t = text.Trim();
        if (t.EndsWith("[]", StringComparison.Ordinal))
        {
            return ArrayOf(Parse(t[..^2]));
        }

        var m = Modifier().Match(t);
        var name = m.Success ? m.Groups["name"].Value.Trim() : t;
        int? a = m.Success ? int.Parse(m.Groups["a"].Value, CultureInfo.InvariantCulture) : null;
        int? b = m.Success && m.Groups["b"].Success ? int.Parse(m.Groups["b"].Value, CultureInfo.InvariantCulture) : null;
        if (m.Success && m.Groups["rest"].Value.Length > 0)
        {
            // "timestamp(3) with time zone"
            name = (name + " " + m.Groups["rest"].Value.Trim()).Trim();
        }

        return name.ToLowerInvariant() switch
        {
            "boolean" or "bool" => Bool,
            "smallint" or "int2" => Int2,
            "integer" or "int" or "int4" => Int4,
            "bigint" or "int8" => Int8,
            "numeric" or "decimal" => new SqlType(SqlKind.Numeric, Precision: a, Scale: a is null ? null : b ?? 0),
            "real" or "float4" => new SqlType(SqlKind.Float4),
            "double precision" or "float8" => Float8,
            "text" => Text,
            "character varying" or "varchar" => new SqlType(SqlKind.Varchar, Length: a),
            "character" or "char" or "bpchar" => new SqlType(SqlKind.Char, Length: a ?? 1),
            "uuid" => Uuid,
            "date" => Date,
            "timestamp without time zone" or "timestamp" => Timestamp,
            "timestamp with time zone" or "timestamptz" => Timestamptz,
            "json" => Json,
            "jsonb" => Jsonb,
            _ => new SqlType(SqlKind.Other, Name: name),
        };
    }

    [GeneratedRegex(@"^(?<name>[^(]+)\((?<a>\d+)(,\s*(?<b>-?\d+))?\)(?<rest>.*)$")]
    private static partial Regex Modifier();

    public override string ToString() => Kind switch
    {
        SqlKind.Null => "null",
        SqlKind.Bool => "boolean",
        SqlKind.Int2 => "smallint",
        SqlKind.Int4 => "integer",
        SqlKind.Int8 => "bigint",
        SqlKind.Numeric => Precision is null ? "numeric" : $"numeric({Precision},{Scale})",
        SqlKind.Float4 => "real",
        SqlKind.Float8 => "double precision",
        SqlKind.Text => "text",
        SqlKind.Varchar => Length is null ? "varchar" : $"varchar({Length})",
        SqlKind.Char => $"char({Length})",
        SqlKind.Uuid => "uuid",
        SqlKind.Date => "date",
        SqlKind.Timestamp => "timestamp",
        SqlKind.Timestamptz => "timestamptz",
        SqlKind.Json => "json",
        SqlKind.Jsonb => "jsonb",
        SqlKind.Array => $"{Element}[]",
        _ => Name ?? "other",
    };

    /// <summary>
    /// Whether a value of <paramref name="from"/> may be written into a column of <paramref name="to"/>
    /// without a declared cast; null when it may (possibly with a runtime check that parks a value that
    /// does not fit: a too long string, an out-of-range integer), else why not.
    /// </summary>
    public static string? Assignable(SqlType from, SqlType to)
    {
        if (from.Kind == SqlKind.Null)
        {
            return null;
        }

        if (from.IsInteger && to.IsInteger)
        {
            return null; // narrowing is range-checked per value
        }

        if (from.IsInteger && to.Kind is SqlKind.Numeric or SqlKind.Float8 or SqlKind.Float4)
        {
            return null;
        }

        if (from.Kind == SqlKind.Numeric && to.Kind == SqlKind.Numeric)
        {
            return null; // precision and scale are checked per value, never rounded
        }

        if (from.Kind == SqlKind.Numeric && to.IsInteger)
        {
            return $"{from} into {to} needs a declared exact cast: cents(x) for money in major units, int(x) for a whole number";
        }

        if (from.Kind is SqlKind.Float4 or SqlKind.Float8 && to.Kind is SqlKind.Float4 or SqlKind.Float8)
        {
            return null;
        }

        if (from.IsString && to.IsString)
        {
            return null; // length is checked per value
        }

        if (from.Kind is SqlKind.Uuid && to.IsString)
        {
            return null;
        }

        if (from.IsString && to.Kind == SqlKind.Uuid)
        {
            return $"{from} into uuid needs a declared cast: uuid(x) (a UUID or 32 hex digits), uuid_v5('kind', x) or md5_uuid(x)";
        }

        if (from.Kind == SqlKind.Timestamptz && to.Kind == SqlKind.Timestamp)
        {
            return "timestamptz into timestamp (without time zone) needs a declared cast: utc(x) converts it in UTC";
        }

        if (from.Kind == SqlKind.Timestamp && to.Kind == SqlKind.Timestamptz)
        {
            return "timestamp (without time zone) into timestamptz needs a declared cast: as_utc(x) reads it as UTC wall-clock time";
        }

        if (from.IsJson && to.IsJson)
        {
            return null;
        }

        if (from.Kind == SqlKind.Array && to.Kind == SqlKind.Array)
        {
            var inner = Assignable(from.Element!, to.Element!);
            return inner is null ? null : $"array elements: {inner}";
        }

        if (from.Kind == to.Kind && from.Kind != SqlKind.Other)
        {
            return null;
        }

        if (from.Kind == SqlKind.Other && to.Kind == SqlKind.Other && string.Equals(from.Name, to.Name, StringComparison.Ordinal))
        {
            return null;
        }

        return $"a {from} value cannot go into a {to} column";
    }
}
