using Npgsql;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>Sorts target errors: a row that can never apply is parked; anything else is retried.</summary>
public static class SinkErrors
{
    /// <summary>
    /// Data exceptions (22), integrity violations (23), undefined or mistyped objects (42) are about
    /// the row or the mapping, not the moment: retrying cannot help, so the row is parked.
    /// </summary>
    public static bool IsRowError(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState.StartsWith("22", StringComparison.Ordinal)
            || pg.SqlState.StartsWith("23", StringComparison.Ordinal)
            || pg.SqlState.StartsWith("42", StringComparison.Ordinal) && pg.SqlState != "42501",
        SealedValueException or FormatException or System.Security.Cryptography.CryptographicException => true,
        _ => false,
    };

    public static string Describe(Exception e) => e switch
    {
        // Never the Detail: it can quote row values, and rows can hold secrets.
        PostgresException pg => $"{pg.MessageText} [SQLSTATE {pg.SqlState}]",
        _ => e.Message,
    };
}
