using System.Text;

namespace Peeq.Cdc.Contracts;

/// <summary>
/// Parses and writes PostgreSQL array literals (<c>{a,"b c",NULL,{1,2}}</c>), the text form that
/// pgoutput sends and COPY reads.
/// </summary>
public static class PgArrayLiteral
{
    /// <summary>An element: a string (null for SQL NULL) or a nested list.</summary>
    public static List<object?> Parse(string text, char delimiter = ',')
    {
        var i = 0;
        // Arrays with explicit bounds look like [1:2]={a,b}; the bounds carry nothing we keep.
        if (text.Length > 0 && text[0] == '[')
        {
            var eq = text.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                throw new FormatException($"array literal with bounds but no '=': {Truncate(text)}");
            }

            i = eq + 1;
        }

        var result = ParseArray(text, ref i, delimiter);
        if (i != text.Length)
        {
            throw new FormatException($"unexpected text after array literal: {Truncate(text)}");
        }

        return result;
    }

    private static List<object?> ParseArray(string s, ref int i, char delim)
    {
        if (i >= s.Length || s[i] != '{')
        {
            throw new FormatException($"array literal must start with '{{': {Truncate(s)}");
        }

        i++;
        var list = new List<object?>();
        if (i < s.Length && s[i] == '}')
        {
            i++;
            return list;
        }

        var sb = new StringBuilder();
        while (true)
        {
            if (i >= s.Length)
            {
                throw new FormatException($"unterminated array literal: {Truncate(s)}");
            }

            if (s[i] == '{')
            {
                list.Add(ParseArray(s, ref i, delim));
            }
            else if (s[i] == '"')
            {
                i++;
                sb.Clear();
                while (true)
                {
                    if (i >= s.Length)
                    {
                        throw new FormatException($"unterminated quoted array element: {Truncate(s)}");
                    }

                    var c = s[i++];
                    if (c == '\\')
                    {
                        sb.Append(s[i++]);
                    }
                    else if (c == '"')
                    {
                        break;
                    }
                    else
                    {
                        sb.Append(c);
                    }
                }

                list.Add(sb.ToString());
            }
            else
            {
                sb.Clear();
                while (i < s.Length && s[i] != delim && s[i] != '}')
                {
                    if (s[i] == '\\')
                    {
                        i++;
                    }

                    sb.Append(s[i++]);
                }

                var raw = sb.ToString().Trim();
                list.Add(raw.Equals("NULL", StringComparison.OrdinalIgnoreCase) ? null : raw);
            }

            if (i >= s.Length)
            {
                throw new FormatException($"unterminated array literal: {Truncate(s)}");
            }

            if (s[i] == delim)
            {
                i++;
                continue;
            }

            if (s[i] == '}')
            {
                i++;
                return list;
            }

            throw new FormatException($"unexpected '{s[i]}' in array literal: {Truncate(s)}");
        }
    }

    /// <summary>Writes an element list as a literal, quoting every non-null element.</summary>
    public static void Write(StringBuilder sb, IEnumerable<object?> elements, char delimiter = ',')
    {
        sb.Append('{');
        var first = true;
        foreach (var e in elements)
        {
            if (!first)
            {
                sb.Append(delimiter);
            }

            first = false;
            switch (e)
            {
                case null:
                    sb.Append("NULL");
                    break;
                case IEnumerable<object?> nested when e is not string:
                    Write(sb, nested, delimiter);
                    break;
                default:
                    sb.Append('"');
                    foreach (var c in e.ToString()!)
                    {
                        if (c is '"' or '\\')
                        {
                            sb.Append('\\');
                        }

                        sb.Append(c);
                    }

                    sb.Append('"');
                    break;
            }
        }

        sb.Append('}');
    }

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "...";
}
