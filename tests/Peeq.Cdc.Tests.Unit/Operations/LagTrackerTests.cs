using Peeq.Cdc.Contracts;
using Peeq.Cdc.Operations.Status;

namespace Peeq.Cdc.Tests.Unit.Operations;

/// <summary>The lag rules (docs/operations.md, "Lag"): an idle source is caught up, a stuck one is behind.</summary>
public sealed class LagTrackerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(10);

    private static LagObservation Sample(double at, ulong server, ulong? sent, ulong applied, double appliedCommitAt, long inFlight = 0, long stageLag = 0,
        bool captureUp = true, bool paused = false, bool heartbeats = true, ulong? received = null) =>
        new(T0.AddSeconds(at), new Lsn(server), sent is null ? null : new Lsn(sent.Value), new Lsn(applied), new Lsn(applied),
            T0.AddSeconds(appliedCommitAt), T0.AddSeconds(appliedCommitAt), received is null ? null : new Lsn(received.Value),
            captureUp, paused, inFlight, stageLag, heartbeats);

    [Fact]
    public void idle_source_on_a_busy_server_is_caught_up_although_the_servers_wal_moves()
    {
        var tracker = new LagTracker(Heartbeat);
        // Other databases write ~1 MB/s; this source's last commit was long ago, heartbeats keep it applied.
        tracker.Observe("tags", Sample(0, server: 1_000_000, sent: 1_000_000, applied: 990_000, appliedCommitAt: -5));
        for (var t = 1; t <= 30; t++)
        {
            var heartbeatAt = t / 10 * 10;
            var v = tracker.Observe("tags", Sample(t, server: 1_000_000 + (ulong)t * 1_000_000, sent: 1_000_000 + (ulong)t * 1_000_000 - 500,
                applied: 990_000 + (ulong)heartbeatAt * 1_000_000, appliedCommitAt: heartbeatAt - 0.2));
            Assert.True(v.CaughtUp, $"at {t} s: {v.Pending}");
            Assert.Equal(0, v.LagSeconds);
        }
    }

    [Fact]
    public void a_source_with_unapplied_changes_is_behind_by_the_time_since_it_was_last_complete()
    {
        var tracker = new LagTracker(Heartbeat);
        tracker.Observe("wallet", Sample(0, 1000, 1000, 1000, -1));
        Assert.True(tracker.Observe("wallet", Sample(1, 2000, 2000, 1000, -1)).CaughtUp);

        // From 1 s on the Sink stops applying: bytes stay in flight.
        for (var t = 2; t <= 6; t++)
        {
            var v = tracker.Observe("wallet", Sample(t, 2000 + (ulong)t, 2000 + (ulong)t, 1000, -1, inFlight: 800));
            Assert.False(v.CaughtUp);
            Assert.Equal(t - 0, v.LagSeconds!.Value, 3); // complete as of the 0 s sample (rule 3 held at 1 s for the 0 s position)
            Assert.Contains("bytes captured but not yet applied", v.Pending, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void a_transaction_applied_after_the_previous_sample_makes_the_source_caught_up()
    {
        var tracker = new LagTracker(Heartbeat);
        tracker.Observe("wallet", Sample(0, 1000, 900, 500, -3, inFlight: 100));
        var v = tracker.Observe("wallet", Sample(1, 2000, 1500, 1500, 0.5, inFlight: 100));
        Assert.True(v.CaughtUp, "a commit from after the previous sample is applied: everything before that sample is in");
        Assert.Equal(0, v.LagSeconds);
    }

    [Fact]
    public void stopped_capture_makes_the_lag_grow_from_the_last_applied_commit()
    {
        var tracker = new LagTracker(Heartbeat);
        tracker.Observe("fan", Sample(0, 1000, 1000, 1000, -0.5));
        // Everything written by the 0 s sample was applied, so at 1 s it is still within one refresh: caught up.
        Assert.True(tracker.Observe("fan", Sample(1, 1100, null, 1000, -0.5, captureUp: false)).CaughtUp);
        for (var t = 2; t <= 20; t++)
        {
            var v = tracker.Observe("fan", Sample(t, 1000 + (ulong)t * 100, null, 1000, -0.5, captureUp: false));
            Assert.False(v.CaughtUp);
            Assert.Equal(t, v.LagSeconds!.Value, 3);
            Assert.Equal("capture is not streaming", v.Pending);
        }
    }

    [Fact]
    public void paused_capture_and_unconsumed_messages_are_not_caught_up()
    {
        var tracker = new LagTracker(Heartbeat);
        tracker.Observe("a", Sample(0, 1000, 1000, 900, -1));
        Assert.Contains("paused", tracker.Observe("a", Sample(1, 1100, 1100, 900, -1, paused: true)).Pending, StringComparison.Ordinal);
        var tracker2 = new LagTracker(Heartbeat);
        tracker2.Observe("b", Sample(0, 1000, 1000, 900, -1));
        Assert.Contains("not yet consumed", tracker2.Observe("b", Sample(1, 1100, 1100, 900, -1, stageLag: 3)).Pending, StringComparison.Ordinal);
        var tracker3 = new LagTracker(Heartbeat);
        tracker3.Observe("c", Sample(0, 1000, 1000, 900, -1));
        Assert.Contains("not read the source's WAL", tracker3.Observe("c", Sample(1, 1100, 999, 900, -1)).Pending, StringComparison.Ordinal);
        var tracker4 = new LagTracker(Heartbeat);
        tracker4.Observe("d", Sample(0, 1000, 1000, 900, -1));
        Assert.Contains("received transaction", tracker4.Observe("d", Sample(1, 1100, 1100, 900, -1, received: 950)).Pending, StringComparison.Ordinal);
    }

    [Fact]
    public void capture_that_stopped_reading_is_not_idle_where_heartbeats_should_move_the_applied_position()
    {
        var tracker = new LagTracker(Heartbeat);
        tracker.Observe("e", Sample(0, 1000, 1000, 1000, -1));
        LagVerdict v = null!;
        for (var t = 1; t <= 60; t++)
        {
            // The walsender keeps sending into a socket nobody reads; nothing is in flight; nothing is applied.
            v = tracker.Observe("e", Sample(t, 1000 + (ulong)t * 10, 1000 + (ulong)t * 10, 1000, -1));
        }

        Assert.False(v.CaughtUp);
        Assert.Contains("has not moved", v.Pending, StringComparison.Ordinal);
        Assert.Equal(61, v.LagSeconds!.Value, 3); // back to the last proven point: the commit applied at -1 s
    }

    [Fact]
    public void without_capture_metrics_or_kafka_offsets_the_lag_is_the_bound_from_the_last_applied_commit()
    {
        var tracker = new LagTracker(Heartbeat);
        var first = new LagObservation(T0, new Lsn(1000), new Lsn(1000), new Lsn(900), new Lsn(900), T0.AddSeconds(-4), T0, null, null, null, null, null, false);
        tracker.Observe("x", first);
        var v = tracker.Observe("x", first with { At = T0.AddSeconds(1), ServerLsn = new Lsn(1100), SentLsn = new Lsn(1100) });
        Assert.False(v.CaughtUp);
        Assert.Equal(5, v.LagSeconds!.Value, 3);
        Assert.Contains("no capture metrics", v.Pending, StringComparison.Ordinal);

        // Everything on the server applied: caught up whatever else is unknown.
        Assert.True(tracker.Observe("x", first with { At = T0.AddSeconds(2), ServerLsn = new Lsn(1100), AppliedEnd = new Lsn(1100) }).CaughtUp);
    }

    [Fact]
    public void nothing_applied_yet_has_no_lag_figure()
    {
        var tracker = new LagTracker(Heartbeat);
        var o = new LagObservation(T0, new Lsn(1000), null, null, null, null, null, null, true, false, 0, 0, false);
        Assert.Null(tracker.Observe("new", o).LagSeconds);
        Assert.Null(tracker.Observe("new", o with { At = T0.AddSeconds(1) }).LagSeconds);
    }
}
