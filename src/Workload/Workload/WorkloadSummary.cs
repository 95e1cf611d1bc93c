using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Peeq.Cdc.Workload.Live;

/// <summary>
/// Money the workload moved through wallet-db, exact to the last digit. Every movement changes the
/// sum of <c>balance_transaction.balance</c> by <see cref="Net"/>: credits and refunds add, debits and
/// wallet purchases subtract, transfers move money between two wallets in one transaction (net zero).
/// </summary>
public sealed record MoneyMoved(decimal Credits, decimal Refunds, decimal Debits, decimal Purchases, decimal Transfers)
{
    public static readonly MoneyMoved Zero = new(0, 0, 0, 0, 0);

    /// <summary>Into wallets from outside (credits and refunds).</summary>
    public decimal In => Credits + Refunds;

    /// <summary>Out of wallets (debits and wallet-paid purchases).</summary>
    public decimal Out => Debits + Purchases;

    /// <summary>The change in the sum of all balances.</summary>
    public decimal Net => In - Out;

    public MoneyMoved Plus(MoneyMoved o) => new(Credits + o.Credits, Refunds + o.Refunds, Debits + o.Debits, Purchases + o.Purchases, Transfers + o.Transfers);
}

/// <summary>Rows one table got from the workload, by operation.</summary>
public sealed record TableRows(string Database, string Table, long Inserted, long Updated, long Deleted);

/// <summary>What a workload run did: operations by kind, committed transactions per database, rows per table, money moved.</summary>
public sealed record WorkloadSummary(
    long Seed,
    long Operations,
    long Skipped,
    double ElapsedSeconds,
    IReadOnlyDictionary<string, long> OperationsByKind,
    IReadOnlyDictionary<string, long> TransactionsByDatabase,
    IReadOnlyList<TableRows> Rows,
    MoneyMoved Money)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    /// <summary>Committed database transactions (a purchase commits in up to three databases).</summary>
    public long Transactions => TransactionsByDatabase.Values.Sum();

    public TableRows RowsOf(string database, string table) =>
        Rows.FirstOrDefault(r => r.Database == database && r.Table == table) ?? new TableRows(database, table, 0, 0, 0);

    public string ToJson() => JsonSerializer.Serialize(new
    {
        Seed,
        Operations,
        Skipped,
        Transactions,
        ElapsedSeconds,
        OperationsByKind,
        TransactionsByDatabase,
        Rows,
        Money = new { Money.Credits, Money.Refunds, Money.Debits, Money.Purchases, Money.Transfers, Money.In, Money.Out, Money.Net },
    }, JsonOptions);

    public async Task WriteAsync(string path, CancellationToken ct)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        await File.WriteAllTextAsync(path, ToJson(), ct);
    }

    public void Print(TextWriter o)
    {
        var c = CultureInfo.InvariantCulture;
        o.WriteLine(string.Create(c, $"workload: seed {Seed}: {Operations:N0} operations ({Skipped:N0} found nothing to do), {Transactions:N0} transactions committed, {ElapsedSeconds:0.0} s"));
        o.WriteLine();
        o.WriteLine("operations:");
        foreach (var (kind, n) in OperationsByKind.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            o.WriteLine(string.Create(c, $"  {kind,-36} {n,10:N0}"));
        }

        o.WriteLine("transactions per database:");
        foreach (var (db, n) in TransactionsByDatabase.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            o.WriteLine(string.Create(c, $"  {db,-36} {n,10:N0}"));
        }

        o.WriteLine(string.Create(c, $"{"rows per table",-52} {"inserted",10} {"updated",10} {"deleted",10}"));
        foreach (var r in Rows)
        {
            o.WriteLine(string.Create(c, $"  {r.Database + "." + r.Table,-50} {r.Inserted,10:N0} {r.Updated,10:N0} {r.Deleted,10:N0}"));
        }

        o.WriteLine("money moved (wallet-db, exact):");
        o.WriteLine(string.Create(c, $"  credits   {Money.Credits,20}"));
        o.WriteLine(string.Create(c, $"  refunds   {Money.Refunds,20}"));
        o.WriteLine(string.Create(c, $"  debits    {Money.Debits,20}"));
        o.WriteLine(string.Create(c, $"  purchases {Money.Purchases,20}"));
        o.WriteLine(string.Create(c, $"  transfers {Money.Transfers,20}  (between wallets, net zero)"));
        o.WriteLine(string.Create(c, $"  net       {Money.Net,20}  (= change in the sum of balances)"));
    }
}
