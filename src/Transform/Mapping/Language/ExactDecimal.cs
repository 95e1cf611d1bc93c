using System.Globalization;
using System.Numerics;
using System.Text;

namespace Peeq.Cdc.Transform.Mapping.Language;

/// <summary>
/// An exact decimal of any size: an unscaled integer and a scale (digits after the point), as
/// PostgreSQL's numeric keeps it. System.Decimal holds only 28-29 digits; a numeric(1000, 500) must
/// still be carried, compared and converted without a rounding step anywhere.
/// </summary>
public readonly record struct ExactDecimal(BigInteger Unscaled, int Scale) : IComparable<ExactDecimal>
{
    /// <summary>Parses PostgreSQL's numeric text (<c>-12.3400</c>, <c>1e5</c>). NaN and infinities are not numbers here.</summary>
    public static ExactDecimal Parse(string text)
    {
        if (!TryParse(text, out var d))
        {
            throw new FormatException($"'{(text.Length > 40 ? text[..40] + "..." : text)}' is not an exact decimal number");
        }

        return d;
    }

    public static bool TryParse(string text, out ExactDecimal value)
    {
        value = default;
        var s = text.Trim();
        if (s.Length == 0)
        {
            return false;
        }

        var exponent = 0;
        var e = s.IndexOfAny(['e', 'E']);
        if (e >= 0)
        {
            if (!int.TryParse(s.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent))
            {
                return false;
            }

            s = s[..e];
        }

        var negative = false;
        if (s[0] is '-' or '+')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        var dot = s.IndexOf('.', StringComparison.Ordinal);
        var intPart = dot < 0 ? s : s[..dot];
        var fracPart = dot < 0 ? "" : s[(dot + 1)..];
        if (intPart.Length + fracPart.Length == 0 || !intPart.All(char.IsAsciiDigit) || !fracPart.All(char.IsAsciiDigit))
        {
            return false;
        }

        var digits = BigInteger.Parse("0" + intPart + fracPart, CultureInfo.InvariantCulture);
        var scale = fracPart.Length - exponent;
        if (scale < 0)
        {
            digits *= BigInteger.Pow(10, -scale);
            scale = 0;
        }

        value = new ExactDecimal(negative ? -digits : digits, scale);
        return true;
    }

    public static ExactDecimal FromLong(long v) => new(v, 0);

    /// <summary>The same value at a larger scale (exact).</summary>
    public ExactDecimal Rescale(int scale) => scale >= Scale ? new ExactDecimal(Unscaled * BigInteger.Pow(10, scale - Scale), scale) : throw new ArgumentOutOfRangeException(nameof(scale));

    /// <summary>Drops trailing fractional zeros (the value is unchanged).</summary>
    public ExactDecimal Normalize()
    {
        var u = Unscaled;
        var s = Scale;
        while (s > 0 && u % 10 == 0)
        {
            u /= 10;
            s--;
        }

        return new ExactDecimal(u, s);
    }

    public bool IsWhole => Normalize().Scale == 0;

    public static ExactDecimal operator +(ExactDecimal a, ExactDecimal b)
    {
        var s = Math.Max(a.Scale, b.Scale);
        return new ExactDecimal(a.Rescale(s).Unscaled + b.Rescale(s).Unscaled, s);
    }

    public static ExactDecimal operator -(ExactDecimal a, ExactDecimal b)
    {
        var s = Math.Max(a.Scale, b.Scale);
        return new ExactDecimal(a.Rescale(s).Unscaled - b.Rescale(s).Unscaled, s);
    }

    public static ExactDecimal operator *(ExactDecimal a, ExactDecimal b) => new(a.Unscaled * b.Unscaled, a.Scale + b.Scale);

    public static ExactDecimal operator -(ExactDecimal a) => new(-a.Unscaled, a.Scale);

    public int CompareTo(ExactDecimal other)
    {
        var s = Math.Max(Scale, other.Scale);
        return Rescale(s).Unscaled.CompareTo(other.Rescale(s).Unscaled);
    }

    /// <summary>The whole number this value is, or null when it has a fractional part.</summary>
    public BigInteger? AsWhole()
    {
        var n = Normalize();
        return n.Scale == 0 ? n.Unscaled : null;
    }

    /// <summary>Digits before the point (for numeric(p,s) precision checks).</summary>
    public int IntegerDigits
    {
        get
        {
            var whole = BigInteger.Abs(Unscaled) / BigInteger.Pow(10, Scale);
            return whole.IsZero ? 0 : whole.ToString(CultureInfo.InvariantCulture).Length;
        }
    }

    /// <summary>PostgreSQL's text form at this scale (<c>10.50</c>, <c>-0.0001</c>).</summary>
    public override string ToString()
    {
        var digits = BigInteger.Abs(Unscaled).ToString(CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        if (Unscaled.Sign < 0)
        {
            sb.Append('-');
        }

        if (Scale == 0)
        {
            return sb.Append(digits).ToString();
        }

        if (digits.Length <= Scale)
        {
            digits = new string('0', Scale - digits.Length + 1) + digits;
        }

        sb.Append(digits, 0, digits.Length - Scale).Append('.').Append(digits, digits.Length - Scale, Scale);
        return sb.ToString();
    }
}
