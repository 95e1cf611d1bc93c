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
using Prometheus;

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
/// One replication session of one source: from the slot's confirmed position (or a new slot) to the end
/// of the stream, a replay request from the Sink, or a failure. The caller restarts sessions; each starts
/// again from the confirmed position, so a session can end anywhere without loss. While it streams, the
/// snapshots the target still lacks are taken in chunks (<see cref="ChunkedSnapshot"/>) and merged into
/// the stream at their watermarks (<see cref="WatermarkTracker"/>); append-only tables, and every table
/// on PostgreSQL 13, are read whole from an exported snapshot (<see cref="ExportedSnapshot"/>).
/// </summary>
public sealed class SourceCaptureSession
{
    public const string HeartbeatPrefix = "peeq-cdc.heartbeat";

    private readonly SourceCaptureContext ctx;
    private readonly string _name;
    private readonly string _session = Guid.NewGuid().ToString("N")[..12];
    private readonly RawEventWriter _encoder = new();
    private readonly WatermarkTracker _tracker;
    private readonly HashSet<uint> _pendingSchema = [];
    private readonly Counter.Child _eventsInsert;
    private readonly Counter.Child _eventsUpdate;
    private readonly Counter.Child _eventsDelete;
    private readonly Counter.Child _eventsTruncate;
    private readonly Counter.Child _eventsRead;
    private readonly Counter.Child _transactions;
    private readonly Gauge.Child _lastCommitTimestamp;
    private Lsn _prevEnd;
    private Lsn _lastPosition;
    private long _lastReplayRequested;
    private DateTime _lastCommitSeen = DateTime.UtcNow;
    private Exception? _monitorFailure;
    private volatile bool _streaming;

    // The slot exists (found or created): from then on its disappearance is an error.
    private volatile bool _slotReady;

    public SourceCaptureSession(SourceCaptureContext context)
    {
        ctx = context;
        _name = ctx.Source.Options.Name;
        _tracker = new WatermarkTracker(_session);
        _eventsInsert = CaptureMetrics.Events.WithLabels(_name, "c");
        _eventsUpdate = CaptureMetrics.Events.WithLabels(_name, "u");
        _eventsDelete = CaptureMetrics.Events.WithLabels(_name, "d");
        _eventsTruncate = CaptureMetrics.Events.WithLabels(_name, "t");
        _eventsRead = CaptureMetrics.Events.WithLabels(_name, "r");
        _transactions = CaptureMetrics.Transactions.WithLabels(_name, "transaction");
        _lastCommitTimestamp = CaptureMetrics.LastCommitTimestamp.WithLabels(_name);
    }

    /// <summary>Runs until cancelled, a replay is requested (returns), or the session fails (throws).</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var options = ctx.Source.Options;
        await using var repl = new LogicalReplicationConnection(PgConnections.Prepare(options.ConnectionString, $"peeq-cdc capture {_name}"))
        {
            // Sent by a timer whether or not the stream is being read: while Capture waits for the Sink it
            // reads nothing, and only these keep the walsender from ending the connection at wal_sender_timeout.
            WalReceiverStatusInterval = ctx.Source.StatusInterval(ctx.Options.StatusInterval),
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
        Task? snapshots = null;
        ExportedSnapshotHold? hold = null;
        try
        {
            var prepared = await PrepareSlotAsync(repl, relations, progress, sessionCts.Token);
            hold = prepared.Hold;
            _slotReady = true;
            var runner = new ChunkedSnapshot(ctx, relations, _tracker, async t =>
            {
                await sessionCts.CancelAsync();
            });
            snapshots = RunSnapshotsAsync(runner, prepared, sessionCts);
            await StreamAsync(repl, relations, prepared.Start, sessionCts.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && sessionCts.IsCancellationRequested)
        {
            // The monitor or the snapshot runner ended the session (replay requested, slot lost, delivery
            // failure, a snapshot that needs a fresh exported snapshot): see below.
        }
        finally
        {
            _tracker.Abort();
            await sessionCts.CancelAsync();
            foreach (var task in new[] { monitor, snapshots })
            {
                try
                {
                    if (task is not null)
                    {
                        await task;
                    }
                }
                catch (OperationCanceledException)
                {
                }
            }

            if (hold is not null)
            {
                await hold.DisposeAsync();
            }
        }

        ct.ThrowIfCancellationRequested();
        if (_monitorFailure is { } failure)
        {
            throw failure;
        }
    }

    private async Task RunSnapshotsAsync(ChunkedSnapshot runner, PreparedSlot prepared, CancellationTokenSource session)
    {
        try
        {
            await runner.RunAsync(prepared.Chunked, prepared.KnownGenerations, session.Token);
        }
        catch (OperationCanceledException) when (session.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            CaptureMetrics.Errors.WithLabels(_name, "snapshot").Inc();
            _monitorFailure ??= e is NpgsqlException or TimeoutException
                ? new SnapshotReadException($"source '{_name}': snapshot read failed: {PgConnections.Explain(e)}", e)
                : e;
            await session.CancelAsync();
        }
    }

    /// <summary>Where streaming starts, the keyed snapshots still to take, and a held exported snapshot if one is pending.</summary>
    private sealed record PreparedSlot(Lsn Start, IReadOnlyList<SnapshotWork> Chunked, IReadOnlyDictionary<TableId, long> KnownGenerations, ExportedSnapshotHold? Hold);

    private async Task<PreparedSlot> PrepareSlotAsync(LogicalReplicationConnection repl, RelationCache relations, SinkProgress progress, CancellationToken ct)
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

            return await CreateSlotAsync(repl, relations, ct);
        }

        CheckSlot(slot);
        _slotReady = true;
        if (!progress.HasApplied)
        {
            if (!options.CreateReplicationObjects)
            {
                throw new CaptureSetupException(
                    $"source '{_name}': slot '{slot.Name}' exists but the target has never applied anything of this source; "
                    + "a pre-created slot cannot export the snapshot its append-only tables need. Drop the slot, or let Capture create it (createReplicationObjects: true).");
            }

            // Our own slot from a run that died before anything was applied: nothing was confirmed past
            // its consistent point, so starting over loses nothing.
            ctx.Logger.LogWarning("Source {Source}: nothing was applied from slot {Slot} yet; dropping it and starting over", _name, slot.Name);
            _slotReady = false;
            await repl.DropReplicationSlot(slot.Name, wait: true, cancellationToken: ct);
            return await CreateSlotAsync(repl, relations, ct);
        }

        _prevEnd = slot.ConfirmedFlush;
        _lastPosition = slot.ConfirmedFlush;
        Dictionary<TableId, TableSnapshotState> states;
        Dictionary<TableId, long> requests;
        await using (var target = await ctx.Target.OpenConnectionAsync(ct))
        {
            var forgotten = await SnapshotStore.ForgetAsync(target, _name, ctx.Source.Tables.Keys.ToList(), ct);
            if (forgotten > 0)
            {
                ctx.Logger.LogInformation("Source {Source}: forgot the snapshot state of {Count} table(s) no longer captured", _name, forgotten);
            }

            states = await SnapshotStore.ReadAsync(target, _name, ct);
            requests = await SnapshotStore.LatestRequestsAsync(target, _name, ct);
        }

        var plan = SnapshotStore.Plan(ctx.Source.Tables.Keys, states, requests);
        var exported = plan.Where(NeedsExportedSnapshot).ToList();
        var known = states.ToDictionary(kv => kv.Key, kv => kv.Value.Generation);
        ExportedSnapshotHold? hold = null;
        if (exported.Count > 0)
        {
            hold = await HoldExportedSnapshotAsync(relations, exported, ct);
            foreach (var w in exported)
            {
                known[w.Table] = w.Generation;
            }
        }

        ctx.Logger.LogInformation("Source {Source}: streaming from slot {Slot} at {Lsn}{Snapshots}", _name, slot.Name, slot.ConfirmedFlush,
            plan.Count > 0 ? $"; snapshots to take: {string.Join(", ", plan.Select(p => p.Table))}" : "");
        return new PreparedSlot(slot.ConfirmedFlush, plan.Except(exported).ToList(), known, hold);
    }

    /// <summary>Append-only tables, and every table where the stream cannot carry watermarks (PostgreSQL 13), are read whole from an exported snapshot.</summary>
    private bool NeedsExportedSnapshot(SnapshotWork w) => !ctx.Source.SupportsMessages || ctx.Source.Tables[w.Table].IsKeyless;

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
                + "the WAL it needed is gone, so changes were lost between the last applied position and now. It is not recreated silently. "
                + $"Run 'peeq-cdc source reset {_name}' to drop it and take a new snapshot of every table (raise max_slot_wal_keep_size, or keep the Sink closer, so it does not happen again).");
        }
    }

    /// <summary>
    /// A new slot: every table needs a snapshot. Its exported snapshot is read at once for the tables that
    /// take one (it is only valid until the replication connection starts streaming), as one snapshot
    /// transaction positioned just before the slot's consistent point; keyed tables are taken in chunks
    /// while streaming.
    /// </summary>
    private async Task<PreparedSlot> CreateSlotAsync(LogicalReplicationConnection repl, RelationCache relations, CancellationToken ct)
    {
        Dictionary<TableId, long> requests;
        await using (var target = await ctx.Target.OpenConnectionAsync(ct))
        {
            // Nothing of this source was applied: whatever snapshot state the target still has belongs to a
            // slot that no longer exists.
            await SnapshotStore.ForgetAsync(target, _name, [], ct);
            requests = await SnapshotStore.LatestRequestsAsync(target, _name, ct);
        }

        var plan = SnapshotStore.Plan(ctx.Source.Tables.Keys, new Dictionary<TableId, TableSnapshotState>(), requests);
        var slot = await repl.CreatePgOutputReplicationSlot(ctx.Source.Options.SlotName, temporarySlot: false,
            slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct);
        _slotReady = true;
        var consistent = new Lsn((ulong)slot.ConsistentPoint);
        ctx.Logger.LogInformation("Source {Source}: created slot {Slot} at {Lsn}; snapshots to take: {Tables}", _name, slot.Name, consistent,
            string.Join(", ", plan.Select(p => p.Table)));
        _prevEnd = Lsn.Zero;
        _lastPosition = Lsn.Zero;
        var exported = plan.Where(NeedsExportedSnapshot).ToList();
        if (exported.Count > 0)
        {
            await using var conn = await ctx.Control.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
            await conn.ExecuteAsync(new CommandDefinition($"SET TRANSACTION SNAPSHOT {Sql.QuoteLiteral(slot.SnapshotName!)}", transaction: tx, cancellationToken: ct));
            var job = await ExportedJobAsync(conn, relations, exported, consistent, ct);
            await EmitExportedAsync(job, ct);
            await tx.CommitAsync(ct);
        }

        return new PreparedSlot(consistent, plan.Except(exported).ToList(), plan.ToDictionary(p => p.Table, p => p.Generation), null);
    }

    /// <summary>
    /// For tables that need an exported snapshot on an existing slot: a temporary slot exports one (seeing
    /// exactly the transactions that committed before its consistent point), a connection imports it and
    /// holds it; the reader leaves those tables' changes before that point out of the stream and emits
    /// the read in their place (<see cref="KeylessSnapshotJob"/>). Must happen before streaming starts.
    /// </summary>
    private async Task<ExportedSnapshotHold> HoldExportedSnapshotAsync(RelationCache relations, IReadOnlyList<SnapshotWork> work, CancellationToken ct)
    {
        var hold = new ExportedSnapshotHold();
        try
        {
            hold.Replication = new LogicalReplicationConnection(PgConnections.Prepare(ctx.Source.Options.ConnectionString, $"peeq-cdc capture {_name} snapshot"));
            await hold.Replication.Open(ct);
            var name = $"{ctx.Source.Options.SlotName}_snap_{_session}";
            var slot = await hold.Replication.CreatePgOutputReplicationSlot(name.Length > 63 ? name[..63] : name, temporarySlot: true,
                slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct);
            hold.Connection = await ctx.Control.OpenConnectionAsync(ct);
            hold.Transaction = await hold.Connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
            await hold.Connection.ExecuteAsync(new CommandDefinition($"SET TRANSACTION SNAPSHOT {Sql.QuoteLiteral(slot.SnapshotName!)}",
                transaction: hold.Transaction, cancellationToken: ct));
            var consistent = new Lsn((ulong)slot.ConsistentPoint);
            var job = await ExportedJobAsync(hold.Connection, relations, work, consistent, ct);
            _tracker.StartKeyless(job);
            ctx.Logger.LogInformation("Source {Source}: {Tables} will be read from an exported snapshot at {Lsn}", _name,
                string.Join(", ", work.Select(w => w.Table)), consistent);
            return hold;
        }
        catch
        {
            await hold.DisposeAsync();
            throw;
        }
    }

    private async Task<KeylessSnapshotJob> ExportedJobAsync(NpgsqlConnection conn, RelationCache relations, IReadOnlyList<SnapshotWork> work, Lsn consistent, CancellationToken ct)
    {
        var tables = new List<KeylessTable>();
        foreach (var w in work)
        {
            tables.Add(new KeylessTable(w.Table, w.Generation, await ChunkedSnapshot.EstimateRowsAsync(conn, ctx.Source.Tables[w.Table], ct, count: false)));
        }

        return new KeylessSnapshotJob(tables, consistent,
            (job, onRow, token) => ExportedSnapshot.ReadAsync(ctx, conn, relations, job, onRow, token));
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
                    {
                        var commit = new Lsn((ulong)b.TransactionFinalLsn);
                        await EmitDueExportedAsync(commit, ct);
                        tx.Begin(commit, b.TransactionXid, ToUnixMs(b.TransactionCommitTimestamp));
                        _tracker.OnBegin(b.TransactionXid);
                        ctx.Producer.ProduceBegin(new TxBegin(_name, tx.CommitLsn, _prevEnd, tx.Xid, tx.TsMs, TransactionKind.Transaction, _session));
                        _lastPosition = commit;
                        break;
                    }

                case RelationMessage r:
                    {
                        var (rel, changed) = await relations.UpdateAsync(r, ct);
                        if (changed && ctx.Source.Tables.ContainsKey(rel.Table))
                        {
                            if (tx.Open)
                            {
                                EmitSchema(tx, rel);
                            }
                            else
                            {
                                _pendingSchema.Add(rel.RelationId);
                            }
                        }

                        break;
                    }

                case InsertMessage i:
                    {
                        var rel = relations[i.Relation.RelationId];
                        // Npgsql reuses the message: every value is copied out before the next one is read.
                        var after = await CapturedRow.ReadAsync(i.NewRow, rel.Columns, ctx.Protector, ct);
                        if (!Suppressed(tx, rel))
                        {
                            var key = Emit(tx, rel, ChangeOp.Create, new Lsn((ulong)i.WalStart), null, after, after, _eventsInsert);
                            Watch(rel, key, null, after);
                        }

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
                        if (!Suppressed(tx, rel))
                        {
                            var key = Emit(tx, rel, ChangeOp.Update, new Lsn((ulong)u.WalStart), before, after, after, _eventsUpdate);
                            Watch(rel, key, before, after);
                        }

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
                        if (!Suppressed(tx, rel))
                        {
                            var key = Emit(tx, rel, ChangeOp.Delete, new Lsn((ulong)d.WalStart), before, null, before, _eventsDelete);
                            Watch(rel, key, null, null);
                        }

                        break;
                    }

                case TruncateMessage t:
                    foreach (var r in t.Relations)
                    {
                        var rel = relations[r.RelationId];
                        if (!Suppressed(tx, rel))
                        {
                            Emit(tx, rel, ChangeOp.Truncate, new Lsn((ulong)t.WalStart), null, null, null, _eventsTruncate);
                            _tracker.OnTruncate(rel.Table);
                        }
                    }

                    break;
                case LogicalDecodingMessage m when !tx.Open && m.Prefix == HeartbeatPrefix:
                    {
                        // Decoded in WAL order: every transaction that committed before it has been sent.
                        // pgoutput reports a non-transactional message at its record's *end*, which can be
                        // exactly the commit LSN of the next transaction; one byte earlier is strictly
                        // between the two commits, so the heartbeat never claims a transaction's position.
                        var at = new Lsn((ulong)m.MessageLsn - 1);
                        await EmitDueExportedAsync(at, ct);
                        if (at > _prevEnd && at > _lastPosition)
                        {
                            var ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                            ctx.Producer.ProduceBegin(new TxBegin(_name, at, _prevEnd, 0, ts, TransactionKind.Heartbeat, _session));
                            ctx.Producer.ProduceEnd(new TxEnd(_name, at, at, 0, ts, 0, []));
                            ctx.Logger.LogDebug("Source {Source}: heartbeat at {Lsn} after {Prev}", _name, at, _prevEnd);
                            _prevEnd = at;
                            _lastPosition = at;
                            CaptureMetrics.Transactions.WithLabels(_name, "heartbeat").Inc();
                        }

                        CaptureMetrics.HeartbeatTimestamp.WithLabels(_name).Set(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
                        break;
                    }

                case LogicalDecodingMessage m when !tx.Open && m.Prefix == WatermarkTracker.Prefix:
                    {
                        // Positioned like a heartbeat: strictly between the commits around it.
                        var at = new Lsn((ulong)m.MessageLsn - 1);
                        using var content = new MemoryStream();
                        await m.Data.CopyToAsync(content, ct);
                        await EmitDueExportedAsync(at, ct);
                        if (_tracker.OnWatermark(Encoding.UTF8.GetString(content.GetBuffer(), 0, (int)content.Length), at) is { } action)
                        {
                            await EmitChunkAsync(action, at, ct);
                        }

                        break;
                    }

                case CommitMessage c:
                    {
                        var end = new Lsn((ulong)c.TransactionEndLsn);
                        ctx.Producer.ProduceEnd(new TxEnd(_name, tx.CommitLsn, end, tx.Xid, tx.TsMs, tx.Seq, tx.Collections()));
                        _tracker.OnCommit();
                        _prevEnd = end;
                        tx.Close();
                        _lastCommitSeen = DateTime.UtcNow;
                        _transactions.Inc();
                        _lastCommitTimestamp.Set(ToUnixMs(c.TransactionCommitTimestamp) / 1000.0);
                        break;
                    }
            }

            if (ctx.Window.IsFull)
            {
                await WaitForRoomAsync(ct);
            }
        }
    }

    private async Task WaitForRoomAsync(CancellationToken ct)
    {
        CaptureMetrics.Paused.WithLabels(_name).Set(1);
        await ctx.Window.WaitForRoomAsync(ct);
        CaptureMetrics.Paused.WithLabels(_name).Set(0);
    }

    /// <summary>
    /// A change of a table no longer captured (the slot still holds WAL from before the publication lost it:
    /// removing a table means its changes stop), or of a table whose pending exported-snapshot read already holds it.
    /// </summary>
    private bool Suppressed(TransactionState tx, CapturedRelation rel) =>
        !ctx.Source.Tables.ContainsKey(rel.Table) || _tracker.SuppressChange(rel.Table, tx.CommitLsn);

    /// <summary>Tells the tracker which rows a change touched and what it left there (<paramref name="after"/>; null: gone), when a snapshot of its table is running.</summary>
    private void Watch(CapturedRelation rel, byte[] key, CapturedRow? before, CapturedRow? after)
    {
        if (!rel.HasKey || !_tracker.Watches(rel.Table))
        {
            return;
        }

        _tracker.OnChange(rel.Table, key, after);
        if (before is not null && _encoder.Key(before.KeyImage, rel.Table) is var old && !old.AsSpan().SequenceEqual(key))
        {
            // The key changed: the old key's row is gone from where the chunk read it.
            _tracker.OnChange(rel.Table, old, null);
        }
    }

    /// <summary>Writes one change event; returns its Kafka key.</summary>
    private byte[] Emit(TransactionState tx, CapturedRelation rel, ChangeOp op, Lsn changeLsn, CapturedRow? before, CapturedRow? after, CapturedRow? keySource, Counter.Child counter)
    {
        if (!tx.Open)
        {
            throw new InvalidOperationException("a change arrived outside a transaction");
        }

        if (_pendingSchema.Remove(rel.RelationId))
        {
            EmitSchema(tx, rel);
        }

        var (seq, collectionOrder) = tx.Next(rel.Table);
        var position = new SourcePosition(tx.CommitLsn, seq);
        RawEventCodec.WriteChange(_encoder.StartValue(), _name, ctx.Source.Database, rel.Table, op, position, changeLsn, tx.Xid, tx.TsMs, snapshot: false,
            before, after, after?.Unchanged, collectionOrder);
        var key = _encoder.Key(keySource is not null && rel.HasKey ? keySource.KeyImage : null, rel.Table);
        ctx.Producer.ProduceChange(key, _encoder.Value, position);
        counter.Inc();
        return key;
    }

    /// <summary>The table's columns as pgoutput now describes them, ahead of the transaction's first change of it.</summary>
    private void EmitSchema(TransactionState tx, CapturedRelation rel)
    {
        var position = new SourcePosition(tx.CommitLsn, tx.NextSchema());
        ctx.Producer.ProduceSchema(Encoding.UTF8.GetBytes(rel.Table.ToString()),
            RawEventCodec.WriteSchema(new RawSchemaChange(_name, ctx.Source.Database, rel.Table, position, tx.Xid, tx.TsMs, rel.Schema)), position);
        ctx.Logger.LogInformation("Source {Source}: {Table} has columns {Columns} from {Position} on", _name, rel.Table,
            string.Join(", ", rel.Schema.Select(c => $"{c.Name} {c.TypeSql}{(c.IsKey ? " (key)" : "")}")), position);
        CaptureMetrics.SchemaEvents.WithLabels(_name).Inc();
    }

    /// <summary>Emits a keyed table's chunk at its high watermark, without the rows the stream already carries newer.</summary>
    private async Task EmitChunkAsync(WatermarkAction action, Lsn at, CancellationToken ct)
    {
        var chunk = action.Chunk;
        if (at <= _prevEnd || at <= _lastPosition)
        {
            throw new InvalidOperationException($"high watermark at {at} is not after the last position emitted ({_prevEnd})");
        }

        var ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        ctx.Producer.ProduceBegin(new TxBegin(_name, at, _prevEnd, 0, ts, TransactionKind.Snapshot, _session));
        long seq = 0;
        foreach (var row in chunk.Rows)
        {
            var image = row.Row;
            if (action.Drop is null)
            {
                continue;
            }

            // The stream carries a dropped row newer; unless it cannot carry it whole (unchanged TOAST): merged here.
            var key = Encoding.UTF8.GetString(row.Key);
            if (action.Drop.Contains(key) && !action.Merged.TryGetValue(key, out image))
            {
                continue;
            }

            var position = new SourcePosition(at, ++seq);
            RawEventCodec.WriteChange(_encoder.StartValue(), _name, ctx.Source.Database, chunk.Table, ChangeOp.Read, position, at, 0, ts, snapshot: true,
                null, image, image.Unchanged, seq);
            ctx.Producer.ProduceChange(row.Key, _encoder.Value, position);
            if ((seq & 255) == 0 && ctx.Window.IsFull)
            {
                await WaitForRoomAsync(ct);
            }
        }

        ctx.Producer.ProduceEnd(new TxEnd(_name, at, at, 0, ts, seq, seq > 0 ? [new(chunk.Table.ToString(), seq)] : [], [chunk.Mark(action.Since)]));
        _prevEnd = at;
        _lastPosition = at;
        _eventsRead.Inc(seq);
        CaptureMetrics.Transactions.WithLabels(_name, "snapshot").Inc();
        chunk.Emitted.TrySetResult((int)seq);
    }

    /// <summary>Before anything positioned at or after a pending exported snapshot's consistent point, that snapshot is emitted.</summary>
    private async Task EmitDueExportedAsync(Lsn position, CancellationToken ct)
    {
        if (_tracker.KeylessDue(position) is { } job)
        {
            await EmitExportedAsync(job, ct);
        }
    }

    /// <summary>
    /// Emits tables read from an exported snapshot as one snapshot transaction just before its consistent
    /// point: after every transaction the snapshot saw, before every one it did not. Produced as read, so
    /// memory stays bounded whatever the tables' size.
    /// </summary>
    private async Task EmitExportedAsync(KeylessSnapshotJob job, CancellationToken ct)
    {
        var at = new Lsn(job.ConsistentPoint.Value - 1);
        if (at <= _lastPosition && !_lastPosition.IsZero)
        {
            throw new InvalidOperationException($"exported snapshot at {at} is not after the last position emitted ({_lastPosition})");
        }

        var ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        ctx.Producer.ProduceBegin(new TxBegin(_name, at, _prevEnd, 0, ts, TransactionKind.Snapshot, _session));
        long seq = 0;
        var collections = new Dictionary<TableId, long>();
        await job.Read(job, async (table, row) =>
        {
            var position = new SourcePosition(at, ++seq);
            var count = collections[table] = collections.GetValueOrDefault(table) + 1;
            RawEventCodec.WriteChange(_encoder.StartValue(), _name, ctx.Source.Database, table, ChangeOp.Read, position, at, 0, ts, snapshot: true,
                null, row, row.Unchanged, count);
            var key = _encoder.Key(row.HasKey ? row.KeyImage : null, table);
            ctx.Producer.ProduceChange(key, _encoder.Value, position);
            if ((seq & 255) == 0 && ctx.Window.IsFull)
            {
                await WaitForRoomAsync(ct);
            }
        }, ct);
        var end = Lsn.Max(at, _prevEnd);
        ctx.Producer.ProduceEnd(new TxEnd(_name, at, end, 0, ts, seq,
            collections.Select(kv => new KeyValuePair<string, long>(kv.Key.ToString(), kv.Value)).ToList(),
            job.Tables.Select(t => new SnapshotMark(t.Table, t.Generation, 1, null, true, t.Rows, t.TotalRows, at)).ToList()));
        _prevEnd = end;
        _lastPosition = at;
        _eventsRead.Inc(seq);
        CaptureMetrics.Transactions.WithLabels(_name, "snapshot").Inc();
        ctx.Logger.LogInformation("Source {Source}: snapshot of {Tables} from the exported snapshot at {Lsn}: {Rows} rows", _name,
            string.Join(", ", job.Tables.Select(t => t.Table)), job.ConsistentPoint, seq);
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
        var statusInterval = ctx.Source.StatusInterval(ctx.Options.StatusInterval);
        var lastStatus = DateTime.UtcNow;
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
                    Faults.FaultPoint.Reached(Faults.FaultPoint.CaptureBeforeConfirm);
                    confirmed = progress.AppliedEnd;
                    repl.SetReplicationStatus(new NpgsqlLogSequenceNumber(confirmed.Value));
                    await SendStatusAsync(repl, ct);
                    lastStatus = DateTime.UtcNow;
                    CaptureMetrics.ConfirmedLsn.WithLabels(_name).Set(confirmed.Value);
                }
                else if (_streaming && DateTime.UtcNow - lastStatus >= statusInterval)
                {
                    // Nothing new to confirm (the Sink is down or behind, the window is full and the stream is
                    // not being read): standby status still goes out, so the walsender never takes the wait
                    // for a dead connection (wal_sender_timeout). Npgsql's own timer does the same; this one
                    // does not depend on it.
                    await SendStatusAsync(repl, ct);
                    lastStatus = DateTime.UtcNow;
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

    private static async Task SendStatusAsync(LogicalReplicationConnection repl, CancellationToken ct)
    {
        try
        {
            await repl.SendStatusUpdate(ct).WaitAsync(TimeSpan.FromSeconds(5), ct);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            // Not streaming (yet, or any more): the status goes with the next periodic update.
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

        /// <summary>The next change's position in the transaction and its order within its table's changes.</summary>
        public (long Seq, long CollectionOrder) Next(TableId table)
        {
            ref var count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_collections, table, out _);
            count++;
            return (++Seq, count);
        }

        /// <summary>A schema event takes a position in the transaction but is not a change of a data collection.</summary>
        public long NextSchema() => ++Seq;

        public IReadOnlyList<KeyValuePair<string, long>> Collections() =>
            _collections.Select(kv => new KeyValuePair<string, long>(kv.Key.ToString(), kv.Value)).ToList();

        public void Close() => Open = false;
    }
}

/// <summary>A snapshot read failed (the source went away, a table vanished); the session restarts and the snapshot resumes.</summary>
public sealed class SnapshotReadException(string message, Exception inner) : Exception(message, inner);

/// <summary>A temporary slot's exported snapshot, imported and held open by a connection until the stream has emitted its read.</summary>
internal sealed class ExportedSnapshotHold : IAsyncDisposable
{
    public LogicalReplicationConnection? Replication { get; set; }

    public NpgsqlConnection? Connection { get; set; }

    public NpgsqlTransaction? Transaction { get; set; }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Transaction is not null)
            {
                await Transaction.DisposeAsync();
            }

            if (Connection is not null)
            {
                await Connection.DisposeAsync();
            }

            if (Replication is not null)
            {
                // Closing the connection drops the temporary slot.
                await Replication.DisposeAsync();
            }
        }
        catch (Exception)
        {
            // Already broken; the server drops the temporary slot with the connection.
        }
    }
}
