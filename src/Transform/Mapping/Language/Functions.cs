using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Peeq.Cdc.Transform.Mapping.Language;

/// <summary>A function of the mapping language: checked once against argument types, then invoked per row.</summary>
public interface IFunction
{
    string Name { get; }

    /// <summary>One line for docs/mappings.md: signature and meaning.</summary>
    string Description { get; }

    /// <summary>The result type for these arguments; throws <see cref="ArgumentException"/> (or <see cref="ExpressionException"/>) when they do not fit.</summary>
    SqlType Check(IReadOnlyList<Expr> args, IReadOnlyList<SqlType> types);

    Value Invoke(IReadOnlyList<Expr> args, IRow row);
}

/// <summary>
/// The escape hatch: a function written in C# for what the language cannot express, registered by name
/// (<see cref="Functions.Register"/>) and called from a mapping like any built-in. Must be deterministic
/// and stateless (a replay must yield the same rows); throw <see cref="MappingException"/> to park a row.
/// </summary>
public interface ICustomFunction
{
    string Name { get; }

    string Description { get; }

    /// <summary>The result type for these argument types; throw <see cref="ArgumentException"/> when they do not fit.</summary>
    SqlType ReturnType(IReadOnlyList<SqlType> argumentTypes);

    Value Invoke(IReadOnlyList<Value> arguments);
}

/// <summary>The built-in function set (docs/mappings.md lists it) and the registry of custom ones.</summary>
public static partial class Functions
{
    /// <summary>The root of the name-based (v5) UUIDs the mappings derive; each kind gets its own namespace under it.</summary>
    public static readonly Guid RootNamespace = Guid.Parse("9f2b7c1e-4d3a-5b6c-8e7f-0a1b2c3d4e5f");

    private static readonly Dictionary<string, IFunction> Registry = new(StringComparer.OrdinalIgnoreCase);

    internal static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static Functions()
    {
        foreach (var f in BuiltIns())
        {
            Registry[f.Name] = f;
        }
    }

    public static IFunction? Find(string name)
    {
        lock (Registry)
        {
            return Registry.TryGetValue(name, out var f) ? f : null;
        }
    }

    public static IReadOnlyList<string> Names
    {
        get
        {
            lock (Registry)
            {
                return Registry.Keys.Order(StringComparer.Ordinal).ToList();
            }
        }
    }

    /// <summary>The built-in functions (not those registered through the escape hatch).</summary>
    public static IReadOnlyList<IFunction> BuiltIn
    {
        get
        {
            lock (Registry)
            {
                return Registry.Values.Where(f => f is not CustomAdapter).OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
            }
        }
    }

    public static IReadOnlyList<IFunction> All
    {
        get
        {
            lock (Registry)
            {
                return Registry.Values.OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
            }
        }
    }

    /// <summary>Registers a C# function under its name (the escape hatch). A name already taken is an error.</summary>
    public static void Register(ICustomFunction function)
    {
        lock (Registry)
        {
            if (Registry.TryGetValue(function.Name, out var existing))
            {
                if (existing is CustomAdapter a && a.Inner.GetType() == function.GetType())
                {
                    return;
                }

                throw new ArgumentException($"a mapping function named '{function.Name}' is already registered");
            }

            Registry[function.Name] = new CustomAdapter(function);
        }
    }

    private sealed class CustomAdapter(ICustomFunction inner) : IFunction
    {
        public ICustomFunction Inner => inner;

        public string Name => inner.Name;

        public string Description => inner.Description + " (C#: " + inner.GetType().FullName + ")";

        public SqlType Check(IReadOnlyList<Expr> args, IReadOnlyList<SqlType> types) => inner.ReturnType(types);

        public Value Invoke(IReadOnlyList<Expr> args, IRow row) => inner.Invoke(args.Select(a => a.Eval(row)).ToList());
    }

    private sealed class Fn(string name, string description, Func<IReadOnlyList<Expr>, IReadOnlyList<SqlType>, SqlType> check, Func<IReadOnlyList<Expr>, IRow, Value> invoke) : IFunction
    {
        public string Name => name;

        public string Description => description;

        public SqlType Check(IReadOnlyList<Expr> args, IReadOnlyList<SqlType> types) => check(args, types);

        public Value Invoke(IReadOnlyList<Expr> args, IRow row) => invoke(args, row);
    }

    private static IEnumerable<IFunction> BuiltIns()
    {
        yield return new Fn("coalesce", "coalesce(a, b, ...): the first argument that is not NULL",
            (a, t) =>
            {
                Arity(t, 1, int.MaxValue);
                SqlType? r = null;
                for (var i = 0; i < t.Count; i++)
                {
                    r = Unify(r, t[i], a[i].Offset);
                }

                return r!;
            },
            (a, row) =>
            {
                foreach (var e in a)
                {
                    var v = e.Eval(row);
                    if (!v.IsNull)
                    {
                        return v;
                    }
                }

                return Value.Null;
            });
        yield return new Fn("nullif", "nullif(a, b): NULL when a equals b, else a",
            (a, t) =>
            {
                Arity(t, 2, 2);
                return t[0];
            },
            (a, row) =>
            {
                var x = a[0].Eval(row);
                var y = a[1].Eval(row);
                return !x.IsNull && !y.IsNull && BinaryExpr.Compare(x, y) == 0 ? Value.Null : x;
            });
        yield return new Fn("concat", "concat(a, b, ...): the texts joined; NULL arguments count as empty (a || b is NULL if either is)",
            (a, t) =>
            {
                Arity(t, 1, int.MaxValue);
                return SqlType.Text;
            },
            (a, row) => new TextValue(string.Concat(a.Select(e => e.Eval(row)).Where(v => !v.IsNull).Select(AsText)), SqlType.Text));
        yield return Text1("lower", "lower(s): lower case", s => s.ToLowerInvariant());
        yield return Text1("upper", "upper(s): upper case", s => s.ToUpperInvariant());
        yield return Text1("trim", "trim(s): without leading and trailing spaces", s => s.Trim(' '));
        yield return new Fn("text", "text(x): x as PostgreSQL's text form (numbers exactly, uuid lower case)",
            (a, t) =>
            {
                Arity(t, 1, 1);
                return t[0].Kind == SqlKind.Array ? throw new ArgumentException("text() of an array is not supported") : SqlType.Text;
            },
            (a, row) => a[0].Eval(row) is { IsNull: false } v ? new TextValue(AsText(v), SqlType.Text) : Value.Null);
        yield return new Fn("starts_with", "starts_with(s, prefix): whether s begins with prefix",
            (a, t) =>
            {
                Arity(t, 2, 2);
                RequireString(t[0]);
                RequireString(t[1]);
                return SqlType.Bool;
            },
            (a, row) =>
            {
                var s = a[0].Eval(row);
                var p = a[1].Eval(row);
                return s.IsNull || p.IsNull ? Value.Null : new BoolValue(AsText(s).StartsWith(AsText(p), StringComparison.Ordinal));
            });
        yield return new Fn("int", "int(x): numeric or text to an integer, exactly: a fractional part or a value beyond bigint parks the row (lossy cast)",
            (a, t) =>
            {
                Arity(t, 1, 1);
                if (!(t[0].IsNumber || t[0].IsString || t[0].Kind == SqlKind.Null) || t[0].Kind is SqlKind.Float4 or SqlKind.Float8)
                {
                    throw new ArgumentException($"int() takes numeric, integer or text, not {t[0]}");
                }

                return SqlType.Int8;
            },
            (a, row) => a[0].Eval(row) switch
            {
                NullValue => Value.Null,
                IntValue i => i,
                var v => WholeOrPark(AsDecimalOrPark(v, a[0]), a[0], "int"),
            });
        yield return new Fn("cents", "cents(x): money in major units (numeric) to integer minor units (x × 100), exactly: sub-cent digits or a value beyond bigint park the row (lossy cast)",
            (a, t) =>
            {
                Arity(t, 1, 1);
                if (!(t[0].Kind is SqlKind.Numeric or SqlKind.Null || t[0].IsInteger))
                {
                    throw new ArgumentException($"cents() takes a numeric amount in major units, not {t[0]}");
                }

                return SqlType.Int8;
            },
            (a, row) => a[0].Eval(row) switch
            {
                NullValue => Value.Null,
                var v => WholeOrPark(AsDecimalOrPark(v, a[0]) * new ExactDecimal(100, 0), a[0], "cents"),
            });
        yield return new Fn("utc", "utc(t): timestamptz to timestamp (without time zone), converted to UTC",
            (a, t) =>
            {
                Arity(t, 1, 1);
                return t[0].Kind is SqlKind.Timestamptz or SqlKind.Null ? SqlType.Timestamp : throw new ArgumentException($"utc() takes a timestamptz, not {t[0]}");
            },
            (a, row) => a[0].Eval(row) is TextValue v ? new TextValue(Timestamps.ToUtc(v.V), SqlType.Timestamp) : Value.Null);
        yield return new Fn("as_utc", "as_utc(t): timestamp (without time zone) read as UTC wall-clock time, as timestamptz",
            (a, t) =>
            {
                Arity(t, 1, 1);
                return t[0].Kind is SqlKind.Timestamp or SqlKind.Null ? SqlType.Timestamptz : throw new ArgumentException($"as_utc() takes a timestamp, not {t[0]}");
            },
            (a, row) => a[0].Eval(row) is TextValue v ? new TextValue(Timestamps.AsUtc(v.V), SqlType.Timestamptz) : Value.Null);
        yield return new Fn("uuid", "uuid(s): text holding a UUID, or 32 hex digits (an md5 id), as uuid; anything else parks the row",
            (a, t) =>
            {
                Arity(t, 1, 1);
                return t[0].IsString || t[0].Kind is SqlKind.Uuid or SqlKind.Null ? SqlType.Uuid : throw new ArgumentException($"uuid() takes text, not {t[0]}");
            },
            (a, row) => a[0].Eval(row) is { IsNull: false } v ? new TextValue(ParseUuid(AsText(v)), SqlType.Uuid) : Value.Null);
        yield return new Fn("uuid_v5", "uuid_v5('kind', key): a name-based (v5) UUID of the key's text, in the namespace of that kind (deterministic; the same legacy key always gives the same UUID)",
            (a, t) =>
            {
                Arity(t, 2, 2);
                KindLiteral(a[0], "uuid_v5");
                if (t[1].Kind is SqlKind.Array or SqlKind.Json or SqlKind.Jsonb)
                {
                    throw new ArgumentException($"uuid_v5() keys are scalar, not {t[1]}");
                }

                return SqlType.Uuid;
            },
            (a, row) =>
            {
                var kind = AsText(a[0].Eval(row));
                var key = a[1].Eval(row);
                return key.IsNull ? Value.Null : new TextValue(UuidV5(NamespaceOf(kind), AsText(key)).ToString(), SqlType.Uuid);
            });
        yield return new Fn("md5", "md5(s): the md5 of the text's UTF-8 bytes, 32 lower-case hex digits",
            (a, t) =>
            {
                Arity(t, 1, 1);
                return SqlType.Text;
            },
            (a, row) => a[0].Eval(row) is { IsNull: false } v ? new TextValue(Md5Hex(AsText(v)), SqlType.Text) : Value.Null);
        yield return new Fn("md5_uuid", "md5_uuid(s): the md5 of the text as a UUID (PostgreSQL: md5(s)::uuid)",
            (a, t) =>
            {
                Arity(t, 1, 1);
                return SqlType.Uuid;
            },
            (a, row) => a[0].Eval(row) is { IsNull: false } v ? new TextValue(ParseUuid(Md5Hex(AsText(v))), SqlType.Uuid) : Value.Null);
        yield return new Fn("json_get", "json_get(doc, 'path'): the JSON at a path ('a.b[0]') of a json/jsonb document, as jsonb; NULL when absent",
            (a, t) =>
            {
                Arity(t, 2, 2);
                RequireJson(t[0], "json_get");
                PathLiteral(a[1], "json_get");
                return SqlType.Jsonb;
            },
            (a, row) => JsonAt(a[0].Eval(row), AsText(a[1].Eval(row)), asText: false));
        yield return new Fn("json_text", "json_text(doc, 'path'): the value at a path as text (a JSON string unquoted, other JSON as its text); NULL when absent or JSON null",
            (a, t) =>
            {
                Arity(t, 2, 2);
                RequireJson(t[0], "json_text");
                PathLiteral(a[1], "json_text");
                return SqlType.Text;
            },
            (a, row) => JsonAt(a[0].Eval(row), AsText(a[1].Eval(row)), asText: true));
        yield return new Fn("json_set", "json_set(doc, 'key', value, ...): the object doc (or {}) with each key set to its value; NULL values set nothing; NULL when doc is NULL and nothing is set",
            (a, t) =>
            {
                if (t.Count < 3 || t.Count % 2 == 0)
                {
                    throw new ArgumentException("json_set(doc, 'key', value, ...) takes a document and key/value pairs");
                }

                RequireJson(t[0], "json_set");
                for (var i = 1; i < a.Count; i += 2)
                {
                    PathLiteral(a[i], "json_set");
                }

                return SqlType.Jsonb;
            },
            (a, row) => JsonSet(a, row));
        yield return new Fn("lookup", "lookup('kind', key [, 'target']): the id that peeq_cdc.identity_map records for (kind, key); resolved by the Sink (in the named target's map when given), filled in later if the identity arrives later",
            (a, t) =>
            {
                Arity(t, 2, 3);
                KindLiteral(a[0], "lookup");
                if (a.Count == 3)
                {
                    KindLiteral(a[2], "lookup");
                }

                return SqlType.Uuid;
            },
            (a, row) =>
            {
                var key = a[1].Eval(row);
                return key.IsNull ? Value.Null : new LookupValue(AsText(a[0].Eval(row)), AsText(key), a.Count == 3 ? AsText(a[2].Eval(row)) : null);
            });
    }

    private static Fn Text1(string name, string description, Func<string, string> f) => new(name, description,
        (a, t) =>
        {
            Arity(t, 1, 1);
            RequireString(t[0]);
            return SqlType.Text;
        },
        (a, row) => a[0].Eval(row) is { IsNull: false } v ? new TextValue(f(AsText(v)), SqlType.Text) : Value.Null);

    private static void Arity(IReadOnlyList<SqlType> t, int min, int max)
    {
        if (t.Count < min || t.Count > max)
        {
            throw new ArgumentException(min == max ? $"takes {min} argument(s), got {t.Count}" : $"takes {min} to {(max == int.MaxValue ? "any number of" : max)} arguments, got {t.Count}");
        }
    }

    private static void RequireString(SqlType t)
    {
        if (!(t.IsString || t.Kind is SqlKind.Null or SqlKind.Uuid))
        {
            throw new ArgumentException($"takes text, not {t}");
        }
    }

    private static void RequireJson(SqlType t, string name)
    {
        if (!(t.IsJson || t.Kind == SqlKind.Null))
        {
            throw new ArgumentException($"{name}() reads a json/jsonb document, not {t}");
        }
    }

    private static void KindLiteral(Expr e, string name)
    {
        if (e is not LiteralExpr { Value: TextValue })
        {
            throw new ExpressionException($"{name}(): the kind must be a string literal ('inventory_item_by_item_id')", e.Offset);
        }
    }

    private static void PathLiteral(Expr e, string name)
    {
        if (e is not LiteralExpr { Value: TextValue t })
        {
            throw new ExpressionException($"{name}(): the path/key must be a string literal", e.Offset);
        }

        _ = ParsePath(t.V, e.Offset);
    }

    /// <summary>The common type of two branches (coalesce, case); throws when they have none.</summary>
    public static SqlType Unify(SqlType? a, SqlType b, int offset)
    {
        if (a is null || a.Kind == SqlKind.Null)
        {
            return b;
        }

        if (b.Kind == SqlKind.Null)
        {
            return a;
        }

        if (a.IsInteger && b.IsInteger)
        {
            return SqlType.Int8;
        }

        if (a.IsNumber && b.IsNumber && a.Kind is not (SqlKind.Float4 or SqlKind.Float8) && b.Kind is not (SqlKind.Float4 or SqlKind.Float8))
        {
            return SqlType.Numeric;
        }

        if (a.IsString && b.IsString)
        {
            return a == b ? a : SqlType.Text;
        }

        if (a.IsJson && b.IsJson)
        {
            return SqlType.Jsonb;
        }

        if (a.Kind == b.Kind && a.Kind != SqlKind.Array)
        {
            return a;
        }

        if (a.Kind == SqlKind.Array && b.Kind == SqlKind.Array)
        {
            return SqlType.ArrayOf(Unify(a.Element, b.Element!, offset));
        }

        throw new ExpressionException($"{a} and {b} have no common type", offset);
    }

    /// <summary>Coerces a branch value to the unified type (integers become numeric where the branches mix).</summary>
    public static Value Coerce(Value v, SqlType type) => (v, type.Kind) switch
    {
        (IntValue i, SqlKind.Numeric) => new DecimalValue(ExactDecimal.FromLong(i.V)),
        _ => v,
    };

    /// <summary>PostgreSQL's text form of a scalar value.</summary>
    public static string AsText(Value v) => v switch
    {
        TextValue t => t.V,
        IntValue i => i.V.ToString(CultureInfo.InvariantCulture),
        DecimalValue d => d.V.ToString(),
        FloatValue f => f.Text,
        BoolValue b => b.V ? "true" : "false",
        JsonValueDoc j => j.Document,
        SealedValue => throw new MappingException("a sealed (sensitive) value can only be copied to a target column of the same name, never computed with"),
        LookupValue => throw new MappingException("a lookup() is resolved by the Sink and cannot be computed with"),
        _ => throw new MappingException($"{Values.Describe(v)} has no text form"),
    };

    public static ExactDecimal AsDecimal(Value v) => v switch
    {
        IntValue i => ExactDecimal.FromLong(i.V),
        DecimalValue d => d.V,
        _ => throw new MappingException($"lossy cast: {Values.Describe(v)} is not an exact number"),
    };

    private static ExactDecimal AsDecimalOrPark(Value v, Expr source) => v switch
    {
        IntValue or DecimalValue => AsDecimal(v),
        TextValue t when ExactDecimal.TryParse(t.V, out var d) => d,
        _ => throw new MappingException($"lossy cast: {source} = {Values.Describe(v)} is not a finite exact number"),
    };

    private static IntValue WholeOrPark(ExactDecimal d, Expr source, string cast)
    {
        var whole = d.AsWhole();
        if (whole is null)
        {
            throw new MappingException(cast == "cents"
                ? $"lossy cast: {source} = {d * new ExactDecimal(1, 2)} has sub-cent digits; it would be rounded in integer cents"
                : $"lossy cast: {source} = {d} has a fractional part; it would be rounded in an integer");
        }

        if (whole < long.MinValue || whole > long.MaxValue)
        {
            throw new MappingException($"lossy cast: {source} = {d} is beyond bigint");
        }

        return new IntValue((long)whole.Value);
    }

    public static string ParseUuid(string text)
    {
        var hex = new StringBuilder(32);
        var s = text.Trim();
        if (s.StartsWith('{') && s.EndsWith('}'))
        {
            s = s[1..^1];
        }

        foreach (var c in s)
        {
            if (Uri.IsHexDigit(c))
            {
                hex.Append(char.ToLowerInvariant(c));
            }
            else if (c != '-')
            {
                throw new MappingException($"'{Truncate(text)}' is not a UUID");
            }
        }

        if (hex.Length != 32)
        {
            throw new MappingException($"'{Truncate(text)}' is not a UUID (it has {hex.Length} hex digits, not 32)");
        }

        var h = hex.ToString();
        return $"{h[..8]}-{h[8..12]}-{h[12..16]}-{h[16..20]}-{h[20..]}";
    }

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..60] + "...";

    public static string Md5Hex(string text) => Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>The namespace of a kind: uuid_v5(<see cref="RootNamespace"/>, kind).</summary>
    public static Guid NamespaceOf(string kind) => UuidV5(RootNamespace, kind);

    /// <summary>RFC 4122 name-based UUID, version 5 (SHA-1); PostgreSQL's uuid_generate_v5 gives the same.</summary>
    public static Guid UuidV5(Guid ns, string name)
    {
        var nsBytes = ns.ToByteArray(bigEndian: true);
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var hash = SHA1.HashData([.. nsBytes, .. nameBytes]);
        var b = hash[..16];
        b[6] = (byte)((b[6] & 0x0F) | 0x50);
        b[8] = (byte)((b[8] & 0x3F) | 0x80);
        return new Guid(b, bigEndian: true);
    }

    internal static List<object> ParsePath(string path, int offset)
    {
        var p = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path == "$" ? "" : path;
        var parts = new List<object>();
        foreach (Match m in PathPart().Matches(p))
        {
            if (m.Groups["key"].Success && m.Groups["key"].Value.Length > 0)
            {
                parts.Add(m.Groups["key"].Value);
            }
            else
            {
                parts.Add(int.Parse(m.Groups["index"].Value, CultureInfo.InvariantCulture));
            }
        }

        if (string.Concat(PathPart().Matches(p).Select(m => m.Value)) != p || parts.Count == 0)
        {
            throw new ExpressionException($"'{path}' is not a JSON path (write key, a.b, a[0] or $.a.b)", offset);
        }

        return parts;
    }

    [GeneratedRegex(@"(?:^|\.)(?<key>[A-Za-z_][A-Za-z0-9_]*)|\[(?<index>\d+)\]")]
    private static partial Regex PathPart();

    private static Value JsonAt(Value doc, string path, bool asText)
    {
        if (doc is not JsonValueDoc d)
        {
            return Value.Null;
        }

        JsonNode? node;
        try
        {
            node = JsonNode.Parse(d.Document);
        }
        catch (JsonException e)
        {
            throw new MappingException($"not a JSON document: {e.Message}");
        }

        foreach (var part in ParsePath(path, 0))
        {
            node = (part, node) switch
            {
                (string key, JsonObject o) => o[key],
                (int index, JsonArray arr) => index < arr.Count ? arr[index] : null,
                _ => null,
            };
            if (node is null)
            {
                return Value.Null;
            }
        }

        if (node is null)
        {
            return Value.Null;
        }

        if (asText)
        {
            return node is System.Text.Json.Nodes.JsonValue v && v.GetValueKind() == JsonValueKind.String
                ? new TextValue(v.GetValue<string>(), SqlType.Text)
                : new TextValue(node.ToJsonString(JsonOptions), SqlType.Text);
        }

        return new JsonValueDoc(node.ToJsonString(JsonOptions), SqlType.Jsonb);
    }

    private static Value JsonSet(IReadOnlyList<Expr> a, IRow row)
    {
        var doc = a[0].Eval(row);
        JsonObject? obj = null;
        if (doc is JsonValueDoc d)
        {
            obj = JsonNode.Parse(d.Document) as JsonObject ?? throw new MappingException("json_set(): the document is not a JSON object");
        }

        for (var i = 1; i < a.Count; i += 2)
        {
            var key = AsText(a[i].Eval(row));
            var v = a[i + 1].Eval(row);
            if (v.IsNull)
            {
                continue;
            }

            obj ??= [];
            obj[key] = v switch
            {
                IntValue n => JsonValue.Create(n.V),
                DecimalValue n => JsonNode.Parse(n.V.ToString()),
                BoolValue b => JsonValue.Create(b.V),
                JsonValueDoc j => JsonNode.Parse(j.Document),
                _ => JsonValue.Create(AsText(v)),
            };
        }

        return obj is null ? Value.Null : new JsonValueDoc(obj.ToJsonString(JsonOptions), SqlType.Jsonb);
    }

    internal static BigInteger Pow10(int n) => BigInteger.Pow(10, n);
}
