using System.Text;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Transform.Debezium;

/// <summary>A unified transaction formed from Debezium events, and the input offsets it consumed (to commit once it is delivered).</summary>
public sealed record AssembledTransaction(IReadOnlyList<UnifiedEvent> Events, IReadOnlyDictionary<string, long> Consumed);

/// <summary>
/// Turns one Debezium source's per-table topics into the ordered stream of transactions the Sink applies.
/// With Debezium's transaction metadata, a transaction is passed on whole, in the transaction topic's
/// (commit) order, once its END and all its events have arrived: atomic like Capture's. Without it,
/// changes are ordered by Debezium's position (the last commit LSN before the transaction, then the
/// change's LSN), held back for a lateness window so the other tables' topics can catch up, and
/// consecutive changes of one source transaction travel together; the guarantee is then per row (each
/// table topic keeps a key's changes in order, and a replayed older version is always followed by the
/// newer one). Commit positions continue from what the target has applied, so the Sink's idempotency by
/// position holds across restarts.
/// </summary>
public sealed class DebeziumAssembler(string source, ITargetMapping mapping, bool transactions, TimeSpan lateness, IReadOnlySet<string> collections, Lsn appliedCommit)
{
    private readonly List<Pending> _buffer = [];
    private readonly Queue<DebeziumTransaction> _ends = new();
    private readonly Dictionary<string, string> _txOrigins = [];
    private ulong _last = appliedCommit.Value;
    private long _arrival;

    private sealed record Pending(DebeziumChange Change, string Origin, long Offset, DateTime At, long Arrival, string Payload);

    public int Buffered => _buffer.Count;

    public void AddChange(DebeziumChange change, string topicPartition, long offset, DateTime now, byte[] payload) =>
        _buffer.Add(new Pending(change, topicPartition, offset, now, _arrival++, Encoding.UTF8.GetString(payload)));

    public void AddTransaction(DebeziumTransaction t, string topicPartition, long offset)
    {
        if (t.Status == "END")
        {
            _ends.Enqueue(t);
            _txOrigins[t.Id] = $"{topicPartition}@{offset}";
        }
    }

    /// <summary>The transactions that can be passed on now, in order.</summary>
    public IEnumerable<AssembledTransaction> Release(DateTime now)
    {
        while (true)
        {
            List<Pending>? group = null;
            Dictionary<string, long> consumed = [];
            if (transactions && _ends.TryPeek(out var end))
            {
                var expected = end.DataCollections.Where(d => collections.Contains(d.Key)).Sum(d => d.Value);
                var members = _buffer.Where(p => p.Change.TransactionId == end.Id).ToList();
                if (members.Count >= expected)
                {
                    _ends.Dequeue();
                    group = members.OrderBy(p => p.Change.Lsn).ThenBy(p => p.Arrival).ToList();
                    if (_txOrigins.Remove(end.Id, out var origin))
                    {
                        var at = origin.LastIndexOf('@');
                        consumed[origin[..at]] = long.Parse(origin[(at + 1)..], System.Globalization.CultureInfo.InvariantCulture) + 1;
                    }

                    if (group.Count == 0)
                    {
                        // A transaction of tables this pipeline does not read: only its marker is consumed.
                        yield return new AssembledTransaction([], consumed);
                        continue;
                    }
                }
            }

            if (group is null)
            {
                // Changes outside transaction metadata (snapshots, or metadata disabled): by position, after the lateness window.
                var loose = _buffer.Where(p => !transactions || p.Change.TransactionId is null)
                    .OrderBy(p => p.Change.CommitOrder).ThenBy(p => p.Change.Lsn).ThenBy(p => p.Arrival).ToList();
                if (loose.Count == 0 || now - loose[0].At < lateness)
                {
                    yield break;
                }

                var head = loose[0].Change;
                group = loose.TakeWhile(p => now - p.At >= lateness && p.Change.TxId == head.TxId && p.Change.CommitOrder == head.CommitOrder
                    && p.Change.Change.Snapshot == head.Change.Snapshot).ToList();
            }

            foreach (var p in group)
            {
                _buffer.Remove(p);
                consumed[p.Origin] = Math.Max(consumed.GetValueOrDefault(p.Origin), p.Offset + 1);
            }

            yield return Assemble(group, consumed);
        }
    }

    private AssembledTransaction Assemble(List<Pending> group, Dictionary<string, long> consumed)
    {
        var first = group[0].Change;
        _last = Math.Max(_last + 1, first.CommitOrder);
        var commit = new Lsn(_last);
        var events = new List<UnifiedEvent>
        {
            new UnifiedBegin(source, commit, Lsn.Zero, first.TxId, first.Change.TsMs, first.Change.Snapshot ? TransactionKind.Snapshot : TransactionKind.Transaction, "debezium"),
        };
        var output = new MappingOutput();
        var seq = 0L;
        foreach (var p in group)
        {
            seq++;
            var change = p.Change.Change with { Position = new SourcePosition(commit, seq) };
            output.Clear();
            try
            {
                mapping.Map(change, output);
                events.AddRange(output.Operations);
            }
            catch (MappingException e)
            {
                TransformMetrics.Parked.WithLabels(source, change.Table.ToString()).Inc();
                events.Add(new ParkedChange(source, commit, seq, change.Table, change.Key, e.TargetTable, e.Message, p.Payload, change.TsMs));
            }
        }

        events.Add(new UnifiedCommit(source, commit, commit, first.TxId, first.Change.TsMs, events.Count - 1));
        return new AssembledTransaction(events, consumed);
    }
}
