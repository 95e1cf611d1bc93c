using System.Text;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;
using Peeq.Cdc.Capture.Position;
using Peeq.Cdc.Capture.Snapshot;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Capture.Replication;

/// <summary>Everything a capture session of one source needs, shared across its restarts.</summary>
public sealed record SourceCaptureContext(
    PreparedSource Source,
    CaptureOptions Options,
    NpgsqlDataSource Control,
    NpgsqlDataSource Target,
    RawEventProducer Producer,
    InFlightWindow Window,
    ISensitiveValueProtector Protector,
    ILogger Logger);

/// <summary>
/// One replication session of one source: from the slot's confirmed position (or a new slot and its
/// initial snapshot) to the end of the stream, a replay request from the Sink, or a failure. The
/// caller restarts sessions; each starts again from the confirmed position, so a session can end
/// anywhere without loss.
/// </summary>
public sealed class SourceCaptureSession(SourceCaptureContext ctx)
{
    public const string HeartbeatPrefix = "peeq-cdc.heartbeat";

    private readonly string _name = ctx.Source.Options.Name;
    private readonly string _session = Guid.NewGuid().ToString("N")[..12];
    private readonly EventBuffer _buffer = new();
    private Lsn _prevEnd;
    private long _lastReplayRequested;
    private DateTime _lastCommitSeen = DateTime.UtcNow;

    /// <summary>Runs until cancelled, a replay is requested (returns), or the session fails (throws).</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var options = ctx.Source.Options;
        await using var repl = new LogicalReplicationConnection(PgConnections.Prepare(options.ConnectionString, $"peeq-cdc capture {_name}"))
        {
            WalReceiverStatusInterval = ctx.Options.StatusInterval,
            WalReceiverTimeout = TimeSpan.FromSeconds(Math.Max(60, ctx.Options.StatusInterval.TotalSeconds * 6)),
        };
        await repl.Open(ct);
        ctx.Window.Reset();

        var progress = await new AppliedPositionFollower(ctx.Target, _name).ReadAsync(ct);
        _lastReplayRequested = progress.ReplayRequested;
        var relations = new RelationCache(ctx.Control, ctx.Source);

        // The monitor releases the in-flight window from the start (a snapshot can exceed it), but only
        // confirms to the slot once streaming has begun: nothing may be sent on the replication
        // connection while its exported snapshot is in use.
        using var sessionCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var monitor = MonitorAsync(repl, sessionCts);
        try
        {
            var start = await PrepareSlotAsync(repl, relations, progress, sessionCts.Token);
            await StreamAsync(repl, relations, start, sessionCts.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && sessionCts.IsCancellationRequested)
        {
            // The monitor ended the session (replay requested, slot lost, delivery failure): see below.
        }
        finally
        {
            await sessionCts.CancelAsync();
            try
            {
                await monitor;
            }
            catch (OperationCanceledException)
            {
            }
        }

        ct.ThrowIfCancellationRequested();
        if (_monitorFailure is { } failure)
        {
            throw failure;
        }
    }

    private Exception? _monitorFailure;
    private volatile bool _streaming;

    // Set once the slot exists: creating one waits for every running transaction on the server (seconds,
    // when many sources start together), and a health check before then would take it for dropped.
    private volatile bool _slotReady;

    private async Task<Lsn> PrepareSlotAsync(LogicalReplicationConnection repl, RelationCache relations, SinkProgress progress, CancellationToken ct)
    {
        var options = ctx.Source.Options;
        var slot = await ReadSlotAsync(ct);
        if (slot is null)
        {
            if (progress.HasApplied)
            {
                throw new CaptureSetupException(
                    $"source '{_name}': replication slot '{options.SlotName}' does not exist, but the target has applied this source up to {progress.AppliedEnd}. "
                    + "The slot was dropped or lost, so changes after that position may be missing; it is not recreated silently. "
                    + $"Check, then run 'peeq-cdc source reset {_name}' to take a new snapshot.");
            }

            return await CreateSlotAndSnapshotAsync(repl, relations, ct);
        }

        CheckSlot(slot);
        _slotReady = true;
        if (!progress.HasApplied)
        {
            if (!options.CreateReplicationObjects)
            {
                throw new CaptureSetupException(
                    $"source '{_name}': slot '{slot.Name}' exists but the target has never applied this source's initial snapshot; "
                    + "a pre-created slot cannot export a snapshot. Drop the slot, or let Capture create it (createReplicationObjects: true).");
            }

            // Our own slot from a run that died before its initial snapshot was applied: nothing was
            // confirmed past the snapshot point, so starting over loses nothing.
            ctx.Logger.LogWarning("Source {Source}: initial snapshot never completed; dropping slot {Slot} and starting over", _name, slot.Name);
            _slotReady = false;
            await repl.DropReplicationSlot(slot.Name, wait: true, cancellationToken: ct);
            return await CreateSlotAndSnapshotAsync(repl, relations, ct);
        }

        _prevEnd = slot.ConfirmedFlush;
        ctx.Logger.LogInformation("Source {Source}: streaming from slot {Slot} at {Lsn}", _name, slot.Name, slot.ConfirmedFlush);
        return slot.ConfirmedFlush;
    }

    private async Task<SlotState?> ReadSlotAsync(CancellationToken ct)
    {
        await using var conn = await ctx.Control.OpenConnectionAsync(ct);
        return await ReplicationSetup.ReadSlotAsync(conn, ctx.Source.Options.SlotName, ct);
    }

    private void CheckSlot(SlotState slot)
    {
        if (slot.Plugin != "pgoutput")
        {
            throw new CaptureSetupException($"source '{_name}': slot '{slot.Name}' uses plugin '{slot.Plugin}', not pgoutput; use another slot name or drop it");
        }

        if (slot.Database != ctx.Source.Database)
        {
            throw new CaptureSetupException($"source '{_name}': slot '{slot.Name}' belongs to database '{slot.Database}', not '{ctx.Source.Database}'");
        }

        if (slot.IsLost)
        {
            CaptureMetrics.Errors.WithLabels(_name, "slot_lost").Inc();
            throw new CaptureSetupException(
                $"source '{_name}': replication slot '{slot.Name}' was invalidated (wal_status = {slot.WalStatus}, max_slot_wal_keep_size exceeded): "
                + "the WAL it needed is gone, so changes were lost between the last applied position and now. "
                + $"Drop it and take a new snapshot: 'peeq-cdc source reset {_name}'.");
        }
    }

    private async Task<Lsn> CreateSlotAndSnapshotAsync(LogicalReplicationConnection repl, RelationCache relations, CancellationToken ct)
    {
        var slot = await repl.CreatePgOutputReplicationSlot(ctx.Source.Options.SlotName, temporarySlot: false,
            slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct);
        _slotReady = true;
        var consistent = new Lsn((ulong)slot.ConsistentPoint);
        ctx.Logger.LogInformation("Source {Source}: created slot {Slot} at {Lsn}; taking the initial snapshot", _name, slot.Name, consistent);
        await new ExportedSnapshot(ctx, relations).RunAsync(slot.SnapshotName!, consistent, _session, ct);
        _prevEnd = consistent;
        return consistent;
    }

    private async Task StreamAsync(LogicalReplicationConnection repl, RelationCache relations, Lsn start, CancellationToken ct)
    {
        var publications = ctx.Source.Publications;
        var options = new PgOutputReplicationOptions(publications, PgOutputProtocolVersion.V1, binary: false,
            streamingMode: PgOutputStreamingMode.Off, messages: ctx.Source.SupportsMessages ? true : null);
        var slot = new PgOutputReplicationSlot(ctx.Source.Options.SlotName);
        CaptureMetrics.Up.WithLabels(_name).Set(1);

        var tx = new TransactionState();
        await foreach (var message in repl.StartReplication(slot, options, ct, new NpgsqlLogSequenceNumber(start.Value)))
        {
            // Status updates are only valid once the server is streaming to us.
            _streaming = true;
            switch (message)
            {
                case BeginMessage b:
                    tx.Begin(new Lsn((ulong)b.TransactionFinalLsn), b.TransactionXid, ToUnixMs(b.TransactionCommitTimestamp));
                    ctx.Producer.ProduceBegin(new TxBegin(_name, tx.CommitLsn, _prevEnd, tx.Xid, tx.TsMs, TransactionKind.Transaction, _session));
                    break;
                case RelationMessage r:
                    await relations.UpdateAsync(r, ct);
                    break;
                case InsertMessage i:
                    {
                        var rel = relations[i.Relation.RelationId];
                        var after = await CapturedRow.ReadAsync(i.NewRow, rel.Columns, ctx.Protector, ct);
                        Emit(tx, rel, ChangeOp.Create, new Lsn((ulong)i.WalStart), null, after, after);
                        break;
                    }

                case UpdateMessage u:
                    {
                        var rel = relations[u.Relation.RelationId];
                        // Npgsql reuses the message: the old tuple must be read before the new one.
                        CapturedRow? before = u switch
                        {
                            FullUpdateMessage f => await CapturedRow.ReadAsync(f.OldRow, rel.Columns, ctx.Protector, ct),
                            IndexUpdateMessage k => await CapturedRow.ReadAsync(k.Key, rel.Columns, ctx.Protector, ct, keyOnly: true),
                            _ => null,
                        };
                        var after = await CapturedRow.ReadAsync(u.NewRow, rel.Columns, ctx.Protector, ct);
                        Emit(tx, rel, ChangeOp.Update, new Lsn((ulong)u.WalStart), before, after, after);
                        break;
                    }

                case DeleteMessage d:
                    {
                        var rel = relations[d.Relation.RelationId];
                        var before = d switch
                        {
                            FullDeleteMessage f => await CapturedRow.ReadAsync(f.OldRow, rel.Columns, ctx.Protector, ct),
                            KeyDeleteMessage k => await CapturedRow.ReadAsync(k.Key, rel.Columns, ctx.Protector, ct, keyOnly: true),
                            _ => throw new InvalidOperationException($"unexpected delete message {d.GetType().Name}"),
                        };
                        Emit(tx, rel, ChangeOp.Delete, new Lsn((ulong)d.WalStart), before, null, before);
                        break;
                    }

                case TruncateMessage t:
                    foreach (var r in t.Relations)
                    {
                        var rel = relations[r.RelationId];
                        Emit(tx, rel, ChangeOp.Truncate, new Lsn((ulong)t.WalStart), null, null, null);
                    }

                    break;
                case LogicalDecodingMessage m when !tx.Open && m.Prefix == HeartbeatPrefix:
                    {
                        // Decoded in WAL order: every transaction that committed before it has been sent.
                        // pgoutput reports a non-transactional message at its record's *end*, which can be
                        // exactly the commit LSN of the next transaction; one byte earlier is strictly
                        // between the two commits, so the heartbeat never claims a transaction's position.
                        var at = new Lsn((ulong)m.MessageLsn - 1);
                        if (at > _prevEnd)
                        {
                            var ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                            ctx.Producer.ProduceBegin(new TxBegin(_name, at, _prevEnd, 0, ts, TransactionKind.Heartbeat, _session));
                            ctx.Producer.ProduceEnd(new TxEnd(_name, at, at, 0, ts, 0, []));
                            ctx.Logger.LogDebug("Source {Source}: heartbeat at {Lsn} after {Prev}", _name, at, _prevEnd);
                            _prevEnd = at;
                            CaptureMetrics.Transactions.WithLabels(_name, "heartbeat").Inc();
                        }

                        CaptureMetrics.HeartbeatTimestamp.WithLabels(_name).Set(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
                        break;
                    }

                case CommitMessage c:
                    {
                        var end = new Lsn((ulong)c.TransactionEndLsn);
                        ctx.Producer.ProduceEnd(new TxEnd(_name, tx.CommitLsn, end, tx.Xid, tx.TsMs, tx.Seq, tx.Collections()));
                        _prevEnd = end;
                        tx.Close();
                        _lastCommitSeen = DateTime.UtcNow;
                        CaptureMetrics.Transactions.WithLabels(_name, "transaction").Inc();
                        CaptureMetrics.LastCommitTimestamp.WithLabels(_name).Set(ToUnixMs(c.TransactionCommitTimestamp) / 1000.0);
                        break;
                    }
            }

            if (ctx.Window.IsFull)
            {
                CaptureMetrics.Paused.WithLabels(_name).Set(1);
                await ctx.Window.WaitForRoomAsync(ct);
                CaptureMetrics.Paused.WithLabels(_name).Set(0);
            }
        }
    }

    private void Emit(TransactionState tx, CapturedRelation rel, ChangeOp op, Lsn changeLsn, CapturedRow? before, CapturedRow? after, CapturedRow? keySource)
    {
        if (!tx.Open)
        {
            throw new InvalidOperationException("a change arrived outside a transaction");
        }

        var seq = tx.Next(rel.Table);
        var position = new SourcePosition(tx.CommitLsn, seq);
        var writer = _buffer.Writer;
        RawEventCodec.WriteChange(writer, _name, ctx.Source.Database, rel.Table, op, position, changeLsn, tx.Xid, tx.TsMs, snapshot: false,
            before, after, after?.Unchanged, tx.CollectionOrder(rel.Table));
        var key = RawEventCodec.WriteKey(keySource is not null && rel.HasKey ? keySource.KeyImage : null, rel.Table.ToString());
        ctx.Producer.ProduceChange(key, _buffer.Written, position);
        CaptureMetrics.Events.WithLabels(_name, RawEventCodec.OpCode(op)).Inc();
    }

    /// <summary>
    /// Every ack interval: confirm the slot up to what the Sink applied, release the in-flight window,
    /// and end the session when the Sink asks for a replay or a delivery failed. Every heartbeat
    /// interval: a heartbeat, slot health, and append-only checks.
    /// </summary>
    private async Task MonitorAsync(LogicalReplicationConnection repl, CancellationTokenSource session)
    {
        var ct = session.Token;
        var follower = new AppliedPositionFollower(ctx.Target, _name);
        var confirmed = Lsn.Zero;
        var nextHealth = DateTime.UtcNow;
        var nextHeartbeat = DateTime.UtcNow + ctx.Options.HeartbeatInterval;
        var appendOnlyCounts = new Dictionary<TableId, long>();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(ctx.Options.AckInterval, ct);
                var progress = await follower.ReadAsync(ct);
                ctx.Window.Release(progress.AppliedCommit, progress.Received);
                ctx.Logger.LogDebug("Source {Source}: sink applied {Applied}, received {Received}, in flight {InFlight} bytes",
                    _name, progress.AppliedEnd, progress.Received, ctx.Window.InFlightBytes);
                CaptureMetrics.InFlightBytes.WithLabels(_name).Set(ctx.Window.InFlightBytes);
                if (_streaming && progress.AppliedEnd > confirmed)
                {
                    confirmed = progress.AppliedEnd;
                    repl.SetReplicationStatus(new NpgsqlLogSequenceNumber(confirmed.Value));
                    try
                    {
                        await repl.SendStatusUpdate(ct).WaitAsync(TimeSpan.FromSeconds(5), ct);
                    }
                    catch (Exception e) when (e is InvalidOperationException or TimeoutException)
                    {
                        // Not streaming (yet, or any more): the status goes with the next periodic update.
                    }

                    CaptureMetrics.ConfirmedLsn.WithLabels(_name).Set(confirmed.Value);
                }

                if (progress.ReplayRequested > _lastReplayRequested)
                {
                    ctx.Logger.LogWarning("Source {Source}: the Sink saw a gap after {Lsn}; replaying from the slot", _name, progress.AppliedEnd);
                    CaptureMetrics.Replays.WithLabels(_name).Inc();
                    await session.CancelAsync();
                    return;
                }

                if (ctx.Producer.Failure is { } failure)
                {
                    CaptureMetrics.Errors.WithLabels(_name, "produce").Inc();
                    _monitorFailure = new KafkaDeliveryException($"source '{_name}': delivery to {ctx.Producer.Topic} failed: {failure.Message}", failure);
                    await session.CancelAsync();
                    return;
                }

                CaptureMetrics.LastCommitAge.WithLabels(_name).Set((DateTime.UtcNow - _lastCommitSeen).TotalSeconds);
                if (DateTime.UtcNow >= nextHeartbeat)
                {
                    nextHeartbeat = DateTime.UtcNow + ctx.Options.HeartbeatInterval;
                    await HeartbeatAsync(ct);
                }

                if (_slotReady && DateTime.UtcNow >= nextHealth)
                {
                    nextHealth = DateTime.UtcNow + TimeSpan.FromSeconds(5);
                    await CheckHealthAsync(appendOnlyCounts, session, ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                // The target or source is briefly unreachable: the window simply stays closed.
                ctx.Logger.LogWarning("Source {Source}: position check failed: {Error}", _name, PgConnections.Explain(e));
            }
            catch (Exception e)
            {
                ctx.Logger.LogError(e, "Source {Source}: monitor failed", _name);
                _monitorFailure = e;
                await session.CancelAsync();
                return;
            }
        }
    }

    private async Task HeartbeatAsync(CancellationToken ct)
    {
        if (!ctx.Source.SupportsMessages)
        {
            return;
        }

        try
        {
            await using var conn = await ctx.Control.OpenConnectionAsync(ct);
            await conn.ExecuteAsync(new CommandDefinition(
                "SELECT pg_logical_emit_message(false, @prefix, '')", new { prefix = HeartbeatPrefix }, cancellationToken: ct));
        }
        catch (PostgresException e) when (e.SqlState == "42501")
        {
            ctx.Logger.LogWarning(
                "Source {Source}: cannot write heartbeats ({Error}); an idle source's slot will hold WAL. Run GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) TO the capture role.",
                _name, e.MessageText);
        }
    }

    private async Task CheckHealthAsync(Dictionary<TableId, long> appendOnlyCounts, CancellationTokenSource session, CancellationToken ct)
    {
        await using var conn = await ctx.Control.OpenConnectionAsync(ct);
        var slot = await ReplicationSetup.ReadSlotAsync(conn, ctx.Source.Options.SlotName, ct);
        if (slot is null || slot.IsLost)
        {
            CaptureMetrics.Errors.WithLabels(_name, "slot_lost").Inc();
            _monitorFailure = new CaptureSetupException(slot is null
                ? $"source '{_name}': replication slot '{ctx.Source.Options.SlotName}' was dropped while streaming; it is not recreated silently. Run 'peeq-cdc source reset {_name}' after checking."
                : $"source '{_name}': replication slot '{slot.Name}' was invalidated (wal_status = lost, max_slot_wal_keep_size exceeded): changes were lost. Run 'peeq-cdc source reset {_name}' to take a new snapshot.");
            await session.CancelAsync();
            return;
        }

        CaptureMetrics.SlotLagBytes.WithLabels(_name).Set(Lsn.Distance(slot.CurrentLsn, slot.ConfirmedFlush));
        CaptureMetrics.RetainedWalBytes.WithLabels(_name).Set(Lsn.Distance(slot.CurrentLsn, slot.Restart));
        CaptureMetrics.SafeWalSizeBytes.WithLabels(_name).Set(slot.SafeWalSize ?? -1);
        foreach (var status in new[] { "reserved", "extended", "unreserved", "lost" })
        {
            CaptureMetrics.SlotWalStatus.WithLabels(_name, status).Set(slot.WalStatus == status ? 1 : 0);
        }

        foreach (var t in ctx.Source.AppendOnlyTables)
        {
            var changed = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT coalesce(n_tup_upd + n_tup_del, 0) FROM pg_stat_user_tables WHERE relid = @oid::oid", new { oid = (long)t.Oid }, cancellationToken: ct));
            if (appendOnlyCounts.TryGetValue(t.Id, out var seen) && changed > seen)
            {
                CaptureMetrics.AppendOnlyViolations.WithLabels(_name, t.Id.ToString()).Inc(changed - seen);
                ctx.Logger.LogWarning(
                    "Source {Source}: {Count} update(s)/delete(s) on append-only table {Table} were not replicated (no primary key or replica identity). "
                    + "To replicate them, run ALTER TABLE {Quoted} REPLICA IDENTITY FULL; and re-snapshot the table.",
                    _name, changed - seen, t.Id, t.Id.Quoted);
            }

            appendOnlyCounts[t.Id] = changed;
        }
    }

    private static long ToUnixMs(DateTime t) => new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)).ToUnixTimeMilliseconds();

    /// <summary>The source transaction being streamed.</summary>
    private sealed class TransactionState
    {
        private readonly Dictionary<TableId, long> _collections = [];

        public bool Open { get; private set; }

        public Lsn CommitLsn { get; private set; }

        public long Xid { get; private set; }

        public long TsMs { get; private set; }

        public long Seq { get; private set; }

        public void Begin(Lsn commit, uint xid, long tsMs)
        {
            Open = true;
            CommitLsn = commit;
            Xid = xid;
            TsMs = tsMs;
            Seq = 0;
            _collections.Clear();
        }

        public long Next(TableId table)
        {
            _collections[table] = _collections.GetValueOrDefault(table) + 1;
            return ++Seq;
        }

        public long CollectionOrder(TableId table) => _collections.GetValueOrDefault(table);

        public IReadOnlyList<KeyValuePair<string, long>> Collections() =>
            _collections.Select(kv => new KeyValuePair<string, long>(kv.Key.ToString(), kv.Value)).ToList();

        public void Close() => Open = false;
    }
}
