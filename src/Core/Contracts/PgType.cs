namespace Peeq.Cdc.Contracts;

/// <summary>How a PostgreSQL type's values are carried in events (see docs/contracts.md, "Values").</summary>
public enum ValueKind
{
    /// <summary>PostgreSQL's own text output, as a JSON string (text, varchar, uuid, dates, times, ...).</summary>
    Text,
    /// <summary>JSON true/false.</summary>
    Boolean,
    /// <summary>A JSON number (int2, int4, int8, oid).</summary>
    Integer,
    /// <summary>A JSON number when finite, else the string NaN/Infinity/-Infinity (float4, float8).</summary>
    Float,
    /// <summary>The exact decimal text as a JSON string (numeric), never a binary float.</summary>
    Decimal,
    /// <summary>The document's text as a JSON string (json, jsonb), as Debezium does.</summary>
    Json,
    /// <summary>Base64 of the bytes, as a JSON string (bytea), as Debezium does.</summary>
    Bytes,
    /// <summary>A JSON array of the element encoding (one-dimensional arrays; deeper ones nest).</summary>
    Array,
}

/// <summary>What the pipeline needs to know about a column type, read from <c>pg_type</c>.</summary>
public sealed record PgType(uint Oid, string Name, char Category, uint ElementOid, char Delimiter, ValueKind Kind, PgType? Element)
{
    public static ValueKind KindOf(uint oid, char category) => oid switch
    {
        16 => ValueKind.Boolean,
        20 or 21 or 23 or 26 => ValueKind.Integer,
        700 or 701 => ValueKind.Float,
        1700 => ValueKind.Decimal,
        114 or 3802 => ValueKind.Json,
        17 => ValueKind.Bytes,
        _ when category == 'A' => ValueKind.Array,
        _ => ValueKind.Text,
    };

    /// <summary>Types whose OIDs are fixed in every PostgreSQL; used when no catalog is at hand (tests, Debezium input).</summary>
    public static PgType BuiltIn(uint oid) => BuiltIns.TryGetValue(oid, out var t)
        ? t
        : new PgType(oid, $"oid:{oid}", 'U', 0, ',', ValueKind.Text, null);

    public static PgType Create(uint oid, string name, char category, uint elementOid, char delimiter, PgType? element)
        => new(oid, name, category, elementOid, delimiter, KindOf(oid, category), element);

    private static readonly Dictionary<uint, PgType> BuiltIns = MakeBuiltIns();

    private static Dictionary<uint, PgType> MakeBuiltIns()
    {
        var scalars = new (uint Oid, string Name, char Cat)[]
        {
            (16, "bool", 'B'), (17, "bytea", 'U'), (20, "int8", 'N'), (21, "int2", 'N'), (23, "int4", 'N'),
            (25, "text", 'S'), (26, "oid", 'N'), (114, "json", 'U'), (700, "float4", 'N'), (701, "float8", 'N'),
            (1042, "bpchar", 'S'), (1043, "varchar", 'S'), (1082, "date", 'D'), (1083, "time", 'D'),
            (1114, "timestamp", 'D'), (1184, "timestamptz", 'D'), (1186, "interval", 'T'), (1700, "numeric", 'N'),
            (2950, "uuid", 'U'), (3802, "jsonb", 'U'), (18, "char", 'Z'), (19, "name", 'S'),
        };
        var arrays = new (uint Oid, uint Elem)[]
        {
            (1000, 16), (1001, 17), (1016, 20), (1005, 21), (1007, 23), (1009, 25), (1028, 26), (199, 114),
            (1021, 700), (1022, 701), (1014, 1042), (1015, 1043), (1182, 1082), (1183, 1083), (1115, 1114),
            (1185, 1184), (1187, 1186), (1231, 1700), (2951, 2950), (3807, 3802), (1002, 18), (1003, 19),
        };
        var d = new Dictionary<uint, PgType>();
        foreach (var (oid, name, cat) in scalars)
        {
            d[oid] = Create(oid, name, cat, 0, ',', null);
        }

        foreach (var (oid, elem) in arrays)
        {
            d[oid] = Create(oid, "_" + d[elem].Name, 'A', elem, ',', d[elem]);
        }

        return d;
    }
}
