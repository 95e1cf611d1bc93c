using System.Threading.Channels;
using Dapper;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Reconciler.Values;
using Peeq.Cdc.Reconciler.Watermarks;
using Peeq.Cdc.Sink.Apply;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Reconciler.Rows;

/// <summary>Called for every mapped origin (the reference check watches for parents it is looking for).</summary>
public interface IOriginObserver
{
    void Observe(string source, MappedOrigin origin);
}

/// <summary>
/// Reconciles one source table against every target table its mapping feeds: the source is read once,
/// in key order, in ranges of <c>rangeRows</c> origins; each range is mapped, its lookups resolved, and
/// compared with one ordered stream of target rows per target table.
/// </summary>
public sealed class RowReconciler(RunCollector run, SensitiveHandling sensitive, int rangeRows, IOriginObserver? observer = null, ForeignIdentities? foreign = null)
{
    public async Task ReconcileAsync(SourceSnapshot snapshot, SourceTable table, ITargetMapping mapping, TargetCatalog catalog, string? movingReason,
        IReadOnlyList<PendingRecheck>? recheck, CancellationToken ct)
    {
        var target = catalog.Snapshot;
        var expectations = new Expectations(mapping, catalog, foreign);
        var comparers = new Dictionary<TableId, PairComparer>();
        var recheckOrigins = recheck?.GroupBy(r => r.Pair.TargetTable).ToDictionary(g => g.Key, g => g.Select(r => r.Origin).ToList());
        try
        {
            if (recheck is null)
            {
                // Every target table that already holds rows from this source table.
                foreach (var (id, lineage) in await catalog.LineageTablesAsync(ct))
                {
                    var any = await target.Connection.ExecuteScalarAsync<bool>(new CommandDefinition(
                        $"SELECT EXISTS (SELECT 1 FROM {Sql.QuoteIdent("peeq_cdc")}.{Sql.QuoteIdent(lineage)} WHERE source = @s AND origin_table = @t)",
                        new { s = table.Source.Name, t = table.Id.ToString() }, target.Transaction, cancellationToken: ct));
                    if (any)
                    {
                        await ComparerAsync(id, null);
                    }
                }
            }
            else
            {
                foreach (var (id, origins) in recheckOrigins!)
                {
                    await ComparerAsync(id, origins.Select(o => o.KeyJson).ToList());
                }
            }

            var keys = recheck?.Select(r => r.Origin.Key).DistinctBy(k => string.Join('\u001f', k)).ToList();

            // The source is read and mapped on a task of its own, range by range, while this one compares the
            // previous range with the target: the two sides' work overlaps (two ranges in flight at most, so
            // memory stays bounded). The comparison, its order and everything it reports stay on this task.
            var ranges = Channel.CreateBounded<List<MappedOrigin>>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
            using var abandon = new CancellationTokenSource();
            var producer = Task.Run(
                async () =>
                {
                    try
                    {
                        var batch = new List<MappedOrigin>(Math.Min(rangeRows, 10_000));
                        await foreach (var row in table.ReadAsync(snapshot, sensitive, keys, ct))
                        {
                            batch.Add(expectations.Map(row));
                            if (batch.Count >= rangeRows)
                            {
                                // Only the hand-over is abandoned when the comparison failed: the source query is not
                                // cancelled (that would abort the snapshot's transaction), the reader is closed as before.
                                await ranges.Writer.WriteAsync(batch, abandon.Token);
                                batch = new List<MappedOrigin>(Math.Min(rangeRows, 10_000));
                            }
                        }

                        await ranges.Writer.WriteAsync(batch, abandon.Token);
                    }
                    finally
                    {
                        ranges.Writer.TryComplete();
                    }
                },
                CancellationToken.None);
            try
            {
                List<MappedOrigin>? previous = null;
                while (await ranges.Reader.WaitToReadAsync(ct))
                {
                    while (ranges.Reader.TryRead(out var batch))
                    {
                        if (previous is not null)
                        {
                            await FlushAsync(previous, last: false);
                        }

                        previous = batch;
                    }
                }

                await producer; // the source side's failure, if it failed
                await FlushAsync(previous ?? [], last: true);
            }
            finally
            {
                if (!producer.IsCompleted)
                {
                    await abandon.CancelAsync();
                }

                await Task.WhenAny(producer); // its failure is the one awaited above, or secondary to this task's
            }
        }
        finally
        {
            foreach (var c in comparers.Values)
            {
                await c.CloseAsync();
            }
        }

        async Task<PairComparer> ComparerAsync(TableId id, IReadOnlyList<string>? origins)
        {
            if (!comparers.TryGetValue(id, out var c))
            {
                var info = await catalog.GetAsync(id, ct);
                var pair = run.Pair(new PairId(target.Name, id, table.Source.Name, table.Id));
                if (info is null)
                {
                    pair.Note = $"target table {id} does not exist in {target.Database}";
                }
                else if (info.Keyless)
                {
                    pair.Keyless = true;
                    pair.Note = "target table has no key: compared by count and multiset checksum (table totals)";
                }

                c = new PairComparer(pair, info, table, snapshot, target, expectations, sensitive, run, movingReason, recheck is not null);
                await c.OpenAsync(origins, ct);
                comparers[id] = c;
            }

            return c;
        }

        async Task FlushAsync(List<MappedOrigin> origins, bool last)
        {
            await expectations.BuildAsync(origins, ct);
            foreach (var o in origins)
            {
                observer?.Observe(table.Source.Name, o);
                if (recheck is null)
                {
                    foreach (var (id, expected) in o.Tables)
                    {
                        await ComparerAsync(id, null);
                        if (expected.Appends.Count > 0)
                        {
                            run.AddAppends(new PairId(target.Name, id, table.Source.Name, table.Id), expected.Appends.Count);
                        }
                    }
                }
            }

            if (recheck is null)
            {
                await UnmappableAsync(origins.Where(o => o.Unmappable is not null).ToList());
            }

            foreach (var c in comparers.Values)
            {
                if (recheck is not null && !recheckOrigins!.ContainsKey(c.Id.TargetTable))
                {
                    continue;
                }

                await c.CompareRangeAsync(origins, last, ct);
            }
        }

        async Task UnmappableAsync(List<MappedOrigin> unmappable)
        {
            if (unmappable.Count == 0)
            {
                return;
            }

            var parked = await run.ParkedOriginsAsync(target, table, unmappable.Select(o => o.KeyCanon).ToList(), ct);
            foreach (var o in unmappable)
            {
                var key = o.KeyCanon;
                var status = parked.ContainsKey(key) ? DifferenceStatus.Parked : movingReason is null ? DifferenceStatus.Different : DifferenceStatus.Unresolved;
                run.ReportUnmapped(new RowDifference(DifferenceKind.Unmapped, status, target.Name, "(not mapped)", key, table.Source.Name, table.Id.ToString(), key, [],
                    status == DifferenceStatus.Parked ? $"parked: {parked[key]}" : $"the mapping cannot map this row ({o.Unmappable}) and no parked row records it"));
            }
        }
    }
}

/// <summary>An origin of a pair to compare again in a later round.</summary>
public sealed record PendingRecheck(PairId Pair, PendingOrigin Origin);
