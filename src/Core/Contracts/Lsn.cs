using System.Globalization;

namespace Peeq.Cdc.Contracts;

/// <summary>
/// A PostgreSQL write-ahead-log position. Comparable within one server only: LSNs of different
/// servers say nothing about each other's order.
/// </summary>
public readonly record struct Lsn(ulong Value) : IComparable<Lsn>
{
    public static readonly Lsn Zero = new(0);

    public bool IsZero => Value == 0;

    public static Lsn Parse(string text)
    {
        if (!TryParse(text, out var lsn))
        {
            throw new FormatException($"'{text}' is not a PostgreSQL LSN (expected the form 16/B374D848).");
        }

        return lsn;
    }

    public static bool TryParse(ReadOnlySpan<char> text, out Lsn lsn)
    {
        lsn = default;
        var slash = text.IndexOf('/');
        if (slash <= 0 || slash == text.Length - 1)
        {
            return false;
        }

        if (!uint.TryParse(text[..slash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hi)
            || !uint.TryParse(text[(slash + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var lo))
        {
            return false;
        }

        lsn = new Lsn(((ulong)hi << 32) | lo);
        return true;
    }

    public int CompareTo(Lsn other) => Value.CompareTo(other.Value);

    public static bool operator <(Lsn a, Lsn b) => a.Value < b.Value;
    public static bool operator >(Lsn a, Lsn b) => a.Value > b.Value;
    public static bool operator <=(Lsn a, Lsn b) => a.Value <= b.Value;
    public static bool operator >=(Lsn a, Lsn b) => a.Value >= b.Value;

    public static Lsn Max(Lsn a, Lsn b) => a >= b ? a : b;
    public static Lsn Min(Lsn a, Lsn b) => a <= b ? a : b;

    /// <summary>Bytes between two positions (zero when <paramref name="older"/> is ahead).</summary>
    public static ulong Distance(Lsn newer, Lsn older) => newer.Value > older.Value ? newer.Value - older.Value : 0;

    public override string ToString() => $"{Value >> 32:X}/{Value & 0xFFFFFFFF:X}";

    /// <summary>Writes <see cref="ToString"/>'s text as UTF-8 into <paramref name="utf8"/> (at least 17 bytes); returns its length.</summary>
    public int FormatUtf8(Span<byte> utf8)
    {
        ((uint)(Value >> 32)).TryFormat(utf8, out var hi, "X", CultureInfo.InvariantCulture);
        utf8[hi] = (byte)'/';
        ((uint)(Value & 0xFFFFFFFF)).TryFormat(utf8[(hi + 1)..], out var lo, "X", CultureInfo.InvariantCulture);
        return hi + 1 + lo;
    }
}
