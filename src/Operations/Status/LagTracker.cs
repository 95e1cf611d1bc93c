using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Operations.Status;

/// <summary>What one status sample saw of one source. Null means "could not be read".</summary>
/// <param name="At">When the sample was taken (this process's clock).</param>
/// <param name="ServerLsn">pg_current_wal_lsn() on the source server, read before everything else.</param>
/// <param name="SentLsn">How far the slot's walsender has decoded and sent WAL (pg_stat_replication.sent_lsn), read after ServerLsn.</param>
/// <param name="AppliedCommit">Commit LSN of the last source transaction the target applied.</param>
/// <param name="AppliedEnd">Its end LSN.</param>
/// <param name="AppliedCommitTime">Its source commit time (a heartbeat's is when Capture read it).</param>
/// <param name="AppliedAt">When the target applied it (the target's clock).</param>
/// <param name="Received">How far the Sink has received (peeq_cdc.flow_position), if ahead of applied.</param>
/// <param name="InFlightBytes">Capture's produced-but-unapplied bytes (metric), if known.</param>
/// <param name="StageLagMessages">Messages of this source not yet committed by Transform and Sink (Kafka), if known.</param>
/// <param name="HeartbeatsSeen">Capture has seen its heartbeats come through (heartbeats are working for this source).</param>
public sealed record LagObservation(
    DateTimeOffset At,
    Lsn? ServerLsn,
    Lsn? SentLsn,
    Lsn? AppliedCommit,
    Lsn? AppliedEnd,
    DateTimeOffset? AppliedCommitTime,
    DateTimeOffset? AppliedAt,
    Lsn? Received,
    bool? CaptureUp,
    bool? Paused,
    long? InFlightBytes,
    long? StageLagMessages,
    bool HeartbeatsSeen);

/// <summary>The verdict on one source's lag.</summary>
/// <param name="LagSeconds">0 when caught up; else seconds since the target was last known complete; null when nothing was ever applied.</param>
/// <param name="CompleteAsOf">Every source commit before this time is in the target.</param>
/// <param name="Pending">Why the source is not caught up, when it is not.</param>
public sealed record LagVerdict(double? LagSeconds, bool CaughtUp, DateTimeOffset? CompleteAsOf, string? Pending);

/// <summary>
/// Decides, per source and sample after sample, up to which moment the target is known to hold everything
/// the source committed ("complete as of"), and so how far behind it is. The rules (docs/operations.md, "Lag"):
/// <list type="number">
/// <item>Applying a transaction proves everything committed before it is in: complete ≥ its source commit time.
/// Heartbeats count, so an idle source's point keeps moving.</item>
/// <item>If the applied end LSN is at or past the server's WAL position of this sample, everything written on
/// the server by now is in: complete ≥ now.</item>
/// <item>If the walsender has decoded past the server's WAL position of the previous sample, and nothing read is
/// pending anywhere (Capture streaming and not paused, no bytes in flight, no messages of this source left in
/// Kafka, nothing received but unapplied), then every commit before the previous sample is in:
/// complete ≥ previous sample time. This is what makes an idle source caught up even though its server's WAL
/// keeps moving (other databases, checkpoints, the heartbeats themselves).</item>
/// <item>Where heartbeats work, the applied position must have moved within three heartbeat intervals for rule 3
/// to apply: a Capture that stopped reading while the walsender's buffer still accepts data is not "idle".</item>
/// </list>
/// Caught up means complete as of the previous sample (at most one refresh interval ago): lag 0. Otherwise lag =
/// now − complete: an upper bound of the true lag, exact when a transaction committed right after that point.
/// </summary>
public sealed class LagTracker(TimeSpan heartbeatInterval)
{
    private readonly Dictionary<string, Track> _tracks = new(StringComparer.Ordinal);

    private sealed class Track
    {
        public DateTimeOffset? PrevAt;
        public Lsn? PrevServerLsn;
        public DateTimeOffset? CompleteAsOf;
        public Lsn? LastAppliedEnd;
        public DateTimeOffset? LastAppliedMove;
    }

    public LagVerdict Observe(string source, LagObservation o)
    {
        if (!_tracks.TryGetValue(source, out var track))
        {
            track = new Track();
            _tracks[source] = track;
        }

        if (o.AppliedEnd is { } end && end != track.LastAppliedEnd)
        {
            // First sight: take the target's own apply time; later, when this process saw it move.
            track.LastAppliedMove = track.LastAppliedEnd is null ? (o.AppliedAt ?? o.At) : o.At;
            track.LastAppliedEnd = end;
        }

        var complete = Later(track.CompleteAsOf, o.AppliedCommitTime);
        string? pending = null;
        if (o.ServerLsn is { } w && o.AppliedEnd is { } e && e >= w)
        {
            complete = Later(complete, o.At);
        }
        else
        {
            pending = Pending(o, track, out var stuck);
            if (pending is null && track.PrevAt is { } prevAt)
            {
                complete = Later(complete, prevAt);
            }
            else if (stuck)
            {
                // Heartbeats should have moved the applied position and did not: what rule 3 claimed since the
                // last move was unfounded. Back to what is proven.
                complete = Later(o.AppliedCommitTime, track.LastAppliedMove);
            }
        }

        track.CompleteAsOf = complete;
        var caughtUp = complete is { } c && (c >= o.At || track.PrevAt is { } p && c >= p);
        track.PrevAt = o.At;
        track.PrevServerLsn = o.ServerLsn ?? track.PrevServerLsn;
        if (caughtUp)
        {
            return new LagVerdict(0, true, complete, null);
        }

        return new LagVerdict(complete is { } at ? Math.Max(0, (o.At - at).TotalSeconds) : null, false, complete,
            pending ?? (track.PrevAt is null ? "first sample" : "nothing applied yet"));
    }

    /// <summary>Why rule 3 does not apply (null when it does).</summary>
    private string? Pending(LagObservation o, Track track, out bool stuck)
    {
        stuck = false;
        if (o.CaptureUp == false)
        {
            return "capture is not streaming";
        }

        if (o.Paused == true)
        {
            return "capture is paused, waiting for the sink (in-flight window full)";
        }

        if (track.PrevServerLsn is not { } prevServer)
        {
            return "first sample";
        }

        if (o.SentLsn is not { } sent)
        {
            return "the slot's walsender is not visible (not streaming, or the status role lacks pg_read_all_stats)";
        }

        if (sent < prevServer)
        {
            return $"capture has not read the source's WAL up to {prevServer} yet (sent {sent})";
        }

        if (o.InFlightBytes is null && o.StageLagMessages is null)
        {
            return "no capture metrics or Kafka offsets to tell what is pending";
        }

        if (o.InFlightBytes > 0)
        {
            return $"{o.InFlightBytes} bytes captured but not yet applied";
        }

        if (o.StageLagMessages > 0)
        {
            return $"{o.StageLagMessages} message(s) of this source not yet consumed";
        }

        if (o.Received is { } r && o.AppliedCommit is { } a && r > a)
        {
            return "a received transaction is not yet applied";
        }

        if (o.HeartbeatsSeen && track.LastAppliedMove is { } moved && o.At - moved > heartbeatInterval * 3 + TimeSpan.FromSeconds(10))
        {
            stuck = true;
            return $"the applied position has not moved for {(o.At - moved).TotalSeconds:0} s although heartbeats are on";
        }

        return null;
    }

    private static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) =>
        a is null ? b : b is null ? a : a > b ? a : b;
}
