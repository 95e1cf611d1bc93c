using System.Globalization;
using System.Text.RegularExpressions;

namespace Peeq.Cdc.Transform.Mapping.Language;

/// <summary>
/// Timestamp text in PostgreSQL's ISO output (<c>2024-01-01 12:00:00.123456+00</c>, <c>... BC</c>,
/// <c>infinity</c>), converted without losing a microsecond or a year outside .NET's range.
/// </summary>
public static partial class Timestamps
{
    [GeneratedRegex(@"^(?<date>\d{4,}-\d{2}-\d{2})[ T](?<time>\d{2}:\d{2}:\d{2})(?<frac>\.\d+)?(?<off>Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?(?<bc> BC)?$")]
    private static partial Regex Stamp();

    /// <summary>timestamptz text → timestamp (without zone) text, in UTC.</summary>
    public static string ToUtc(string text)
    {
        if (text is "infinity" or "-infinity")
        {
            return text;
        }

        var m = Stamp().Match(text);
        if (!m.Success)
        {
            throw new MappingException($"'{text}' is not a timestamp");
        }

        var off = m.Groups["off"].Value;
        var frac = m.Groups["frac"].Value;
        var bc = m.Groups["bc"].Value;
        if (off is "" or "Z" || OffsetSeconds(off) == 0)
        {
            return $"{m.Groups["date"].Value} {m.Groups["time"].Value}{frac}{bc}";
        }

        if (bc.Length > 0 || m.Groups["date"].Value.Length > 10)
        {
            throw new MappingException($"lossy cast: '{text}' has a non-UTC offset and a year outside 1-9999; it cannot be converted exactly");
        }

        var local = DateTime.ParseExact($"{m.Groups["date"].Value} {m.Groups["time"].Value}", "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.None);
        var utc = local.AddSeconds(-OffsetSeconds(off));
        return utc.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + frac;
    }

    /// <summary>timestamp text read as UTC → timestamptz text.</summary>
    public static string AsUtc(string text)
    {
        if (text is "infinity" or "-infinity")
        {
            return text;
        }

        var m = Stamp().Match(text);
        if (!m.Success || m.Groups["off"].Success && m.Groups["off"].Value.Length > 0)
        {
            throw new MappingException($"'{text}' is not a timestamp without time zone");
        }

        return $"{m.Groups["date"].Value} {m.Groups["time"].Value}{m.Groups["frac"].Value}+00{m.Groups["bc"].Value}";
    }

    private static int OffsetSeconds(string off)
    {
        var sign = off[0] == '-' ? -1 : 1;
        var digits = off[1..].Replace(":", "", StringComparison.Ordinal);
        var h = int.Parse(digits[..2], CultureInfo.InvariantCulture);
        var mi = digits.Length >= 4 ? int.Parse(digits[2..4], CultureInfo.InvariantCulture) : 0;
        var s = digits.Length >= 6 ? int.Parse(digits[4..6], CultureInfo.InvariantCulture) : 0;
        return sign * (h * 3600 + mi * 60 + s);
    }

    /// <summary>Microseconds since the epoch → PostgreSQL timestamp text (Debezium's MicroTimestamp).</summary>
    public static string FromEpochMicros(long micros, bool withZone)
    {
        var seconds = Math.DivRem(micros, 1_000_000L, out var frac);
        if (frac < 0)
        {
            frac += 1_000_000;
            seconds--;
        }

        var dt = DateTime.UnixEpoch.AddSeconds(seconds);
        var text = dt.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + Fraction(frac);
        return withZone ? text + "+00" : text;
    }

    /// <summary>Days since the epoch → date text (Debezium's Date).</summary>
    public static string FromEpochDays(int days) => DateOnly.FromDateTime(DateTime.UnixEpoch.AddDays(days)).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string Fraction(long micros) => micros == 0 ? "" : "." + micros.ToString("D6", CultureInfo.InvariantCulture).TrimEnd('0');

    /// <summary>An ISO-8601 zoned timestamp (Debezium's ZonedTimestamp: <c>2024-01-01T12:00:00.123456Z</c>) → timestamptz text in UTC.</summary>
    public static string FromZoned(string iso)
    {
        var m = Stamp().Match(iso);
        if (!m.Success)
        {
            throw new FormatException($"'{iso}' is not an ISO-8601 timestamp");
        }

        var utc = ToUtc(iso);
        return utc.EndsWith(" BC", StringComparison.Ordinal) ? utc[..^3] + "+00 BC" : utc + "+00";
    }
}
