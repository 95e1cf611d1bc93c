using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Transform.Mapping.Language;

/// <summary>
/// Between event values (docs/contracts.md, "Values") and the language's values: reading a source
/// column by its catalog type, and writing a value into a target column, checking that it fits exactly
/// (length, range, scale): what does not fit raises <see cref="MappingException"/> ("lossy cast: ...").
/// </summary>
public static class ValueJson
{
    public static Value Read(JsonNode? node, SqlType type, string column)
    {
        if (node is null)
        {
            return Value.Null;
        }

        if (node is JsonObject o && o.ContainsKey("$enc"))
        {
            return new SealedValue(node, column);
        }

        try
        {
            switch (type.Kind)
            {
                case SqlKind.Bool:
                    return new BoolValue(node.GetValue<bool>());
                case SqlKind.Int2 or SqlKind.Int4 or SqlKind.Int8:
                    return new IntValue(long.Parse(node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : node.ToJsonString(), CultureInfo.InvariantCulture));
                case SqlKind.Numeric:
                    var text = node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : node.ToJsonString();
                    return ExactDecimal.TryParse(text, out var d) ? new DecimalValue(d) : new TextValue(text, type);
                case SqlKind.Float4 or SqlKind.Float8:
                    return new FloatValue(node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : node.ToJsonString());
                case SqlKind.Json or SqlKind.Jsonb:
                    return new JsonValueDoc(node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : node.ToJsonString(Functions.JsonOptions), type);
                case SqlKind.Array:
                    var arr = node as JsonArray ?? throw new MappingException($"column {column}: expected an array, got {Kind(node)}");
                    return new ArrayValue(arr.Select(item => Read(item, type.Element!, column)).ToList(), type.Element!);
                default:
                    return new TextValue(node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : node.ToJsonString(), type);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
        {
            throw new MappingException($"column {column}: {Kind(node)} value does not fit its type {type}");
        }
    }

    private static string Kind(JsonNode node) => node.GetValueKind().ToString().ToLowerInvariant();

    /// <summary>The event form of <paramref name="v"/> for a target column of <paramref name="type"/>.</summary>
    public static JsonNode? Emit(Value v, SqlType type, string column)
    {
        switch (v)
        {
            case NullValue:
                return null;
            case SealedValue s:
                return s.Node.DeepClone();
            case LookupValue l:
                var inner = new JsonObject { ["kind"] = l.Kind, ["key"] = l.Key };
                if (l.Target is not null)
                {
                    inner["target"] = l.Target;
                }

                return new JsonObject { ["$lookup"] = inner };
        }

        switch (type.Kind)
        {
            case SqlKind.Bool:
                return v is BoolValue b ? JsonValue.Create(b.V) : throw Mismatch(v, type, column);
            case SqlKind.Int2 or SqlKind.Int4 or SqlKind.Int8:
                var n = v switch
                {
                    IntValue i => (BigInteger)i.V,
                    DecimalValue dv when dv.V.AsWhole() is { } w => w,
                    DecimalValue dv => throw new MappingException($"lossy cast: {column} = {dv.V} has a fractional part; {type} would round it"),
                    _ => throw Mismatch(v, type, column),
                };
                var (min, max) = type.Kind switch
                {
                    SqlKind.Int2 => ((BigInteger)short.MinValue, (BigInteger)short.MaxValue),
                    SqlKind.Int4 => (int.MinValue, int.MaxValue),
                    _ => (long.MinValue, long.MaxValue),
                };
                if (n < min || n > max)
                {
                    throw new MappingException($"lossy cast: {column} = {n} is beyond the range of {type}");
                }

                return JsonValue.Create((long)n);
            case SqlKind.Numeric:
                ExactDecimal? d = v switch
                {
                    IntValue i => ExactDecimal.FromLong(i.V),
                    DecimalValue x => x.V,
                    TextValue t when t.Type.Kind == SqlKind.Numeric => null,
                    _ => throw Mismatch(v, type, column),
                };
                if (d is null)
                {
                    return JsonValue.Create(((TextValue)v).V); // NaN / Infinity into numeric: PostgreSQL keeps them
                }

                if (type.Scale is { } scale)
                {
                    var norm = d.Value.Normalize();
                    if (norm.Scale > scale)
                    {
                        throw new MappingException($"lossy cast: {column} = {d.Value} has more than {scale} decimal digits; {type} would round it");
                    }

                    if (type.Precision is { } p && norm.IntegerDigits > p - scale)
                    {
                        throw new MappingException($"lossy cast: {column} = {d.Value} does not fit {type}");
                    }
                }

                return JsonValue.Create(d.Value.ToString());
            case SqlKind.Float4 or SqlKind.Float8:
                return v switch
                {
                    FloatValue f when double.TryParse(f.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out _) && f.Text is not ("NaN" or "Infinity" or "-Infinity") => JsonNode.Parse(f.Text),
                    FloatValue f => JsonValue.Create(f.Text),
                    IntValue i => JsonValue.Create(i.V),
                    _ => throw Mismatch(v, type, column),
                };
            case SqlKind.Json or SqlKind.Jsonb:
                return v is JsonValueDoc j ? JsonValue.Create(j.Document) : throw Mismatch(v, type, column);
            case SqlKind.Array:
                if (v is not ArrayValue a)
                {
                    throw Mismatch(v, type, column);
                }

                var arr = new JsonArray();
                foreach (var item in a.Items)
                {
                    arr.Add(Emit(item, type.Element!, column));
                }

                return arr;
            case SqlKind.Varchar or SqlKind.Char or SqlKind.Text:
                var s = Functions.AsText(v);
                if (type.Length is { } len)
                {
                    var chars = s.EnumerateRunes().Count();
                    if (chars > len)
                    {
                        throw new MappingException($"lossy cast: {column} is {chars} characters long; {type} would cut it");
                    }
                }

                return JsonValue.Create(s);
            case SqlKind.Uuid:
                return v is TextValue { Type.Kind: SqlKind.Uuid } u ? JsonValue.Create(u.V) : throw Mismatch(v, type, column);
            default:
                return v is TextValue t2 ? JsonValue.Create(t2.V) : throw Mismatch(v, type, column);
        }
    }

    private static MappingException Mismatch(Value v, SqlType type, string column) =>
        new($"column {column}: a {v.GetType().Name.Replace("Value", "", StringComparison.Ordinal).ToLowerInvariant()} value cannot be written as {type}");

    /// <summary>Canonical text of a target key value (for identity map keys and comparisons).</summary>
    public static string KeyText(JsonNode? node) => ValueCodec.KeyText(node);
}
