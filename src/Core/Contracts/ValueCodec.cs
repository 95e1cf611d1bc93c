using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Peeq.Cdc.Contracts;

/// <summary>
/// Converts between PostgreSQL's text form of a value and its JSON form in events, exactly in both
/// directions (docs/contracts.md, "Values"). Numeric stays decimal text, timestamps keep PostgreSQL's
/// ISO output to the microsecond, bytea is base64, arrays are JSON arrays.
/// </summary>
public static class ValueCodec
{
    /// <summary>Writes the PostgreSQL text <paramref name="text"/> of a value of <paramref name="type"/>.</summary>
    public static void WriteJson(Utf8JsonWriter w, PgType type, string text)
    {
        switch (type.Kind)
        {
            case ValueKind.Boolean:
                w.WriteBooleanValue(text is "t" or "true");
                break;
            case ValueKind.Integer:
                w.WriteRawValue(text, skipInputValidation: true);
                break;
            case ValueKind.Float:
                if (text is "NaN" or "Infinity" or "-Infinity")
                {
                    w.WriteStringValue(text);
                }
                else
                {
                    w.WriteRawValue(text, skipInputValidation: true);
                }

                break;
            case ValueKind.Bytes:
                w.WriteBase64StringValue(DecodeByteaHex(text));
                break;
            case ValueKind.Array when type.Element is not null:
                WriteArray(w, type.Element, PgArrayLiteral.Parse(text, type.Delimiter));
                break;
            default:
                w.WriteStringValue(text);
                break;
        }
    }

    /// <summary>
    /// Writes a value from its PostgreSQL text as UTF-8 bytes (pgoutput's own bytes): the same JSON as
    /// <see cref="WriteJson(Utf8JsonWriter, PgType, string)"/> with that text, without making a string first.
    /// Arrays and bytea are parsed, so they go through the string form.
    /// </summary>
    public static void WriteJson(Utf8JsonWriter w, PgType type, ReadOnlySpan<byte> utf8)
    {
        switch (type.Kind)
        {
            case ValueKind.Boolean:
                w.WriteBooleanValue(utf8.SequenceEqual("t"u8) || utf8.SequenceEqual("true"u8));
                break;
            case ValueKind.Integer:
                w.WriteRawValue(utf8, skipInputValidation: true);
                break;
            case ValueKind.Float:
                if (utf8.SequenceEqual("NaN"u8) || utf8.SequenceEqual("Infinity"u8) || utf8.SequenceEqual("-Infinity"u8))
                {
                    w.WriteStringValue(utf8);
                }
                else
                {
                    w.WriteRawValue(utf8, skipInputValidation: true);
                }

                break;
            case ValueKind.Bytes:
            case ValueKind.Array:
                WriteJson(w, type, Encoding.UTF8.GetString(utf8));
                break;
            default:
                if (System.Text.Unicode.Utf8.IsValid(utf8))
                {
                    w.WriteStringValue(utf8);
                }
                else
                {
                    // Not UTF-8 (a SQL_ASCII source): decoded as a string would be, invalid bytes replaced.
                    w.WriteStringValue(Encoding.UTF8.GetString(utf8));
                }

                break;
        }
    }

    private static void WriteArray(Utf8JsonWriter w, PgType element, List<object?> items)
    {
        w.WriteStartArray();
        foreach (var item in items)
        {
            switch (item)
            {
                case null:
                    w.WriteNullValue();
                    break;
                case List<object?> nested:
                    WriteArray(w, element, nested);
                    break;
                case string s:
                    WriteJson(w, element, s);
                    break;
            }
        }

        w.WriteEndArray();
    }

    /// <summary>
    /// The PostgreSQL text form of a JSON event value, for a column of <paramref name="type"/>;
    /// null for SQL NULL.
    /// </summary>
    public static string? ToPgText(JsonNode? value, PgType type)
    {
        if (value is null)
        {
            return null;
        }

        switch (value)
        {
            case JsonArray arr:
                var sb = new StringBuilder();
                PgArrayLiteral.Write(sb, ArrayElements(arr, type.Element ?? PgType.BuiltIn(25)), type.Delimiter);
                return sb.ToString();
            case JsonObject obj:
                // An object only appears where a json/jsonb value was produced by a mapping.
                return obj.ToJsonString();
            case JsonValue v:
                return ScalarText(v, type);
            default:
                throw new FormatException($"cannot convert {value.ToJsonString()} to {type.Name}");
        }
    }

    private static IEnumerable<object?> ArrayElements(JsonArray arr, PgType element)
    {
        foreach (var item in arr)
        {
            yield return item switch
            {
                null => null,
                JsonArray nested => ArrayElements(nested, element).ToList(),
                _ => ToPgText(item, element),
            };
        }
    }

    private static string ScalarText(JsonValue v, PgType type)
    {
        var kind = v.GetValueKind();
        switch (kind)
        {
            case JsonValueKind.True:
                return "t";
            case JsonValueKind.False:
                return "f";
            case JsonValueKind.Number:
                return v.ToJsonString();
            case JsonValueKind.String:
                var s = v.GetValue<string>();
                return type.Kind == ValueKind.Bytes ? EncodeByteaHex(Convert.FromBase64String(s)) : s;
            default:
                throw new FormatException($"cannot convert {v.ToJsonString()} to {type.Name}");
        }
    }

    public static byte[] DecodeByteaHex(string text)
    {
        if (text.StartsWith("\\x", StringComparison.Ordinal))
        {
            return Convert.FromHexString(text.AsSpan(2));
        }

        // The legacy "escape" output format (bytea_output = escape).
        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\')
            {
                if (text[i + 1] == '\\')
                {
                    bytes.Add((byte)'\\');
                    i++;
                }
                else
                {
                    bytes.Add(Convert.ToByte(text.Substring(i + 1, 3), 8));
                    i += 3;
                }
            }
            else
            {
                bytes.Add((byte)text[i]);
            }
        }

        return [.. bytes];
    }

    public static string EncodeByteaHex(ReadOnlySpan<byte> bytes) => "\\x" + Convert.ToHexStringLower(bytes);

    /// <summary>Canonical text of a key value, used to compare keys and name them in reports.</summary>
    public static string KeyText(JsonNode? value) => value switch
    {
        null => "NULL",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => value.ToJsonString(),
    };

    public static string FormatInvariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
