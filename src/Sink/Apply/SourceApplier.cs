using System.Diagnostics;
using System.Threading.Channels;
using Confluent.Kafka;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Sink.Parking;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>A unified event with where it came from, for offset bookkeeping, and its encoded size (what the Sink's memory bounds count).</summary>
public readonly record struct Delivered(UnifiedEvent Event, TopicPartitionOffset Offset, int Bytes = 0);

/// <summary>
/// Applies one source's events to its target, in source commit order, one source transaction at a
/// time and never half: the rows of a transaction and the new applied position commit together.
/// Whole transactions received are buffered and written together (one staging COPY and one statement
/// per table for all of them) into one target transaction; a transaction too large to buffer is
/// written into the open target transaction in pieces (bounded memory) and still commits once. A
/// transaction already applied is skipped (idempotency by source position); one whose predecessor is
/// missing, or that arrives without its end marker or incomplete, is never applied: the Sink asks
/// Capture to replay from the slot. A transaction touching a financial table that has to park
/// anything is parked whole, and later transactions touching its keys wait behind it.
/// </summary>
public sealed class SourceApplier : IAsyncDisposable
{
    private const int MinBatchTarget = 256;
    private readonly string _source;
    private readonly string _target;
    private readonly NpgsqlDataSource _db;
    private readonly SinkOptions _options;
    private readonly BatchWriter _writer;
    private readonly ILogger _logger;
    private readonly Action<string, TopicPartitionOffset> _done;
    private readonly Channel<Delivered> _queue;
    // Encoded bytes of the events in _queue (written by the consumer, read by the apply loop).
    private long _queuedBytes;
    // Set while the consumer holds an event back because the queue was full (cleared by the next event it takes):
    // an empty queue then means "more is coming", not "traffic is light", so a batch is not committed early.
    private volatile bool _refused;
    private readonly HashSet<TableId> _financial;
    private readonly HoldSet _holds = new();

    private NpgsqlConnection? _conn;
    private NpgsqlTransaction? _tx;
    private bool _txDirty;
    private Lsn _appliedCommit;
    private Lsn _appliedEnd;
    private bool _loaded;

    // The transaction being received.
    private UnifiedBegin? _open;
    private bool _skipOpen;
    private long _received;
    private List<UnifiedEvent> _openOps = [];
    private long _openBytes;
    private bool _openStreamed;
    private bool _openFinancial;

    // Snapshot transactions seen and not yet committed: a snapshot chunk is a read, not a source
    // transaction, so one bad row in it parks alone, never the chunk (ARCHITECTURE.md).
    private readonly HashSet<Lsn> _snapshotTxs = [];
    private int _openParked;
    private TopicPartitionOffset? _openFirstOffset;

    // Whole transactions received and not yet written; whole transactions written into the open target transaction.
    private readonly List<Tx> _ready = [];
    private int _readyRows;
    private long _readyBytes;
    private readonly List<(UnifiedCommit Commit, long SourceTsMs)> _written = [];
    // The transactions behind _written, kept until the batch commits so a deadlock can be retried from memory
    // (null for a streamed one, whose pieces are gone: that batch is re-read from the slot instead).
    private readonly List<Tx?> _writtenTxs = [];
    private int _localRetries;
    private int _batchRows;
    private readonly Stopwatch _batchAge = new();
    private TopicPartitionOffset? _lastOffset;
    private int _batchTarget;

    // Big transactions to treat specially when the slot replays them.
    private readonly Dictionary<Lsn, (string Reason, Lsn? HeldBehind)> _parkWhole = [];
    private readonly HashSet<Lsn> _careful = [];

    // Flow control and replay.
    private SourcePosition _receivedPosition;
    private SourcePosition _reportedPosition;
    private DateTime _lastReplayRequest = DateTime.MinValue;
    private DateTime _nextHoldCheck = DateTime.MinValue;
    private readonly Lock _enqueuedLock = new();
    private SourcePosition _enqueuedPosition;

    private sealed record Tx(UnifiedBegin Begin, UnifiedCommit Commit, List<UnifiedEvent> Ops, long Bytes);

    public SourceApplier(string source, string target, NpgsqlDataSource db, SinkOptions options, TargetTables tables, byte[]? sealKey,
        ILogger logger, Action<string, TopicPartitionOffset> done, IEnumerable<TableId>? financialTables = null, IReadOnlySet<string>? sensitiveColumns = null)
    {
        _source = source;
        _target = target;
        _db = db;
        _options = options;
        _logger = logger;
        _done = done;
        _financial = [.. financialTables ?? []];
        _writer = new BatchWriter(tables, target, source, sealKey, sensitiveColumns, logger);
        _batchTarget = Math.Min(options.MaxBatchRows, MinBatchTarget);
        _queue = Channel.CreateBounded<Delivered>(new BoundedChannelOptions(Math.Max(1000, options.MaxBatchRows))
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
        });
    }

    public ChannelWriter<Delivered> Queue => _queue.Writer;

    /// <summary>
    /// Hands an event to this applier (false when its queue is full: <c>max(1000, sink.maxBatchRows)</c> events, or
    /// <c>sink.maxBatchBytes</c> of encoded events; one event always fits an empty queue). An event in the queue counts
    /// as received for flow control: Capture may go on producing while a batch is being written, and the queue bounds
    /// how far (its events are out of the broker and in this process).
    /// </summary>
    public bool TryEnqueue(Delivered item)
    {
        if ((item.Bytes > 0 && Interlocked.Read(ref _queuedBytes) + item.Bytes > _options.MaxBatchBytes && _queue.Reader.Count > 0)
            || !_queue.Writer.TryWrite(item))
        {
            _refused = true;
            return false;
        }

        _refused = false;

        Interlocked.Add(ref _queuedBytes, item.Bytes);

        var position = item.Event switch
        {
            UnifiedBegin b => new SourcePosition(b.CommitLsn, 0),
            RowOperation r => r.Position,
            ParkedChange p => new SourcePosition(p.CommitLsn, p.Seq),
            TableSchemaChange sc => new SourcePosition(sc.CommitLsn, sc.Seq),
            TableStateChange ts => new SourcePosition(ts.CommitLsn, ts.Seq),
            UnifiedProgress pr => pr.Position,
            UnifiedCommit c => new SourcePosition(c.CommitLsn, long.MaxValue),
            _ => (SourcePosition?)null,
        };
        if (position is { } at)
        {
            lock (_enqueuedLock)
            {
                _enqueuedPosition = at;
            }
        }

        return true;
    }

    public async Task RunAsync(CancellationToken ct)
    {
        var flow = Task.Run(() => ReportFlowLoopAsync(ct), ct);
        try
        {
            await ApplyLoopAsync(ct);
        }
        finally
        {
            try
            {
                await flow;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Reports the received position every flow interval, beside the apply loop (which may be busy writing a batch).</summary>
    private async Task ReportFlowLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(_options.FlowInterval, ct);
            try
            {
                await ReportFlowAsync(ct);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                // The target is away: the apply loop deals with that; flow is reported again next time.
                _logger.LogDebug("Sink {Source}: flow report failed: {Error}", _source, SinkErrors.Describe(e));
            }
        }
    }

    private async Task ApplyLoopAsync(CancellationToken ct)
    {
        var delay = _options.RetryDelay;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await EnsureLoadedAsync(ct);
                var pending = _ready.Count > 0 || _written.Count > 0;
                var timeout = pending ? Remaining() : TimeSpan.FromMilliseconds(250);
                var got = _queue.Reader.TryRead(out var item);
                if (!got)
                {
                    if (pending && !_openStreamed && !_refused)
                    {
                        // Nothing more waiting: do not hold whole transactions back (light traffic, low latency).
                        // (While the consumer holds an event back for a full queue, more is waiting: the batch fills on.)
                        await CommitBatchAsync(drained: true, ct);
                        continue;
                    }

                    if (!pending && _open is null && !_holds.IsEmpty && DateTime.UtcNow >= _nextHoldCheck)
                    {
                        _nextHoldCheck = DateTime.UtcNow.AddSeconds(1);
                        await ReleaseHeldAsync(ct);
                    }

                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    wait.CancelAfter(timeout);
                    try
                    {
                        got = await _queue.Reader.WaitToReadAsync(wait.Token) && _queue.Reader.TryRead(out item);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                    }
                }

                if (got)
                {
                    Interlocked.Add(ref _queuedBytes, -item.Bytes);
                    await HandleAsync(item, ct);
                }

                if ((_ready.Count > 0 || _written.Count > 0) && !_openStreamed
                    && (_readyRows + _batchRows >= _batchTarget || _batchAge.Elapsed >= _options.MaxBatchDelay))
                {
                    await CommitBatchAsync(drained: false, ct);
                }

                delay = _options.RetryDelay;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (ReplayRequestedException)
            {
                // Already asked Capture to replay; start clean from the applied position.
                await ResetAsync();
            }
            catch (Exception e) when (IsRetryable(e) && _localRetries < MaxLocalRetries && !_openStreamed && _writtenTxs.All(t => t is not null))
            {
                // A deadlock or serialization failure (two sources writing one target) says nothing about the
                // rows: the target transaction is rolled back and the batch, still in memory, written again.
                // Re-reading it from the slot instead would also restart the source's unfinished snapshots.
                _localRetries++;
                SinkMetrics.Errors.WithLabels(_target, "retried").Inc();
                _logger.LogWarning("Sink {Source} -> {Target}: {Error}; writing the batch again in {Delay} (attempt {Attempt})",
                    _source, _target, SinkErrors.Describe(e), delay, _localRetries + 1);
                await RollBackForRetryAsync();
                await Task.Delay(delay, ct).ContinueWith(_ => { }, TaskScheduler.Default);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxRetryDelay.Ticks));
            }
            catch (Exception e)
            {
                SinkMetrics.Errors.WithLabels(_target, "transient").Inc();
                _logger.LogWarning("Sink {Source} -> {Target}: {Error}; resynchronising in {Delay}", _source, _target, SinkErrors.Describe(e), delay);
                await ResetAsync();
                await Task.Delay(delay, ct).ContinueWith(_ => { }, TaskScheduler.Default);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxRetryDelay.Ticks));
                try
                {
                    await RequestReplayAsync($"target write failed: {SinkErrors.Describe(e)}", ct, force: true);
                }
                catch (Exception re) when (re is NpgsqlException or TimeoutException)
                {
                    // The target is still away; the next attempt asks again.
                }
            }
        }

        await ResetAsync();
    }

    private const int MaxLocalRetries = 10;

    /// <summary>Deadlock (40P01) and serialization failure (40001): the transaction lost a race, nothing is wrong with it.</summary>
    private static bool IsRetryable(Exception e) =>
        e is PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure };

    /// <summary>
    /// Rolls the target transaction back and puts the whole transactions written into it back in front of the
    /// ones waiting, in source order; the applied position and the hold set are read again (nothing of the
    /// batch committed, and parks made in it are gone with it).
    /// </summary>
    private async Task RollBackForRetryAsync()
    {
        var again = _writtenTxs.Select(t => t!).ToList();
        again.AddRange(_ready.Where(t => !again.Contains(t)));
        await DropTargetTransactionAsync();
        _ready.Clear();
        _ready.AddRange(again);
        _readyRows = again.Sum(t => t.Ops.Count);
        _readyBytes = again.Sum(t => t.Bytes);
        _written.Clear();
        _writtenTxs.Clear();
        _batchRows = 0;
        _loaded = false;
    }

    private TimeSpan Remaining()
    {
        var left = _options.MaxBatchDelay - _batchAge.Elapsed;
        return left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1);
    }

    private async Task EnsureLoadedAsync(CancellationToken ct)
    {
        if (_loaded)
        {
            return;
        }

        await using var conn = await _db.OpenConnectionAsync(ct);
        var positions = await PipelineSchema.ReadAppliedAsync(conn, ct);
        if (positions.TryGetValue(_source, out var p))
        {
            _appliedCommit = p.CommitLsn;
            _appliedEnd = p.EndLsn;
        }
        else
        {
            _appliedCommit = Lsn.Zero;
            _appliedEnd = Lsn.Zero;
        }

        _holds.Load(await ParkedRows.OpenWholeAsync(conn, _source, ct));
        _loaded = true;
    }

    /// <summary>The end of the last whole transaction accepted: applied, written into the open batch, or waiting to be.</summary>
    private (Lsn Commit, Lsn End) Accepted =>
        _ready.Count > 0 ? (_ready[^1].Commit.CommitLsn, _ready[^1].Commit.EndLsn)
        : _written.Count > 0 ? (_written[^1].Commit.CommitLsn, _written[^1].Commit.EndLsn)
        : (_appliedCommit, _appliedEnd);

    private async Task HandleAsync(Delivered d, CancellationToken ct)
    {
        _lastOffset = d.Offset;
        switch (d.Event)
        {
            case UnifiedBegin b:
                if (_open is not null && !_skipOpen)
                {
                    SinkMetrics.Gaps.WithLabels(_source, "missing_end").Inc();
                    _logger.LogInformation("Sink {Source}: transaction {Lsn} has no end marker (a stage restarted mid-way); discarded", _source, _open.CommitLsn);
                    await AbandonOpenAsync(ct);
                }

                StartOpen(b, d.Offset);
                if (b.Kind == TransactionKind.Snapshot)
                {
                    _snapshotTxs.Add(b.CommitLsn);
                }

                var accepted = Accepted;
                _logger.LogDebug("Sink {Source}: begin {Kind} {Lsn} after {Prev}; accepted {Commit}/{End}", _source, b.Kind, b.CommitLsn, b.PrevEndLsn, accepted.Commit, accepted.End);
                if (b.CommitLsn <= accepted.Commit)
                {
                    _skipOpen = true;
                    SinkMetrics.DuplicatesSkipped.WithLabels(_source).Inc();
                }
                else if (b.PrevEndLsn > accepted.End)
                {
                    _skipOpen = true;
                    SinkMetrics.Gaps.WithLabels(_source, "missing_transaction").Inc();
                    await RequestReplayAsync($"transaction {b.CommitLsn} follows {b.PrevEndLsn}, but only {accepted.End} was applied", ct);
                }

                break;
            case RowOperation or ParkedChange or TableSchemaChange or TableStateChange:
                if (_open is null || _skipOpen || d.Event.CommitLsn != _open.CommitLsn)
                {
                    if (_open is null || d.Event.CommitLsn != _open.CommitLsn)
                    {
                        MarkDoneIfIdle();
                    }

                    break;
                }

                _openOps.Add(d.Event);
                _openBytes += d.Bytes;
                _received++;
                _receivedPosition = d.Event switch
                {
                    RowOperation r => r.Position,
                    ParkedChange p => new SourcePosition(p.CommitLsn, p.Seq),
                    TableSchemaChange sc => new SourcePosition(sc.CommitLsn, sc.Seq),
                    TableStateChange ts => new SourcePosition(ts.CommitLsn, ts.Seq),
                    _ => _receivedPosition,
                };
                if (!_openFinancial && IsFinancial(d.Event))
                {
                    _openFinancial = true;
                }

                if (_openOps.Count + _readyRows >= _options.MaxBatchRows || _openBytes + _readyBytes >= _options.MaxBatchBytes)
                {
                    await StreamOpenAsync(ct);
                }

                break;
            case UnifiedProgress:
                // Flow control only (counted as received when it was enqueued); not an operation of the transaction.
                if (_open is null || d.Event.CommitLsn != _open.CommitLsn)
                {
                    MarkDoneIfIdle();
                }

                break;
            case UnifiedCommit c:
                if (_open is null || c.CommitLsn != _open.CommitLsn)
                {
                    MarkDoneIfIdle();
                    break;
                }

                if (_skipOpen)
                {
                    _open = null;
                    MarkDoneIfIdle();
                    break;
                }

                if (_received != c.Operations)
                {
                    SinkMetrics.Gaps.WithLabels(_source, "incomplete").Inc();
                    await AbandonOpenAsync(ct);
                    await RequestReplayAsync($"transaction {c.CommitLsn} arrived with {_received} of {c.Operations} operations", ct);
                    break;
                }

                if (_openStreamed)
                {
                    // Its earlier pieces are in the target transaction already: write the rest, then it is whole.
                    await StreamOpenAsync(ct);
                    await _conn!.ExecuteAsync(new CommandDefinition("RELEASE SAVEPOINT open_tx", transaction: _tx, cancellationToken: ct));
                    _written.Add((c, _open.TsMs));
                    _writtenTxs.Add(null);
                    _openStreamed = false;
                }
                else
                {
                    _ready.Add(new Tx(_open, c, _openOps, _openBytes));
                    _readyRows += _openOps.Count;
                    _readyBytes += _openBytes;
                    _openOps = [];
                    _openBytes = 0;
                }

                _writer.Schema.Received(c);
                _receivedPosition = new SourcePosition(c.CommitLsn, long.MaxValue);
                if (!_batchAge.IsRunning)
                {
                    _batchAge.Restart();
                }

                _open = null;
                _openFirstOffset = null;
                break;
        }
    }

    private void StartOpen(UnifiedBegin b, TopicPartitionOffset offset)
    {
        _open = b;
        _skipOpen = false;
        _received = 0;
        _openOps = [];
        _openBytes = 0;
        _openStreamed = false;
        _openFinancial = false;
        _openParked = 0;
        _openFirstOffset = offset;
    }

    private bool IsFinancial(UnifiedEvent e) => _financial.Count > 0 && !_snapshotTxs.Contains(e.CommitLsn) && e switch
    {
        RowOperation r => _financial.Contains(r.Origin.Table),
        ParkedChange p => _financial.Contains(p.SourceTable),
        _ => false,
    };

    private void MarkDoneIfIdle()
    {
        if (_open is null && _ready.Count == 0 && _written.Count == 0 && _lastOffset is { } o)
        {
            _done(_source, o);
        }
    }

    private async Task<NpgsqlConnection> EnsureTransactionAsync(CancellationToken ct)
    {
        _conn ??= await _db.OpenConnectionAsync(ct);
        if (_tx is null)
        {
            if (!_holds.IsEmpty)
            {
                // An operator may have resolved a blocker meanwhile.
                _holds.Load(await ParkedRows.OpenWholeAsync(_conn, _source, ct));
            }

            _tx = await _conn.BeginTransactionAsync(ct);
            // Non-key unique constraints are deferrable in the targets: a set-based batch may swap values.
            await _conn.ExecuteAsync(new CommandDefinition("SET CONSTRAINTS ALL DEFERRED", transaction: _tx, cancellationToken: ct));
            _txDirty = false;
            _batchRows = 0;
        }

        return _conn;
    }

    private enum Fate
    {
        Apply,
        Careful,
        ParkWhole,
    }

    /// <summary>Writes the whole transactions waiting in memory into the target transaction, together.</summary>
    private async Task WriteReadyAsync(CancellationToken ct)
    {
        if (_ready.Count == 0)
        {
            return;
        }

        var conn = await EnsureTransactionAsync(ct);
        var fates = new Dictionary<Lsn, (Fate Fate, string? Reason, Lsn? HeldBehind)>();
        foreach (var tx in _ready)
        {
            fates[tx.Commit.CommitLsn] = Decide(tx.Commit.CommitLsn, tx.Ops);
            if (fates[tx.Commit.CommitLsn].Fate == Fate.ParkWhole)
            {
                // Its keys hold the transactions after it, in this batch too.
                _holds.Add(tx.Ops, tx.Commit.CommitLsn);
            }
        }

        while (true)
        {
            var group = _ready.Where(t => fates[t.Commit.CommitLsn].Fate == Fate.Apply).ToList();
            if (group.Count == 0)
            {
                break;
            }

            var savepoint = _txDirty;
            if (savepoint)
            {
                await conn.ExecuteAsync(new CommandDefinition("SAVEPOINT piece", transaction: _tx, cancellationToken: ct));
            }

            try
            {
                var result = await _writer.WriteAsync(conn, group.Count == 1 ? group[0].Ops : group.SelectMany(t => t.Ops).ToList(), ct);
                _txDirty = true;
                var failed = result.Parked.GroupBy(p => p.Op.CommitLsn).Where(g => group.First(t => t.Commit.CommitLsn == g.Key).Ops.Any(IsFinancial)).ToList();
                if (failed.Count == 0)
                {
                    if (savepoint)
                    {
                        await conn.ExecuteAsync(new CommandDefinition("RELEASE SAVEPOINT piece", transaction: _tx, cancellationToken: ct));
                    }

                    break;
                }

                // A financial transaction had to park something: it parks whole; write the rest again without it.
                await UndoPieceAsync(savepoint, ct);
                foreach (var g in failed)
                {
                    fates[g.Key] = (Fate.ParkWhole, g.First().Reason, null);
                    _holds.Add(_ready.First(t => t.Commit.CommitLsn == g.Key).Ops, g.Key);
                }

                // Transactions after a newly parked one that touch its keys now wait behind it.
                foreach (var t in _ready.Where(t => fates[t.Commit.CommitLsn].Fate != Fate.ParkWhole))
                {
                    if (_holds.BlockerFor(t.Ops, t.Commit.CommitLsn) is { } blocker)
                    {
                        fates[t.Commit.CommitLsn] = (Fate.ParkWhole, $"held behind {blocker}: a parked transaction of this source touches the same keys", blocker);
                        _holds.Add(t.Ops, t.Commit.CommitLsn);
                    }
                }
            }
            catch (Exception e) when (SinkErrors.IsRowError(e))
            {
                SinkMetrics.Errors.WithLabels(_target, "row").Inc();
                _logger.LogWarning("Sink {Source}: a row cannot be applied ({Error}); applying the batch transaction by transaction to park it",
                    _source, SinkErrors.Describe(e));
                await UndoPieceAsync(savepoint, ct);
                foreach (var t in group)
                {
                    fates[t.Commit.CommitLsn] = (Fate.Careful, null, null);
                }
            }
        }

        conn = await EnsureTransactionAsync(ct);
        foreach (var tx in _ready)
        {
            var (fate, reason, held) = fates[tx.Commit.CommitLsn];
            switch (fate)
            {
                case Fate.ParkWhole:
                    await ParkWholeAsync(conn, tx.Commit.CommitLsn, tx.Ops, reason!, held, ct);
                    break;
                case Fate.Careful:
                    await WriteCarefullyAsync(conn, tx.Commit.CommitLsn, tx.Ops, ct);
                    break;
            }

            _written.Add((tx.Commit, tx.Begin.TsMs));
            _writtenTxs.Add(tx);
        }

        _batchRows += _readyRows;
        _ready.Clear();
        _readyRows = 0;
        _readyBytes = 0;
    }

    /// <summary>Undoes a failed piece: back to its savepoint, or, when it was the first thing written, the whole target transaction.</summary>
    private async Task UndoPieceAsync(bool savepoint, CancellationToken ct)
    {
        _writer.RolledBack();
        if (savepoint)
        {
            await _conn!.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT piece; RELEASE SAVEPOINT piece", transaction: _tx, cancellationToken: ct));
        }
        else
        {
            await _tx!.RollbackAsync(ct);
            await _tx.DisposeAsync();
            _tx = null;
            await EnsureTransactionAsync(ct);
        }
    }

    /// <summary>What becomes of a whole transaction before anything of it is written.</summary>
    private (Fate, string?, Lsn?) Decide(Lsn lsn, IReadOnlyList<UnifiedEvent> ops)
    {
        if (_parkWhole.Remove(lsn, out var pw))
        {
            return (Fate.ParkWhole, pw.Reason, pw.HeldBehind);
        }

        if (_holds.BlockerFor(ops, lsn) is { } blocker)
        {
            return (Fate.ParkWhole, $"held behind {blocker}: a parked transaction of this source touches the same keys", blocker);
        }

        if (ops.Any(IsFinancial) && ops.FirstOrDefault(o => o is ParkedChange) is ParkedChange p)
        {
            return (Fate.ParkWhole, p.Reason, null);
        }

        return _careful.Contains(lsn) ? (Fate.Careful, null, null) : (Fate.Apply, null, null);
    }

    private async Task ParkWholeAsync(NpgsqlConnection conn, Lsn lsn, IReadOnlyList<UnifiedEvent> ops, string reason, Lsn? heldBehind, CancellationToken ct)
    {
        _logger.LogWarning("Sink {Source}: transaction {Lsn} parked whole ({Count} operations): {Reason}", _source, lsn, ops.Count, reason);
        await ParkedRows.ParkAsync(conn, ops.Select(o => new ParkedOp(o, reason)).ToList(), whole: true, heldBehind, ct);
        SinkMetrics.Parked.WithLabels(_source, BatchWriter.ReasonKind(reason)).Inc(ops.Count);
        SinkMetrics.TransactionsParked.WithLabels(_source, heldBehind is null ? "parked" : "held").Inc();
        _holds.Add(ops, lsn);
        _txDirty = true;
    }

    /// <summary>
    /// One transaction under its own savepoint: if a row cannot apply, a financial transaction parks
    /// whole; of any other, what applies is applied and the failing operations are parked (IsolateAsync).
    /// </summary>
    private async Task WriteCarefullyAsync(NpgsqlConnection conn, Lsn lsn, IReadOnlyList<UnifiedEvent> ops, CancellationToken ct)
    {
        var financial = ops.Any(IsFinancial);
        await conn.ExecuteAsync(new CommandDefinition("SAVEPOINT source_tx", transaction: _tx, cancellationToken: ct));
        _txDirty = true;
        string? failure = null;
        try
        {
            var result = await _writer.WriteAsync(conn, ops, ct);
            await CheckDeferredAsync(conn, ct);
            if (financial && result.Parked.Count > 0)
            {
                failure = result.Parked[0].Reason;
            }
        }
        catch (Exception e) when (SinkErrors.IsRowError(e))
        {
            failure = $"cannot apply: {SinkErrors.Describe(e)}";
        }

        if (failure is null)
        {
            await conn.ExecuteAsync(new CommandDefinition("RELEASE SAVEPOINT source_tx", transaction: _tx, cancellationToken: ct));
            return;
        }

        await conn.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT source_tx", transaction: _tx, cancellationToken: ct));
        _writer.RolledBack();
        if (financial)
        {
            await ParkWholeAsync(conn, lsn, ops, failure, null, ct);
        }
        else
        {
            await IsolateAsync(conn, ops, ct);
        }

        await conn.ExecuteAsync(new CommandDefinition("RELEASE SAVEPOINT source_tx", transaction: _tx, cancellationToken: ct));
    }

    /// <summary>
    /// Applies what can be applied of <paramref name="ops"/> (which failed as a whole) and parks, with the
    /// error, each operation that cannot: halves are tried in source order, each under its own savepoint, and
    /// a half that fails is halved again down to the single operation. A few bad rows in a snapshot chunk of
    /// thousands cost a few dozen writes, not one per row (one per row held a source for many minutes on a
    /// loaded machine while the batch's target transaction stayed open). A half that applies has the same
    /// effect as its operations applied one by one: the writer applies the net change per key in order.
    /// </summary>
    private async Task IsolateAsync(NpgsqlConnection conn, IReadOnlyList<UnifiedEvent> ops, CancellationToken ct)
    {
        if (ops.Count == 1)
        {
            if (await TryWriteAsync(conn, ops, ct) is { } e && ops[0] is RowOperation r)
            {
                var why = $"cannot apply to {r.Table}: {SinkErrors.Describe(e)}";
                await ParkedRows.ParkAsync(conn, [new ParkedOp(r, why)], whole: false, heldBehind: null, ct);
                SinkMetrics.Parked.WithLabels(_source, "row_error").Inc();
            }

            return;
        }

        var mid = ops.Count / 2;
        foreach (var half in new[] { ops.Take(mid).ToList(), ops.Skip(mid).ToList() })
        {
            if (await TryWriteAsync(conn, half, ct) is not null)
            {
                await IsolateAsync(conn, half, ct);
            }
        }
    }

    /// <summary>Writes <paramref name="ops"/> under a savepoint; on a row error undoes them and returns the error.</summary>
    private async Task<Exception?> TryWriteAsync(NpgsqlConnection conn, IReadOnlyList<UnifiedEvent> ops, CancellationToken ct)
    {
        SinkMetrics.IsolationWrites.WithLabels(_source).Inc();
        await conn.ExecuteAsync(new CommandDefinition("SAVEPOINT isolate", transaction: _tx, cancellationToken: ct));
        try
        {
            await _writer.WriteAsync(conn, ops, ct);
            await CheckDeferredAsync(conn, ct);
            await conn.ExecuteAsync(new CommandDefinition("RELEASE SAVEPOINT isolate", transaction: _tx, cancellationToken: ct));
            return null;
        }
        catch (Exception e) when (SinkErrors.IsRowError(e))
        {
            await conn.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT isolate; RELEASE SAVEPOINT isolate", transaction: _tx, cancellationToken: ct));
            _writer.RolledBack();
            return e;
        }
    }

    /// <summary>Checks the deferred constraints now (inside the savepoint), so a violation is pinned on this transaction or operation.</summary>
    private async Task CheckDeferredAsync(NpgsqlConnection conn, CancellationToken ct) =>
        await conn.ExecuteAsync(new CommandDefinition("SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED", transaction: _tx, cancellationToken: ct));

    /// <summary>
    /// The open transaction outgrew the batch: write what is waiting, then this piece of it, into the open
    /// target transaction (under a savepoint, so the transaction can still be undone whole). When a piece
    /// shows that the transaction must park whole but earlier pieces are already written, it is undone and
    /// read again from the slot, then parked whole as it streams (bounded memory both ways).
    /// </summary>
    private async Task StreamOpenAsync(CancellationToken ct)
    {
        await WriteReadyAsync(ct);
        var open = _open!;
        var lsn = open.CommitLsn;
        var conn = await EnsureTransactionAsync(ct);
        var first = !_openStreamed;
        if (first)
        {
            await conn.ExecuteAsync(new CommandDefinition("SAVEPOINT open_tx", transaction: _tx, cancellationToken: ct));
            _openStreamed = true;
            _txDirty = true;
        }

        var piece = _openOps;
        _openOps = [];
        _openBytes = 0;
        _batchRows += piece.Count;
        if (_parkWhole.TryGetValue(lsn, out var pw))
        {
            await ParkWholeAsync(conn, lsn, piece, pw.Reason, pw.HeldBehind, ct);
            return;
        }

        string? wholeReason = null;
        Lsn? heldBehind = _holds.BlockerFor(piece, lsn);
        if (heldBehind is { } b)
        {
            wholeReason = $"held behind {b}: a parked transaction of this source touches the same keys";
        }
        else if (_openFinancial && (_openParked > 0 || piece.Any(o => o is ParkedChange)))
        {
            wholeReason = piece.OfType<ParkedChange>().FirstOrDefault()?.Reason ?? "an operation of this financial transaction was parked";
        }

        if (wholeReason is null)
        {
            await conn.ExecuteAsync(new CommandDefinition("SAVEPOINT piece", transaction: _tx, cancellationToken: ct));
            try
            {
                if (_careful.Contains(lsn))
                {
                    await WriteCarefullyAsync(conn, lsn, piece, ct);
                }
                else
                {
                    var result = await _writer.WriteAsync(conn, piece, ct);
                    _openParked += result.Parked.Count;
                    if (_openFinancial && result.Parked.Count > 0)
                    {
                        wholeReason = result.Parked[0].Reason;
                    }
                }
            }
            catch (Exception e) when (SinkErrors.IsRowError(e))
            {
                SinkMetrics.Errors.WithLabels(_target, "row").Inc();
                await conn.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT piece", transaction: _tx, cancellationToken: ct));
                _writer.RolledBack();
                if (_openFinancial)
                {
                    wholeReason = $"cannot apply: {SinkErrors.Describe(e)}";
                }
                else
                {
                    // Apply this piece (still in memory) operation by operation, and the rest of the transaction too.
                    _careful.Add(lsn);
                    await WriteCarefullyAsync(conn, lsn, piece, ct);
                }
            }

            if (wholeReason is null)
            {
                await conn.ExecuteAsync(new CommandDefinition("RELEASE SAVEPOINT piece", transaction: _tx, cancellationToken: ct));
                return;
            }
        }

        await conn.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT open_tx", transaction: _tx, cancellationToken: ct));
        _writer.RolledBack();
        _parkWhole[lsn] = (wholeReason, heldBehind);
        if (first)
        {
            // Nothing of it was applied: park it whole from here on, as it streams.
            await ParkWholeAsync(conn, lsn, piece, wholeReason, heldBehind, ct);
            return;
        }

        _logger.LogWarning("Sink {Source}: transaction {Lsn} must park whole ({Reason}) but was partly written; re-reading it from the slot", _source, lsn, wholeReason);
        await RequestReplayAsync($"transaction {lsn} must be parked whole; re-reading it", ct, force: true);
        throw new ReplayRequestedException();
    }

    private async Task AbandonOpenAsync(CancellationToken ct)
    {
        if (_openStreamed && _tx is not null && _conn is not null)
        {
            await _conn.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT open_tx; RELEASE SAVEPOINT open_tx", transaction: _tx, cancellationToken: ct));
            _writer.RolledBack();
        }

        _open = null;
        _openOps = [];
        _openBytes = 0;
        _openStreamed = false;
    }

    private async Task CommitBatchAsync(bool drained, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        await WriteReadyAsync(ct);
        if (_written.Count == 0 || _tx is null)
        {
            return;
        }

        var last = _written[^1].Commit;
        var applied = new CommandDefinition("""
            INSERT INTO peeq_cdc.applied_position AS a (source, commit_lsn, end_lsn, seq, txid, source_commit_ts, applied_at)
            VALUES (@source, @commit::pg_lsn, @end::pg_lsn, @seq, @txid, to_timestamp(@ts / 1000.0), now())
            ON CONFLICT (source) DO UPDATE SET commit_lsn = excluded.commit_lsn, end_lsn = excluded.end_lsn, seq = excluded.seq,
                txid = excluded.txid, source_commit_ts = excluded.source_commit_ts, applied_at = excluded.applied_at
            WHERE a.commit_lsn < excluded.commit_lsn
            """, new { source = _source, commit = last.CommitLsn.ToString(), end = last.EndLsn.ToString(), seq = last.Operations + 1, txid = last.TxId, ts = (double)last.TsMs },
            transaction: _tx, cancellationToken: ct);
        var marks = _written.Any(w => w.Commit.Snapshot is { Count: > 0 });
        try
        {
            // Deferred unique constraints are checked here, where a violation can still be told from a lost connection.
            // Without snapshot marks to record in between, the new applied position goes in the same round trip
            // (a failing check stops the statement list before it).
            await _conn!.ExecuteAsync(marks
                ? new CommandDefinition("SET CONSTRAINTS ALL IMMEDIATE", transaction: _tx, cancellationToken: ct)
                : new CommandDefinition("SET CONSTRAINTS ALL IMMEDIATE;\n" + applied.CommandText, applied.Parameters, _tx, cancellationToken: ct));
        }
        catch (Exception e) when (SinkErrors.IsRowError(e))
        {
            _logger.LogWarning("Sink {Source}: a deferred constraint fails at commit ({Error}); re-reading the batch to apply it transaction by transaction",
                _source, SinkErrors.Describe(e));
            foreach (var (commit, _) in _written)
            {
                _careful.Add(commit.CommitLsn);
            }

            await RequestReplayAsync("a deferred constraint failed at commit; re-reading to park the row", ct, force: true);
            throw new ReplayRequestedException();
        }

        if (marks)
        {
            // Snapshot progress marks go in the same target transaction as the rows they describe.
            foreach (var (commit, _) in _written)
            {
                if (commit.Snapshot is { Count: > 0 })
                {
                    await SnapshotProgress.RecordAsync(_conn!, _source, commit, _writer, _logger, ct);
                }
            }

            await _conn!.ExecuteAsync(applied);
        }

        Faults.FaultPoint.Reached(Faults.FaultPoint.SinkBeforeTargetCommit);
        await _tx.CommitAsync(ct);
        Faults.FaultPoint.Reached(Faults.FaultPoint.SinkAfterTargetCommit);
        await _tx.DisposeAsync();
        _tx = null;
        _writer.Committed();
        _appliedCommit = last.CommitLsn;
        _appliedEnd = last.EndLsn;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var (commit, ts) in _written)
        {
            SinkMetrics.Transactions.WithLabels(_source, "transaction").Inc();
            SinkMetrics.EndToEndSeconds.WithLabels(_source).Observe(Math.Max(0, now - ts) / 1000.0);
            _careful.Remove(commit.CommitLsn);
        }

        _logger.LogDebug("Sink {Source}: committed {Transactions} transaction(s), {Rows} rows up to {Lsn}; written and committed in {WriteMs:0} ms, {AgeMs:0} ms after the batch opened",
            _source, _written.Count, _batchRows, last.CommitLsn, sw.Elapsed.TotalMilliseconds, _batchAge.Elapsed.TotalMilliseconds);
        SinkMetrics.BatchRows.WithLabels(_target).Observe(_batchRows);
        SinkMetrics.BatchSeconds.WithLabels(_target).Observe(_batchAge.Elapsed.TotalSeconds + sw.Elapsed.TotalSeconds);
        SinkMetrics.AppliedLsn.WithLabels(_source).Set(last.CommitLsn.Value);
        SinkMetrics.LastAppliedTimestamp.WithLabels(_source).Set(_written[^1].SourceTsMs / 1000.0);

        // Adaptive batch size: a batch that filled up while more kept arriving doubles the next one's
        // (throughput under load); one closed because the queue ran dry halves it (latency when light).
        _batchTarget = drained
            ? Math.Max(Math.Min(MinBatchTarget, _options.MaxBatchRows), _batchTarget / 2)
            : Math.Min(_options.MaxBatchRows, _batchTarget * 2);
        SinkMetrics.BatchTargetRows.WithLabels(_source).Set(_batchTarget);
        foreach (var (commit, _) in _written)
        {
            _snapshotTxs.Remove(commit.CommitLsn);
        }

        _written.Clear();
        _writtenTxs.Clear();
        _localRetries = 0;
        _batchRows = 0;
        _batchAge.Reset();
        if (_open is null && _lastOffset is { } o)
        {
            _done(_source, o);
        }
        else if (_openFirstOffset is { } firstOffset && firstOffset.Offset.Value > 0)
        {
            _done(_source, new TopicPartitionOffset(firstOffset.TopicPartition, firstOffset.Offset - 1));
        }
    }

    /// <summary>
    /// Held transactions whose blocker an operator has replayed or discarded follow now, in source order,
    /// through the same apply path at their original positions (version-guarded), each in its own target
    /// transaction. One still behind an open blocker keeps waiting.
    /// </summary>
    private async Task ReleaseHeldAsync(CancellationToken ct)
    {
        await using var conn = await _db.OpenConnectionAsync(ct);
        var open = await ParkedRows.OpenWholeAsync(conn, _source, ct);
        _holds.Load(open);
        foreach (var held in open.Where(r => r.HeldBehind is not null).GroupBy(r => r.CommitLsn).OrderBy(g => g.Key).ToList())
        {
            var lsn = held.Key;
            var ops = held.OrderBy(r => r.seq).ThenBy(r => r.sub).Select(r => r.Unified).OfType<UnifiedEvent>().ToList();
            // Only earlier transactions can block it; it does not block itself.
            var others = new HoldSet();
            others.Load(open.Where(r => r.CommitLsn != lsn));
            if (others.BlockerFor(ops, lsn) is not null)
            {
                continue;
            }

            _logger.LogInformation("Sink {Source}: releasing transaction {Lsn}, held behind {Blocker} which is resolved", _source, lsn, held.First().HeldBehind);
            await using (var tx = await conn.BeginTransactionAsync(ct))
            {
                await conn.ExecuteAsync(new CommandDefinition("SET CONSTRAINTS ALL DEFERRED", transaction: tx, cancellationToken: ct));
                await ParkedRows.MarkAsync(conn, held.Select(r => r.id).ToList(), "replayed", $"peeq-cdc sink: released after {held.First().HeldBehind} was resolved", ct);
                var financial = ops.Any(IsFinancial);
                string? failure = financial ? ops.OfType<ParkedChange>().FirstOrDefault()?.Reason : null;
                if (failure is null)
                {
                    await conn.ExecuteAsync(new CommandDefinition("SAVEPOINT released", transaction: tx, cancellationToken: ct));
                    try
                    {
                        var result = await _writer.WriteAsync(conn, ops, ct);
                        if (financial && result.Parked.Count > 0)
                        {
                            failure = result.Parked[0].Reason;
                        }
                    }
                    catch (Exception e) when (SinkErrors.IsRowError(e))
                    {
                        failure = $"cannot apply: {SinkErrors.Describe(e)}";
                    }

                    if (failure is not null)
                    {
                        await conn.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT released", transaction: tx, cancellationToken: ct));
                        _writer.RolledBack();
                    }
                }

                if (failure is not null)
                {
                    // It becomes a blocker in its own right.
                    await ParkedRows.ParkAsync(conn, ops.Select(o => new ParkedOp(o, failure)).ToList(), whole: true, heldBehind: null, ct);
                }

                await tx.CommitAsync(ct);
            }

            open = await ParkedRows.OpenWholeAsync(conn, _source, ct);
            _holds.Load(open);
        }

        _writer.RolledBack();
    }

    /// <summary>Tells Capture how far this Sink has received (flow control only, outside any apply transaction).</summary>
    private async Task ReportFlowAsync(CancellationToken ct)
    {
        SourcePosition p;
        lock (_enqueuedLock)
        {
            p = _enqueuedPosition;
        }

        if (p == _reportedPosition || p.CommitLsn.IsZero)
        {
            return;
        }

        await using var conn = await _db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.flow_position AS f (source, commit_lsn, seq, updated_at) VALUES (@source, @lsn::pg_lsn, @seq, now())
            ON CONFLICT (source) DO UPDATE SET commit_lsn = excluded.commit_lsn, seq = excluded.seq, updated_at = excluded.updated_at
            """, new { source = _source, lsn = p.CommitLsn.ToString(), seq = p.Seq }, cancellationToken: ct));
        _reportedPosition = p;
    }

    /// <summary>Asks Capture to restart this source's stream from the slot's confirmed position.</summary>
    private async Task RequestReplayAsync(string reason, CancellationToken ct, bool force = false)
    {
        if (!force && DateTime.UtcNow - _lastReplayRequest < TimeSpan.FromSeconds(30))
        {
            return;
        }

        _logger.LogWarning("Sink {Source}: gap: {Reason}; asking Capture to replay from the slot", _source, reason);
        await using var conn = await _db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.replay_requests AS r (source, requested, reason, requested_at) VALUES (@source, 1, @reason, now())
            ON CONFLICT (source) DO UPDATE SET requested = r.requested + 1, reason = excluded.reason, requested_at = excluded.requested_at
            """, new { source = _source, reason }, cancellationToken: ct));
        _lastReplayRequest = DateTime.UtcNow;
    }

    /// <summary>Drops everything not committed; the applied position is read again from the target.</summary>
    private async Task ResetAsync()
    {
        await DropTargetTransactionAsync();
        _writer.Schema.Reset();
        _open = null;
        _skipOpen = false;
        _openOps = [];
        _openBytes = 0;
        _openStreamed = false;
        _ready.Clear();
        _readyRows = 0;
        _readyBytes = 0;
        _snapshotTxs.Clear();
        _written.Clear();
        _writtenTxs.Clear();
        _batchRows = 0;
        _batchAge.Reset();
        _loaded = false;
        _lastReplayRequest = DateTime.MinValue;
    }

    /// <summary>Rolls back the open target transaction by dropping its connection (a broken one included; the next write opens another).</summary>
    private async Task DropTargetTransactionAsync()
    {
        try
        {
            if (_tx is not null)
            {
                await _tx.DisposeAsync();
            }

            if (_conn is not null)
            {
                await _conn.DisposeAsync();
            }
        }
        catch (Exception)
        {
            // The connection is already broken; nothing of it is needed.
        }

        _tx = null;
        _conn = null;
        _txDirty = false;
        _writer.RolledBack();
    }

    public async ValueTask DisposeAsync() => await ResetAsync();
}

/// <summary>The open work was dropped and a replay from the slot requested; state restarts from the applied position.</summary>
public sealed class ReplayRequestedException : Exception;
