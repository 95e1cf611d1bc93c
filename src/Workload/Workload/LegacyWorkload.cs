using System.Diagnostics;
using Dapper;
using Npgsql;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Workload.Seeding;

namespace Peeq.Cdc.Workload.Live;

/// <summary>How the workload runs.</summary>
public sealed record WorkloadOptions
{
    /// <summary>Same seed, same number of operations, same starting data: the same writes.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Operations per second; 0 = as fast as the databases go. Pacing only: it never changes what is written.</summary>
    public double Rate { get; init; } = 50;

    /// <summary>Stop after this long (null: no limit).</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Stop after this many operations (null: no limit).</summary>
    public long? Operations { get; init; }

    /// <summary>
    /// The workload's clock: operation i happens at ClockStart + i seconds (plus jitter), not at the wall
    /// clock, so two runs write the same timestamps. Default: just after the seeded history ends.
    /// </summary>
    public DateTime ClockStart { get; init; } = new(2026, 1, 2, 0, 0, 0, DateTimeKind.Utc);
}

/// <summary>
/// Keeps writing to the legacy databases the way the legacy services do: follows and unfollows, purchases
/// (transaction-db row, inventory decrement with its history row, wallet debit), wallet credits, debits,
/// transfers and refunds (each in one transaction), profile edits with status history, price changes with
/// price history, deletions, and the everyday traffic of the other services.
/// One operation at a time, in order: for a given seed, starting data and number of operations, the
/// writes are the same whatever the rate (rows are chosen by key order from seeded random points, and
/// timestamps come from the workload's own clock).
/// </summary>
public sealed partial class LegacyWorkload(LegacyWorld world, WorkloadOptions options) : IAsyncDisposable
{
    private readonly Dictionary<string, NpgsqlConnection> _connections = [];
    private readonly Dictionary<(string Db, string Table), long[]> _rows = [];
    private readonly Dictionary<string, long> _transactions = [];
    private readonly Dictionary<string, long> _byKind = [];
    private readonly List<(string Db, string Table, int Op, long N)> _pendingRows = [];
    private readonly Lock _lock = new();
    private MoneyMoved _money = MoneyMoved.Zero;
    private MoneyMoved _pendingMoney = MoneyMoved.Zero;
    private long _operations;
    private long _skipped;

    /// <summary>Operations completed so far (for progress lines while it runs).</summary>
    public long Operations => Interlocked.Read(ref _operations);

    /// <summary>Transactions committed so far.</summary>
    public long Transactions
    {
        get
        {
            lock (_lock)
            {
                return _transactions.Values.Sum();
            }
        }
    }

    /// <summary>
    /// Runs until the duration or operation count is reached, or <paramref name="ct"/> is cancelled,
    /// and returns what it did. Cancellation stops between operations: an operation once started
    /// completes, so the summary always matches the databases.
    /// </summary>
    public async Task<WorkloadSummary> RunAsync(CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var interval = options.Rate > 0 ? TimeSpan.FromSeconds(1 / options.Rate) : TimeSpan.Zero;
        var next = clock.Elapsed;
        for (long i = 0; !ct.IsCancellationRequested; i++)
        {
            if (options.Operations is { } max && i >= max || options.Duration is { } d && clock.Elapsed >= d)
            {
                break;
            }

            await RunOperationAsync(i);
            Interlocked.Increment(ref _operations);
            if (interval > TimeSpan.Zero)
            {
                next += interval;
                var wait = next - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(wait, ct);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
                else if (wait < -TimeSpan.FromSeconds(1))
                {
                    next = clock.Elapsed; // behind: do not burst to catch up
                }
            }
        }

        return Summary(clock.Elapsed);
    }

    private WorkloadSummary Summary(TimeSpan elapsed)
    {
        lock (_lock)
        {
            var rows = _rows.OrderBy(r => r.Key.Db, StringComparer.Ordinal).ThenBy(r => r.Key.Table, StringComparer.Ordinal)
                .Select(r => new TableRows(r.Key.Db, r.Key.Table, r.Value[0], r.Value[1], r.Value[2])).ToList();
            return new WorkloadSummary(options.Seed, Operations, Interlocked.Read(ref _skipped), elapsed.TotalSeconds,
                new Dictionary<string, long>(_byKind), new Dictionary<string, long>(_transactions), rows, _money);
        }
    }

    /// <summary>Operation <paramref name="i"/>: its kind and every choice in it come from (seed, i).</summary>
    private async Task RunOperationAsync(long i)
    {
        var r = Prng.For(options.Seed, KOperation, i);
        var now = options.ClockStart.AddSeconds(i).AddTicks(r.Long(10_000_000L) / 10 * 10);
        var pick = r.Int(TotalWeight);
        var op = Mix[0];
        foreach (var candidate in Mix)
        {
            if (pick < candidate.Weight)
            {
                op = candidate;
                break;
            }

            pick -= candidate.Weight;
        }

        var done = await op.Run(this, new Context(r, now));
        lock (_lock)
        {
            var kind = done ? op.Name : op.Name + " (nothing to do)";
            _byKind[kind] = _byKind.GetValueOrDefault(kind) + 1;
        }

        if (!done)
        {
            Interlocked.Increment(ref _skipped);
        }
    }

    private static readonly ulong KOperation = Prng.Kind("workload.operation");

    /// <summary>The random stream and clock of one operation.</summary>
    private sealed class Context(Prng r, DateTime now)
    {
        private Prng _r = r;

        public DateTime Now { get; } = now;

        /// <summary>The same instant as a wall-clock value, for the timestamp-without-zone databases.</summary>
        public DateTime NowLocal => DateTime.SpecifyKind(Now, DateTimeKind.Unspecified);

        public ref Prng R => ref _r;

        public Guid Uuid() => _r.Uuid();

        public int Int(int min, int max) => _r.Int(min, max);

        public bool Chance(double p) => _r.Chance(p);

        public T Pick<T>(IReadOnlyList<T> items) => _r.Pick(items);

        /// <summary>Money in major units: cents, or (with probability <paramref name="subCent"/>) four decimals.</summary>
        public decimal Money(int minCents, int maxCents, double subCent = 0) =>
            _r.Chance(subCent) ? (_r.Int(minCents, maxCents) * 100L + _r.Int(1, 99)) / 10_000m : _r.Int(minCents, maxCents) / 100m;
    }

    private async Task<NpgsqlConnection> ConnectionAsync(string db)
    {
        if (!_connections.TryGetValue(db, out var conn))
        {
            var cs = new NpgsqlConnectionStringBuilder(world.ConnectionString(db)) { Timezone = "UTC", ApplicationName = "peeq-cdc workload" }.ConnectionString;
            conn = await PgConnections.OpenAsync(cs, $"legacy database '{db}'", CancellationToken.None, 15);
            _connections[db] = conn;
        }

        return conn;
    }

    /// <summary>
    /// Runs <paramref name="body"/> in one transaction of <paramref name="db"/>; its row counts and money
    /// count only once it commits. Returns false (nothing written) when the body found nothing to do.
    /// </summary>
    private async Task<bool> InTransactionAsync(string db, Func<Tx, Task<bool>> body)
    {
        var conn = await ConnectionAsync(db);
        await using var tx = await conn.BeginTransactionAsync(CancellationToken.None);
        _pendingRows.Clear();
        _pendingMoney = MoneyMoved.Zero;
        bool wrote;
        try
        {
            wrote = await body(new Tx(this, db, conn, tx));
        }
        catch
        {
            await tx.RollbackAsync(CancellationToken.None);
            throw;
        }

        if (!wrote)
        {
            await tx.RollbackAsync(CancellationToken.None);
            return false;
        }

        await tx.CommitAsync(CancellationToken.None);
        lock (_lock)
        {
            _transactions[db] = _transactions.GetValueOrDefault(db) + 1;
            foreach (var (d, table, op, n) in _pendingRows)
            {
                if (!_rows.TryGetValue((d, table), out var counts))
                {
                    counts = new long[3];
                    _rows[(d, table)] = counts;
                }

                counts[op] += n;
            }

            _money = _money.Plus(_pendingMoney);
        }

        return true;
    }

    /// <summary>A read on a database outside any write transaction (what a service looks up first).</summary>
    private async Task<T?> ReadAsync<T>(string db, string sql, object? param = null)
    {
        var conn = await ConnectionAsync(db);
        return await conn.QueryFirstOrDefaultAsync<T>(new CommandDefinition(sql, param, cancellationToken: CancellationToken.None));
    }

    /// <summary>One open write transaction: statements count their rows under (database, table, operation).</summary>
    private sealed class Tx(LegacyWorkload workload, string db, NpgsqlConnection conn, NpgsqlTransaction tx)
    {
        public async Task<int> InsertAsync(string table, string sql, object? param = null) => Count(table, 0, await ExecAsync(sql, param));

        public async Task<int> UpdateAsync(string table, string sql, object? param = null) => Count(table, 1, await ExecAsync(sql, param));

        public async Task<int> DeleteAsync(string table, string sql, object? param = null) => Count(table, 2, await ExecAsync(sql, param));

        public Task<T?> QueryAsync<T>(string sql, object? param = null) =>
            conn.QueryFirstOrDefaultAsync<T>(new CommandDefinition(sql, param, tx, cancellationToken: CancellationToken.None));

        public Task<T> ScalarAsync<T>(string sql, object? param = null) =>
            conn.ExecuteScalarAsync<T>(new CommandDefinition(sql, param, tx, cancellationToken: CancellationToken.None))!;

        public async Task<T> InsertReturningAsync<T>(string table, string sql, object? param = null)
        {
            var value = await conn.QuerySingleAsync<T>(new CommandDefinition(sql, param, tx, cancellationToken: CancellationToken.None));
            Count(table, 0, 1);
            return value;
        }

        public Task<IEnumerable<T>> QueryAllAsync<T>(string sql, object? param = null) =>
            conn.QueryAsync<T>(new CommandDefinition(sql, param, tx, cancellationToken: CancellationToken.None));

        /// <summary>Counts a row an UPDATE ... RETURNING changed.</summary>
        public void Updated(string table) => Count(table, 1, 1);

        public void Money(MoneyMoved m) => workload._pendingMoney = workload._pendingMoney.Plus(m);

        private Task<int> ExecAsync(string sql, object? param) =>
            conn.ExecuteAsync(new CommandDefinition(sql, param, tx, cancellationToken: CancellationToken.None));

        private int Count(string table, int op, int n)
        {
            if (n > 0)
            {
                workload._pendingRows.Add((db, table, op, n));
            }

            return n;
        }
    }

    /// <summary>
    /// A row of <paramref name="table"/> near a random point of its key order (wrapping around), so the
    /// choice is random yet the same on identical data. <paramref name="columns"/> and <paramref name="filter"/> are SQL.
    /// </summary>
    private static string PickSql(string table, string key, string columns, string filter = "true") => $"""
        (SELECT {columns} FROM {table} WHERE {key} >= @pickFrom AND ({filter}) ORDER BY {key} LIMIT 1)
        UNION ALL
        (SELECT {columns} FROM {table} WHERE ({filter}) ORDER BY {key} LIMIT 1)
        LIMIT 1
        """;

    public async ValueTask DisposeAsync()
    {
        foreach (var conn in _connections.Values)
        {
            await conn.DisposeAsync();
        }

        _connections.Clear();
    }
}
