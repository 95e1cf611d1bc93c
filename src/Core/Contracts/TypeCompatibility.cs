using System.Globalization;
using System.Text.RegularExpressions;

namespace Peeq.Cdc.Contracts;

/// <summary>
/// Whether a column of one type can hold every value of another without loss, for the type names
/// <c>format_type</c> prints (<c>integer</c>, <c>numeric(12,2)</c>, <c>character varying(30)</c>,
/// <c>timestamp(3) without time zone</c>, <c>uuid[]</c>). Deliberately conservative: only the widenings
/// listed here are accepted (a wider integer or numeric, a longer or unlimited string, a finer timestamp,
/// real to double precision, the same for arrays); anything else, including every change of kind
/// (text to uuid, timestamp to timestamptz, json to jsonb), is not.
/// </summary>
public static partial class TypeCompatibility
{
    /// <summary>True when a column typed <paramref name="holder"/> can store every value of type <paramref name="values"/>.</summary>
    public static bool CanHold(string holder, string values)
    {
        if (string.Equals(holder, values, StringComparison.Ordinal))
        {
            return true;
        }

        var h = Parse(holder);
        var v = Parse(values);
        if (h is null || v is null || h.Value.Dimensions != v.Value.Dimensions)
        {
            return false;
        }

        var (hn, hm, _) = h.Value;
        var (vn, vm, _) = v.Value;
        if (IntegerDigits(vn) is { } digits)
        {
            if (IntegerDigits(hn) is { } holderDigits)
            {
                return holderDigits >= digits;
            }

            return hn == "numeric" && (hm.Length == 0 || hm.Length == 2 && hm[0] - hm[1] >= digits);
        }

        return (hn, vn) switch
        {
            ("double precision", "real" or "double precision") => true,
            ("numeric", "numeric") => hm.Length == 0 || vm.Length == 2 && hm.Length == 2 && hm[1] >= vm[1] && hm[0] - hm[1] >= vm[0] - vm[1],
            ("text", "text" or "character varying") => true,
            ("character varying", "text") => hm.Length == 0,
            ("character varying", "character varying") => hm.Length == 0 || vm.Length == 1 && hm[0] >= vm[0],
            ("character", "character") => vm.Length == 1 && hm.Length == 1 && hm[0] >= vm[0],
            ("timestamp without time zone", "timestamp without time zone")
                or ("timestamp with time zone", "timestamp with time zone")
                or ("time without time zone", "time without time zone")
                or ("time with time zone", "time with time zone") => Precision(hm) >= Precision(vm),
            _ => false,
        };
    }

    /// <summary>Decimal digits an integer type can need (bigint's 19), or null for other types.</summary>
    private static int? IntegerDigits(string name) => name switch
    {
        "smallint" => 5,
        "integer" => 10,
        "bigint" => 19,
        _ => null,
    };

    private static int Precision(int[] mods) => mods.Length == 1 ? mods[0] : 6;

    private static (string Name, int[] Mods, int Dimensions)? Parse(string type)
    {
        var m = TypeName().Match(type.Trim());
        if (!m.Success)
        {
            return null;
        }

        var name = (m.Groups["base"].Value.Trim() + " " + m.Groups["rest"].Value.Trim()).Trim();
        var mods = m.Groups["mods"].Success
            ? m.Groups["mods"].Value.Split(',').Select(x => int.Parse(x.Trim(), CultureInfo.InvariantCulture)).ToArray()
            : [];
        return (name, mods, m.Groups["arr"].Value.Length / 2);
    }

    // The base name is greedy: a lazy one split "integer" into "i" + "nteger", and no integer type matched.
    [GeneratedRegex(@"^(?<base>[^(\[]+)(\((?<mods>\d+(\s*,\s*\d+)?)\))?(?<rest>[^(\[]*)(?<arr>(\[\])*)$")]
    private static partial Regex TypeName();
}
