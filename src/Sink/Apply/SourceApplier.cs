using System.Diagnostics;
using System.Threading.Channels;
using Confluent.Kafka;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Sink.Apply;

/// <summary>A unified event with where it came from, for offset bookkeeping.</summary>
public readonly record struct Delivered(UnifiedEvent Event, TopicPartitionOffset Offset);

/// <summary>
/// Applies one source's events to its target, in source commit order, one source transaction at a
/// time and never half: the rows of a transaction and the new applied position commit together.
/// Several whole transactions may share a target transaction; a large one is written into the open
/// target transaction in pieces (bounded memory) and still commits once. A transaction already
/// applied is skipped (idempotency by source position); one whose predecessor is missing, or that
/// arrives without its end marker or incomplete, is never applied: the Sink asks Capture to replay
/// from the slot.
/// </summary>
public sealed class SourceApplier : IAsyncDisposable
{
    private readonly string _source;
    private readonly string _target;
    private readonly NpgsqlDataSource _db;
    private readonly SinkOptions _options;
    private readonly BatchWriter _writer;
    private readonly ILogger _logger;
    private readonly Action<string, TopicPartitionOffset> _done;
    private readonly Channel<Delivered> _queue;

    private NpgsqlConnection? _conn;
    private NpgsqlTransaction? _tx;
    private Lsn _appliedCommit;
    private Lsn _appliedEnd;
    private bool _loaded;

    // The transaction being received.
    private UnifiedBegin? _open;
    private bool _skipOpen;
    private long _received;
    private bool _openFlushed;
    private readonly List<UnifiedEvent> _buffer = [];

    // Whole transactions written into the open target transaction, not yet committed.
    private readonly List<(UnifiedCommit Commit, long SourceTsMs)> _batch = [];
    private readonly List<List<UnifiedEvent>> _batchOps = [];
    private bool _batchInMemory = true;
    private int _batchRows;
    private readonly Stopwatch _batchAge = new();
    private TopicPartitionOffset? _lastOffset;
    private TopicPartitionOffset? _openFirstOffset;

    // Flow control and replay.
    private SourcePosition _receivedPosition;
    private SourcePosition _reportedPosition;
    private DateTime _lastReplayRequest = DateTime.MinValue;
    private readonly HashSet<Lsn> _careful = [];

    public SourceApplier(string source, string target, NpgsqlDataSource db, SinkOptions options, TargetTables tables, byte[]? sealKey,
        ILogger logger, Action<string, TopicPartitionOffset> done)
    {
        _source = source;
        _target = target;
        _db = db;
        _options = options;
        _logger = logger;
        _done = done;
        _writer = new BatchWriter(tables, target, source, sealKey, logger);
        _queue = Channel.CreateBounded<Delivered>(new BoundedChannelOptions(Math.Max(1000, options.MaxBatchRows))
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
        });
    }

    public ChannelWriter<Delivered> Queue => _queue.Writer;

    public async Task RunAsync(CancellationToken ct)
    {
        var delay = _options.RetryDelay;
        var lastFlow = DateTime.UtcNow;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await EnsureLoadedAsync(ct);
                var timeout = _batch.Count > 0 ? Remaining() : TimeSpan.FromMilliseconds(250);
                Delivered item = default;
                var got = _queue.Reader.TryRead(out item);
                if (!got)
                {
                    if (_batch.Count > 0 && _open is null)
                    {
                        // Nothing more waiting: do not hold whole transactions back.
                        await CommitBatchAsync(ct);
                        continue;
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
                    await HandleAsync(item, ct);
                }

                if (_batch.Count > 0 && _open is null && (_batchRows >= _options.MaxBatchRows || _batchAge.Elapsed >= _options.MaxBatchDelay))
                {
                    await CommitBatchAsync(ct);
                }

                if (DateTime.UtcNow - lastFlow > _options.FlowInterval)
                {
                    lastFlow = DateTime.UtcNow;
                    await ReportFlowAsync(ct);
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

        _loaded = true;
    }

    /// <summary>The end of the last whole transaction accepted: applied, or written into the open batch.</summary>
    private (Lsn Commit, Lsn End) Accepted => _batch.Count > 0 ? (_batch[^1].Commit.CommitLsn, _batch[^1].Commit.EndLsn) : (_appliedCommit, _appliedEnd);

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

                _open = b;
                _received = 0;
                _buffer.Clear();
                _openFlushed = false;
                _openFirstOffset = d.Offset;
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
                else
                {
                    _skipOpen = false;
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

                _buffer.Add(d.Event);
                _received++;
                _receivedPosition = d.Event switch
                {
                    RowOperation r => r.Position,
                    ParkedChange p => new SourcePosition(p.CommitLsn, p.Seq),
                    TableSchemaChange sc => new SourcePosition(sc.CommitLsn, sc.Seq),
                    TableStateChange ts => new SourcePosition(ts.CommitLsn, ts.Seq),
                    _ => _receivedPosition,
                };
                if (_buffer.Count >= _options.MaxBatchRows || _careful.Contains(_open.CommitLsn) && _buffer.Count >= 1)
                {
                    await FlushOpenAsync(ct);
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

                await FlushOpenAsync(ct);
                await WriteAppliedAsync(c, ct);
                _batch.Add((c, _open.TsMs));
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

    private void MarkDoneIfIdle()
    {
        if (_open is null && _batch.Count == 0 && _lastOffset is { } o)
        {
            _done(_source, o);
        }
    }

    private async Task<NpgsqlConnection> EnsureTransactionAsync(CancellationToken ct)
    {
        if (_conn is null)
        {
            _conn = await _db.OpenConnectionAsync(ct);
        }

        if (_tx is null)
        {
            _tx = await _conn.BeginTransactionAsync(ct);
            // Non-key unique constraints are deferrable in the targets: a set-based batch may swap values.
            await _conn.ExecuteAsync(new CommandDefinition("SET CONSTRAINTS ALL DEFERRED", transaction: _tx, cancellationToken: ct));
            _batchRows = 0;
            _batchInMemory = true;
            _batchOps.Clear();
        }

        return _conn;
    }

    /// <summary>Writes the open transaction's buffered operations into the target transaction.</summary>
    private async Task FlushOpenAsync(CancellationToken ct)
    {
        var conn = await EnsureTransactionAsync(ct);
        if (!_openFlushed)
        {
            await conn.ExecuteAsync(new CommandDefinition("SAVEPOINT source_tx", transaction: _tx, cancellationToken: ct));
            _openFlushed = true;
            _batchOps.Add([]);
        }

        if (_buffer.Count == 0)
        {
            return;
        }

        var ops = _buffer.ToList();
        _buffer.Clear();
        if (_batchInMemory && _batchRows + ops.Count <= _options.MaxBatchRows)
        {
            _batchOps[^1].AddRange(ops);
        }
        else
        {
            _batchInMemory = false;
        }

        _batchRows += ops.Count;
        try
        {
            if (_careful.Contains(_open!.CommitLsn))
            {
                await WriteCarefullyAsync(conn, ops, ct);
            }
            else
            {
                await _writer.WriteAsync(conn, ops, ct);
            }
        }
        catch (Exception e) when (SinkErrors.IsRowError(e))
        {
            if (!await RecoverFromRowErrorAsync(e, ct))
            {
                throw new ReplayRequestedException();
            }
        }
    }

    /// <summary>
    /// A statement failed because of a row (constraint, bad value): roll the target transaction back
    /// and apply the batch again one operation at a time, parking the operations that fail with the
    /// reason, so the rest of the stream keeps flowing. A transaction too large to hold in memory is
    /// replayed from the slot and then applied this careful way.
    /// </summary>
    private async Task<bool> RecoverFromRowErrorAsync(Exception error, CancellationToken ct)
    {
        var failedLsn = _open?.CommitLsn ?? Lsn.Zero;
        _logger.LogWarning("Sink {Source}: a row in transaction {Lsn} cannot be applied ({Error}); applying its batch row by row to park it",
            _source, failedLsn, SinkErrors.Describe(error));
        SinkMetrics.Errors.WithLabels(_target, "row").Inc();
        await _tx!.RollbackAsync(ct);
        await _tx.DisposeAsync();
        _tx = null;
        _writer.Schema.RolledBack();
        if (!_batchInMemory)
        {
            _careful.Add(failedLsn);
            _batch.Clear();
            _open = null;
            _skipOpen = false;
            _buffer.Clear();
            await RequestReplayAsync($"transaction {failedLsn} has a row that cannot be applied; re-reading it to apply row by row", ct, force: true);
            return false;
        }

        var committed = _batch.ToList();
        var allOps = _batchOps.ToList();
        var open = _open;
        _batch.Clear();
        _batchOps.Clear();
        var conn = await EnsureTransactionAsync(ct);
        for (var i = 0; i < allOps.Count; i++)
        {
            await conn.ExecuteAsync(new CommandDefinition("SAVEPOINT source_tx", transaction: _tx, cancellationToken: ct));
            _openFlushed = true;
            await WriteCarefullyAsync(conn, allOps[i], ct);
            if (i < committed.Count)
            {
                await WriteAppliedAsync(committed[i].Commit, ct);
                _batch.Add(committed[i]);
            }
        }

        // The open (not yet complete) transaction continues from here, still within its savepoint.
        _batchOps.Clear();
        _batchOps.AddRange(allOps);
        _open = open;
        _openFlushed = open is not null;
        if (open is not null)
        {
            _careful.Add(open.CommitLsn);
        }

        return true;
    }

    private async Task WriteCarefullyAsync(NpgsqlConnection conn, IReadOnlyList<UnifiedEvent> ops, CancellationToken ct)
    {
        foreach (var op in ops)
        {
            await conn.ExecuteAsync(new CommandDefinition("SAVEPOINT one_op", transaction: _tx, cancellationToken: ct));
            try
            {
                await _writer.WriteAsync(conn, [op], ct);
            }
            catch (Exception e) when (SinkErrors.IsRowError(e))
            {
                await conn.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT one_op", transaction: _tx, cancellationToken: ct));
                if (op is RowOperation r)
                {
                    await _writer.ParkAsync(conn, [new ParkedChange(r.Source, r.CommitLsn, r.Seq, r.Origin.Table, r.Origin.Key, r.Table,
                        $"cannot apply to {r.Table}: {SinkErrors.Describe(e)}", System.Text.Encoding.UTF8.GetString(UnifiedEventCodec.Write(r)), r.TsMs)], ct);
                }
            }

            await conn.ExecuteAsync(new CommandDefinition("RELEASE SAVEPOINT one_op", transaction: _tx, cancellationToken: ct));
        }
    }

    private async Task AbandonOpenAsync(CancellationToken ct)
    {
        if (_openFlushed && _tx is not null && _conn is not null)
        {
            await _conn.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT source_tx", transaction: _tx, cancellationToken: ct));
            _writer.Schema.RolledBack();
            if (_batchOps.Count > _batch.Count)
            {
                _batchOps.RemoveAt(_batchOps.Count - 1);
            }
        }

        _open = null;
        _buffer.Clear();
        _openFlushed = false;
    }

    private async Task WriteAppliedAsync(UnifiedCommit c, CancellationToken ct)
    {
        var conn = await EnsureTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO peeq_cdc.applied_position AS a (source, commit_lsn, end_lsn, seq, txid, source_commit_ts, applied_at)
            VALUES (@source, @commit::pg_lsn, @end::pg_lsn, @seq, @txid, to_timestamp(@ts / 1000.0), now())
            ON CONFLICT (source) DO UPDATE SET commit_lsn = excluded.commit_lsn, end_lsn = excluded.end_lsn, seq = excluded.seq,
                txid = excluded.txid, source_commit_ts = excluded.source_commit_ts, applied_at = excluded.applied_at
            WHERE a.commit_lsn < excluded.commit_lsn
            """, new { source = _source, commit = c.CommitLsn.ToString(), end = c.EndLsn.ToString(), seq = c.Operations + 1, txid = c.TxId, ts = (double)c.TsMs },
            transaction: _tx, cancellationToken: ct));
        if (c.Snapshot is { Count: > 0 })
        {
            await SnapshotProgress.RecordAsync(conn, _source, c, _writer.Schema, _logger, ct);
        }
        if (_openFlushed)
        {
            await conn.ExecuteAsync(new CommandDefinition("RELEASE SAVEPOINT source_tx", transaction: _tx, cancellationToken: ct));
        }

        _openFlushed = false;
    }

    private async Task CommitBatchAsync(CancellationToken ct)
    {
        if (_tx is null)
        {
            _batch.Clear();
            return;
        }

        var sw = Stopwatch.StartNew();
        await _tx.CommitAsync(ct);
        await _tx.DisposeAsync();
        _tx = null;
        _writer.Schema.Committed();
        var last = _batch[^1].Commit;
        _appliedCommit = last.CommitLsn;
        _appliedEnd = last.EndLsn;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var (commit, ts) in _batch)
        {
            SinkMetrics.Transactions.WithLabels(_source, "transaction").Inc();
            SinkMetrics.EndToEndSeconds.WithLabels(_source).Observe(Math.Max(0, now - ts) / 1000.0);
            _careful.Remove(commit.CommitLsn);
        }

        SinkMetrics.BatchRows.WithLabels(_target).Observe(_batchRows);
        SinkMetrics.BatchSeconds.WithLabels(_target).Observe(_batchAge.Elapsed.TotalSeconds + sw.Elapsed.TotalSeconds);
        SinkMetrics.AppliedLsn.WithLabels(_source).Set(last.CommitLsn.Value);
        SinkMetrics.LastAppliedTimestamp.WithLabels(_source).Set(_batch[^1].SourceTsMs / 1000.0);
        _batch.Clear();
        _batchOps.Clear();
        _batchRows = 0;
        _batchAge.Reset();
        if (_open is null && _lastOffset is { } o)
        {
            _done(_source, o);
        }
        else if (_openFirstOffset is { } first && first.Offset.Value > 0)
        {
            _done(_source, new TopicPartitionOffset(first.TopicPartition, first.Offset - 1));
        }
    }

    /// <summary>Tells Capture how far this Sink has received (flow control only, outside any apply transaction).</summary>
    private async Task ReportFlowAsync(CancellationToken ct)
    {
        var p = _receivedPosition;
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
        _writer.Schema.RolledBack();
        _open = null;
        _skipOpen = false;
        _buffer.Clear();
        _batch.Clear();
        _batchOps.Clear();
        _batchRows = 0;
        _batchAge.Reset();
        _openFlushed = false;
        _loaded = false;
        _lastReplayRequest = DateTime.MinValue;
    }

    public async ValueTask DisposeAsync() => await ResetAsync();
}

/// <summary>The open work was dropped and a replay from the slot requested; state restarts from the applied position.</summary>
public sealed class ReplayRequestedException : Exception;
