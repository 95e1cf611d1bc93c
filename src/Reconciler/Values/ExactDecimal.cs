using System.Globalization;
using System.Numerics;
using System.Text;

namespace Peeq.Cdc.Reconciler.Values;

/// <summary>
/// An exact decimal of any size: an integer <see cref="Unscaled"/> times 10^-<see cref="Scale"/>.
/// Sums of money are computed in this, never in binary floating point and never in
/// <see cref="decimal"/> (28 significant digits), so no total, however large, loses a digit.
/// </summary>
public readonly struct ExactDecimal : IEquatable<ExactDecimal>, IComparable<ExactDecimal>
{
    public static readonly ExactDecimal Zero = new(BigInteger.Zero, 0);

    public ExactDecimal(BigInteger unscaled, int scale)
    {
        if (scale < 0)
        {
            unscaled *= BigInteger.Pow(10, -scale);
            scale = 0;
        }

        Unscaled = unscaled;
        Scale = scale;
    }

    public BigInteger Unscaled { get; }

    public int Scale { get; }

    public bool IsZero => Unscaled.IsZero;

    public int Sign => Unscaled.Sign;

    /// <summary>Parses PostgreSQL numeric text (and integers): sign, digits, point, exponent. NaN and infinities are refused.</summary>
    public static ExactDecimal Parse(string text) =>
        TryParse(text, out var d) ? d : throw new FormatException($"'{(text.Length > 40 ? text[..40] + "..." : text)}' is not an exact decimal number");

    public static bool TryParse(ReadOnlySpan<char> text, out ExactDecimal value)
    {
        value = Zero;
        text = text.Trim();
        if (text.IsEmpty)
        {
            return false;
        }

        var i = 0;
        var negative = false;
        if (text[0] is '+' or '-')
        {
            negative = text[0] == '-';
            i++;
        }

        var digits = new StringBuilder(text.Length);
        var scale = 0;
        var seenDigit = false;
        var seenPoint = false;
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (c is >= '0' and <= '9')
            {
                digits.Append(c);
                seenDigit = true;
                if (seenPoint)
                {
                    scale++;
                }
            }
            else if (c == '.' && !seenPoint)
            {
                seenPoint = true;
            }
            else if (c is 'e' or 'E' && seenDigit)
            {
                if (!int.TryParse(text[(i + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exponent))
                {
                    return false;
                }

                scale -= exponent;
                break;
            }
            else
            {
                return false;
            }
        }

        if (!seenDigit)
        {
            return false;
        }

        var unscaled = BigInteger.Parse(digits.ToString(), NumberStyles.None, CultureInfo.InvariantCulture);
        value = new ExactDecimal(negative ? -unscaled : unscaled, scale);
        return true;
    }

    public static ExactDecimal operator +(ExactDecimal a, ExactDecimal b)
    {
        var scale = Math.Max(a.Scale, b.Scale);
        return new ExactDecimal(a.Rescale(scale) + b.Rescale(scale), scale);
    }

    public static ExactDecimal operator -(ExactDecimal a, ExactDecimal b) => a + new ExactDecimal(-b.Unscaled, b.Scale);

    public static ExactDecimal operator *(ExactDecimal a, ExactDecimal b) => new(a.Unscaled * b.Unscaled, a.Scale + b.Scale);

    public static bool operator ==(ExactDecimal a, ExactDecimal b) => a.Equals(b);

    public static bool operator !=(ExactDecimal a, ExactDecimal b) => !a.Equals(b);

    public static bool operator <(ExactDecimal a, ExactDecimal b) => a.CompareTo(b) < 0;

    public static bool operator >(ExactDecimal a, ExactDecimal b) => a.CompareTo(b) > 0;

    public static bool operator <=(ExactDecimal a, ExactDecimal b) => a.CompareTo(b) <= 0;

    public static bool operator >=(ExactDecimal a, ExactDecimal b) => a.CompareTo(b) >= 0;

    private BigInteger Rescale(int scale) => scale == Scale ? Unscaled : Unscaled * BigInteger.Pow(10, scale - Scale);

    public int CompareTo(ExactDecimal other)
    {
        var scale = Math.Max(Scale, other.Scale);
        return Rescale(scale).CompareTo(other.Rescale(scale));
    }

    public bool Equals(ExactDecimal other) => CompareTo(other) == 0;

    public override bool Equals(object? obj) => obj is ExactDecimal d && Equals(d);

    public override int GetHashCode() => Normalize().Unscaled.GetHashCode() ^ Normalize().Scale;

    /// <summary>The same value with trailing fractional zeros removed.</summary>
    public ExactDecimal Normalize()
    {
        var u = Unscaled;
        var s = Scale;
        while (s > 0 && !u.IsZero && u % 10 == 0)
        {
            u /= 10;
            s--;
        }

        return u.IsZero ? Zero : new ExactDecimal(u, s);
    }

    /// <summary>The same value written with exactly <paramref name="scale"/> decimals (never fewer than needed).</summary>
    public ExactDecimal WithScale(int scale)
    {
        var n = Normalize();
        return scale <= n.Scale ? n : new ExactDecimal(n.Rescale(scale), scale);
    }

    /// <summary>Plain decimal text, no exponent: <c>-1234.5600</c>.</summary>
    public override string ToString()
    {
        var digits = BigInteger.Abs(Unscaled).ToString(CultureInfo.InvariantCulture);
        if (Scale > 0)
        {
            digits = digits.PadLeft(Scale + 1, '0');
            digits = digits[..^Scale] + "." + digits[^Scale..];
        }

        return Unscaled.Sign < 0 ? "-" + digits : digits;
    }
}
