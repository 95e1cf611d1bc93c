using System.Text;

namespace Peeq.Cdc.Contracts;

/// <summary>
/// A table name as the catalog knows it (unquoted, case preserved). <see cref="ToString"/> gives the
/// readable form <c>schema.table</c>; <see cref="Quoted"/> gives SQL that is safe whatever the name
/// contains (quotes, semicolons, unicode).
/// </summary>
public readonly record struct TableId(string Schema, string Name) : IComparable<TableId>
{
    /// <summary>
    /// Parses <c>table</c>, <c>schema.table</c> or the quoted forms <c>"My Schema"."Order ""items"""</c>.
    /// An unquoted name is taken as written (no case folding), because config names what the
    /// catalog says.
    /// </summary>
    public static TableId Parse(string text, string defaultSchema = "public")
    {
        if (!TryParse(text, defaultSchema, out var id, out var error))
        {
            throw new FormatException(error);
        }

        return id;
    }

    public static bool TryParse(string text, string defaultSchema, out TableId id, out string error)
    {
        id = default;
        error = "";
        var parts = new List<string>(2);
        var i = 0;
        var sb = new StringBuilder();
        while (i <= text.Length)
        {
            if (i < text.Length && text[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= text.Length)
                    {
                        error = $"table name '{text}' has an unterminated quote";
                        return false;
                    }

                    if (text[i] == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"')
                        {
                            sb.Append('"');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    sb.Append(text[i++]);
                }

                if (i < text.Length && text[i] != '.')
                {
                    error = $"table name '{text}' has text after a closing quote";
                    return false;
                }
            }
            else
            {
                while (i < text.Length && text[i] != '.')
                {
                    sb.Append(text[i++]);
                }
            }

            parts.Add(sb.ToString());
            sb.Clear();
            if (i >= text.Length)
            {
                break;
            }

            i++; // the dot
        }

        if (parts.Count is < 1 or > 2 || parts.Any(p => p.Length == 0))
        {
            error = $"'{text}' is not a table name (expected table or schema.table; quote names that contain dots)";
            return false;
        }

        id = parts.Count == 1 ? new TableId(defaultSchema, parts[0]) : new TableId(parts[0], parts[1]);
        return true;
    }

    public string Quoted => $"{Sql.QuoteIdent(Schema)}.{Sql.QuoteIdent(Name)}";

    public int CompareTo(TableId other)
    {
        var c = string.CompareOrdinal(Schema, other.Schema);
        return c != 0 ? c : string.CompareOrdinal(Name, other.Name);
    }

    public override string ToString() => $"{Schema}.{Name}";
}
