namespace Peeq.Cdc.Contracts;

/// <summary>SQL text helpers. Values are always parameters; only identifiers pass through here.</summary>
public static class Sql
{
    /// <summary>Quotes an identifier for PostgreSQL, doubling embedded quotes.</summary>
    public static string QuoteIdent(string identifier)
    {
        ArgumentException.ThrowIfNullOrEmpty(identifier);
        if (identifier.Contains('\0'))
        {
            throw new ArgumentException("An identifier cannot contain a NUL character.", nameof(identifier));
        }

        return "\"" + identifier.Replace("\"", "\"\"") + "\"";
    }

    /// <summary>Quotes a string literal (for DDL where parameters are not allowed, e.g. publication options).</summary>
    public static string QuoteLiteral(string value)
    {
        if (value.Contains('\0'))
        {
            throw new ArgumentException("A literal cannot contain a NUL character.", nameof(value));
        }

        return "'" + value.Replace("'", "''") + "'";
    }
}
