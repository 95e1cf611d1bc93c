using System.Text.RegularExpressions;

namespace Peeq.Cdc.Workload;

/// <summary>
/// One of the 22 legacy databases: its key (the seed's name without "peeq-" and "-db"), the DDL in
/// <c>schemas/legacy/&lt;key&gt;.sql</c>, and the domain target it is consolidated into.
/// </summary>
public sealed record LegacyDatabase(string Key, string Domain, IReadOnlyList<string> FinancialTables, IReadOnlyList<string> SensitiveColumns)
{
    /// <summary>The target database of the domain (peeq_users, peeq_media, ...).</summary>
    public string TargetDatabase => "peeq_" + Domain;

    /// <summary>The database name on a server: <c>&lt;prefix&gt;&lt;key with '-' as '_'&gt;</c> (legacy_group_profile).</summary>
    public string DatabaseName(string prefix) => prefix + Key.Replace('-', '_');

    /// <summary>The DDL of <c>schemas/legacy/&lt;key&gt;.sql</c>, embedded in this assembly.</summary>
    public string Schema => LegacyCatalog.ReadSchema(Key);

    /// <summary>The tables the DDL creates, in file order (all in <c>public</c>).</summary>
    public IReadOnlyList<string> Tables => LegacyCatalog.TablesOf(Key);
}

/// <summary>The 22 legacy databases of the seed, in the seed's order, with their targets.</summary>
public static partial class LegacyCatalog
{
    private static readonly Dictionary<string, IReadOnlyList<string>> TableCache = [];

    public static readonly IReadOnlyList<string> Domains = ["users", "media", "commerce", "events", "platform", "encryption"];

    public static readonly IReadOnlyList<LegacyDatabase> Databases =
    [
        new("celebrity", "users", [], []),
        new("fan", "users", [], []),
        new("group-profile", "users", [], []),
        new("content", "media", [], []),
        new("media", "media", [], []),
        new("shoutout", "media", [], []),
        new("mux-livestream", "media", [], []),
        new("stripe", "commerce", [], []),
        new("subscriptions", "commerce", [], []),
        new("wallet", "commerce", ["balance_transaction", "create_transaction", "create_transaction_related_transactions"], []),
        new("transaction", "commerce", ["transactions"], []),
        new("inventory", "commerce", ["inventory_item", "inventory_item_price_history", "inventory_item_quantity_history"], []),
        new("broadcast", "events", [], []),
        new("stream", "events", [], []),
        new("onsite-event", "events", [], []),
        new("class-catalog", "events", [], []),
        new("notification-service", "platform", [], []),
        new("message-board", "platform", [], []),
        new("sse", "platform", [], []),
        new("tags", "platform", [], []),
        new("encryption", "encryption", [], ["vault_namespaces.private_key", "vault_secrets.value"]),
        new("dwolla", "encryption", [], ["vault_namespaces.private_key", "vault_secrets.value"]),
    ];

    public static LegacyDatabase Get(string key) => Databases.FirstOrDefault(d => d.Key == key)
        ?? throw new ArgumentException($"'{key}' is not a legacy database; known: {string.Join(", ", Databases.Select(d => d.Key))}", nameof(key));

    internal static string ReadSchema(string key)
    {
        using var stream = typeof(LegacyCatalog).Assembly.GetManifestResourceStream($"legacy/{key}.sql")
            ?? throw new InvalidOperationException($"schemas/legacy/{key}.sql is not embedded in {typeof(LegacyCatalog).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    internal static IReadOnlyList<string> TablesOf(string key)
    {
        lock (TableCache)
        {
            if (!TableCache.TryGetValue(key, out var tables))
            {
                tables = CreateTable().Matches(ReadSchema(key)).Select(m => m.Groups[1].Value).ToList();
                TableCache[key] = tables;
            }

            return tables;
        }
    }

    [GeneratedRegex(@"^CREATE TABLE (\w+)", RegexOptions.Multiline)]
    private static partial Regex CreateTable();
}
