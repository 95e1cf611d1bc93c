using System.Globalization;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Reconciler.Values;

/// <summary>How one key column is ordered, identically in SQL (on both sides) and in C#.</summary>
public enum KeySort
{
    /// <summary>int2/int4/int8: numeric order.</summary>
    Integer,
    /// <summary>Everything else: the value's text in byte order (COLLATE "C", code point order in C#). uuid's own order is the same.</summary>
    Text,
}

/// <summary>
/// The order in which both sides of a comparison are streamed. PostgreSQL and C# must agree on it
/// exactly, so it avoids collations: integers by value, uuids natively (whose byte order is their text
/// order), everything else by its text output under COLLATE "C" (UTF-8 byte order, which is code point
/// order).
/// </summary>
public static class KeyOrder
{
    public static KeySort SortOf(PgType type) => type.Kind == ValueKind.Integer ? KeySort.Integer : KeySort.Text;

    /// <summary>The ORDER BY expression for a source column.</summary>
    public static string SourceExpression(string column, PgType type) =>
        SortOf(type) == KeySort.Integer || type.Name == "uuid"
            ? Sql.QuoteIdent(column)
            : $"{Sql.QuoteIdent(column)}::text COLLATE \"C\"";

    /// <summary>The ORDER BY expression for the same column read back from a lineage origin key (jsonb).</summary>
    public static string OriginKeyExpression(string alias, string column, PgType type) =>
        SortOf(type) == KeySort.Integer
            ? $"({alias}.origin_key->>{Sql.QuoteLiteral(column)})::bigint"
            : $"({alias}.origin_key->>{Sql.QuoteLiteral(column)}) COLLATE \"C\"";

    /// <summary>The same order over plain text values (balance group keys, reference values): byte order.</summary>
    public static int Compare(string? a, string? b, KeySort sort)
    {
        if (a is null || b is null)
        {
            // NULLs sort last, as PostgreSQL's ascending order puts them.
            return a is null ? (b is null ? 0 : 1) : -1;
        }

        if (sort == KeySort.Integer
            && long.TryParse(a, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var x)
            && long.TryParse(b, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var y))
        {
            return x.CompareTo(y);
        }

        return CompareCodePoints(a, b);
    }

    public static int Compare(IReadOnlyList<string?> a, IReadOnlyList<string?> b, IReadOnlyList<KeySort> sorts)
    {
        for (var i = 0; i < sorts.Count; i++)
        {
            var c = Compare(a[i], b[i], sorts[i]);
            if (c != 0)
            {
                return c;
            }
        }

        return 0;
    }

    /// <summary>Code point order (what UTF-8 byte order gives), not UTF-16 code unit order.</summary>
    public static int CompareCodePoints(string a, string b)
    {
        var n = Math.Min(a.Length, b.Length);
        for (var i = 0; i < n; i++)
        {
            var x = a[i];
            var y = b[i];
            if (x == y)
            {
                continue;
            }

            // Surrogates (U+D800..DFFF) encode code points above U+FFFF: move them above U+E000..FFFF.
            return Fix(x).CompareTo(Fix(y));
        }

        return a.Length.CompareTo(b.Length);
    }

    private static int Fix(char c) => c >= 0xD800 ? (c >= 0xE000 ? c - 0x800 : c + 0x2000) : c;
}
