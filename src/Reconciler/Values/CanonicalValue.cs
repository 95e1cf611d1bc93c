using System.Globalization;
using System.Text;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Reconciler.Values;

/// <summary>
/// The canonical text of a value of a target column: what PostgreSQL itself prints for the value
/// once stored in a column of that type, computed in C# from either side's text. Expected values
/// (the text the Sink would write, from the mapping's JSON) and actual values (the target's output)
/// compare equal exactly when PostgreSQL would store the same value. Where a type prints one value
/// in several ways (numeric scale), the canonical form is the value itself (trailing zeros dropped),
/// so a rounding on the way in is a difference, never hidden.
/// </summary>
public static class CanonicalValue
{
    /// <summary>True when the two texts denote the same stored value of <paramref name="type"/>.</summary>
    public static bool Equal(string? expected, string? actual, PgType type, out string? canonicalExpected)
    {
        canonicalExpected = Of(expected, type);
        if (canonicalExpected == actual)
        {
            return true;
        }

        if (canonicalExpected is null || actual is null)
        {
            return false;
        }

        if (canonicalExpected == Of(actual, type))
        {
            return true;
        }

        // json keeps its text verbatim; two documents that differ only in layout are still the same data.
        return type.Kind == ValueKind.Json && JsonbText.TryCanonical(canonicalExpected, out var a) && JsonbText.TryCanonical(actual, out var b) && a == b;
    }

    /// <summary>The canonical text; a text the type could not read is returned unchanged (and so differs).</summary>
    public static string? Of(string? text, PgType type)
    {
        if (text is null)
        {
            return null;
        }

        switch (type.Kind)
        {
            case ValueKind.Integer:
                return long.TryParse(text.AsSpan().Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)
                    ? l.ToString(CultureInfo.InvariantCulture)
                    : text;
            case ValueKind.Boolean:
                return text.Trim().ToLowerInvariant() switch
                {
                    "t" or "true" or "y" or "yes" or "on" or "1" => "t",
                    "f" or "false" or "n" or "no" or "off" or "0" => "f",
                    _ => text,
                };
            case ValueKind.Float:
                return Float(text, type.Oid == 700);
            case ValueKind.Decimal:
                return ExactDecimal.TryParse(text, out var d) ? d.Normalize().ToString() : text;
            case ValueKind.Json:
                return type.Oid == 3802 && JsonbText.TryCanonical(text, out var jsonb) ? jsonb : text;
            case ValueKind.Bytes:
                try
                {
                    return ValueCodec.EncodeByteaHex(ValueCodec.DecodeByteaHex(text));
                }
                catch (FormatException)
                {
                    return text;
                }

            case ValueKind.Array when type.Element is not null:
                try
                {
                    var sb = new StringBuilder(text.Length);
                    WriteArray(sb, PgArrayLiteral.Parse(text, type.Delimiter), type.Element, type.Delimiter);
                    return sb.ToString();
                }
                catch (FormatException)
                {
                    return text;
                }

            default:
                return type.Name switch
                {
                    "uuid" => Guid.TryParse(text, out var g) ? g.ToString("D") : text,
                    "timestamp" => Timestamps.Canonical(text, withZone: false) ?? text,
                    "timestamptz" => Timestamps.Canonical(text, withZone: true) ?? text,
                    "bpchar" => text.TrimEnd(' '),
                    _ => text,
                };
        }
    }

    private static string Float(string text, bool single)
    {
        var t = text.Trim();
        if (t is "NaN" or "Infinity" or "-Infinity")
        {
            return t;
        }

        if (single)
        {
            return float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f.ToString("R", CultureInfo.InvariantCulture) : text;
        }

        return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v.ToString("R", CultureInfo.InvariantCulture) : text;
    }

    /// <summary>Writes an array the way PostgreSQL's array_out does, with canonical elements.</summary>
    private static void WriteArray(StringBuilder sb, List<object?> items, PgType element, char delimiter)
    {
        sb.Append('{');
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(delimiter);
            }

            switch (items[i])
            {
                case null:
                    sb.Append("NULL");
                    break;
                case List<object?> nested:
                    WriteArray(sb, nested, element, delimiter);
                    break;
                case string s:
                    var value = Of(s, element) ?? "";
                    if (NeedsQuotes(value, delimiter))
                    {
                        sb.Append('"');
                        foreach (var c in value)
                        {
                            if (c is '"' or '\\')
                            {
                                sb.Append('\\');
                            }

                            sb.Append(c);
                        }

                        sb.Append('"');
                    }
                    else
                    {
                        sb.Append(value);
                    }

                    break;
            }
        }

        sb.Append('}');
    }

    private static bool NeedsQuotes(string value, char delimiter)
    {
        if (value.Length == 0 || value.Equals("NULL", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        foreach (var c in value)
        {
            if (c == delimiter || c is '{' or '}' or '"' or '\\' or ' ' or '\t' or '\n' or '\r' or '\v' or '\f')
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>PostgreSQL's ISO timestamp output (DateStyle ISO, TimeZone UTC), from any ISO-8601 input.</summary>
internal static class Timestamps
{
    /// <summary>
    /// Canonical output for timestamp (the zone of the input, if any, is ignored, as PostgreSQL does) or
    /// timestamptz (converted to UTC, printed with +00). Null when the text is not a plain AD timestamp.
    /// </summary>
    public static string? Canonical(string text, bool withZone)
    {
        var s = text.Trim();
        if (s.Length < 10 || s.EndsWith(" BC", StringComparison.Ordinal))
        {
            return null;
        }

        if (!int.TryParse(s.AsSpan(0, 4), NumberStyles.None, CultureInfo.InvariantCulture, out var year) || s[4] != '-'
            || !int.TryParse(s.AsSpan(5, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var month) || s[7] != '-'
            || !int.TryParse(s.AsSpan(8, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var day))
        {
            return null;
        }

        int hour = 0, minute = 0, second = 0;
        long ticks = 0;
        var i = 10;
        if (i < s.Length && (s[i] == ' ' || s[i] == 'T'))
        {
            i++;
            if (i + 5 > s.Length || !int.TryParse(s.AsSpan(i, 2), NumberStyles.None, CultureInfo.InvariantCulture, out hour) || s[i + 2] != ':'
                || !int.TryParse(s.AsSpan(i + 3, 2), NumberStyles.None, CultureInfo.InvariantCulture, out minute))
            {
                return null;
            }

            i += 5;
            if (i < s.Length && s[i] == ':')
            {
                if (i + 3 > s.Length || !int.TryParse(s.AsSpan(i + 1, 2), NumberStyles.None, CultureInfo.InvariantCulture, out second))
                {
                    return null;
                }

                i += 3;
                if (i < s.Length && s[i] == '.')
                {
                    var start = ++i;
                    while (i < s.Length && char.IsAsciiDigit(s[i]))
                    {
                        i++;
                    }

                    var fraction = s[start..i];
                    if (fraction.Length is 0 or > 6)
                    {
                        return null;
                    }

                    ticks = long.Parse(fraction.PadRight(7, '0'), CultureInfo.InvariantCulture);
                }
            }
        }

        var offset = TimeSpan.Zero;
        if (i < s.Length)
        {
            var zone = s[i..].Trim();
            if (zone is "Z" or "z" or "UTC" or "+00" or "-00")
            {
                offset = TimeSpan.Zero;
            }
            else if (zone.Length >= 3 && zone[0] is '+' or '-')
            {
                var body = zone[1..].Replace(":", "", StringComparison.Ordinal);
                if (body.Length is not (2 or 4 or 6) || !body.All(char.IsAsciiDigit))
                {
                    return null;
                }

                var h = int.Parse(body[..2], CultureInfo.InvariantCulture);
                var m = body.Length >= 4 ? int.Parse(body[2..4], CultureInfo.InvariantCulture) : 0;
                var sec = body.Length == 6 ? int.Parse(body[4..6], CultureInfo.InvariantCulture) : 0;
                offset = new TimeSpan(h, m, sec);
                if (zone[0] == '-')
                {
                    offset = -offset;
                }
            }
            else
            {
                return null;
            }
        }

        DateTime value;
        try
        {
            value = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified).AddTicks(ticks);
        }
        catch (ArgumentOutOfRangeException)
        {
            return null;
        }

        if (withZone)
        {
            value -= offset;
        }

        var sb = new StringBuilder(32);
        sb.Append(value.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
        var micro = value.Ticks % TimeSpan.TicksPerSecond / 10;
        if (micro != 0)
        {
            sb.Append('.').Append(micro.ToString("D6", CultureInfo.InvariantCulture).TrimEnd('0'));
        }

        if (withZone)
        {
            sb.Append("+00");
        }

        return sb.ToString();
    }
}
