using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Capture.Position;

/// <summary>
/// Bytes a source has produced to Kafka that the Sink has neither applied nor received. Capture stops
/// reading the slot while this exceeds its limit (backpressure), which bounds both Capture's memory and
/// how much the broker must hold: the embedded broker keeps only ~5 MiB per partition.
/// </summary>
public sealed class InFlightWindow(long limitBytes, Prometheus.Gauge.Child? peak = null)
{
    private readonly Queue<(SourcePosition Position, long Bytes)> _entries = new();
    private readonly Lock _lock = new();
    private TaskCompletionSource _room = NewSignal();
    private long _inFlight;
    private long _peak;

    public long LimitBytes { get; } = limitBytes;

    /// <summary>The most bytes ever in flight at once (at most the limit plus one message).</summary>
    public long PeakBytes
    {
        get
        {
            lock (_lock)
            {
                return _peak;
            }
        }
    }

    public long InFlightBytes
    {
        get
        {
            lock (_lock)
            {
                return _inFlight;
            }
        }
    }

    /// <summary>Records a produced message.</summary>
    public void Add(SourcePosition position, long bytes)
    {
        lock (_lock)
        {
            _entries.Enqueue((position, bytes));
            _inFlight += bytes;
            if (_inFlight > _peak)
            {
                // The proof that memory stays bounded whatever the transaction size: set only when it grows.
                _peak = _inFlight;
                peak?.Set(_peak);
            }

            if (_inFlight > LimitBytes && _room.Task.IsCompleted)
            {
                _room = NewSignal();
            }
        }
    }

    /// <summary>Releases everything at or before <paramref name="received"/> and every transaction at or before <paramref name="appliedCommit"/>.</summary>
    public void Release(Lsn appliedCommit, SourcePosition received)
    {
        lock (_lock)
        {
            while (_entries.TryPeek(out var e) && (e.Position.CommitLsn <= appliedCommit || e.Position <= received))
            {
                _entries.Dequeue();
                _inFlight -= e.Bytes;
            }

            if (_inFlight <= LimitBytes)
            {
                _room.TrySetResult();
            }
        }
    }

    /// <summary>Forgets everything (a new session re-produces from the confirmed position).</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _entries.Clear();
            _inFlight = 0;
            _room.TrySetResult();
        }
    }

    public bool IsFull
    {
        get
        {
            lock (_lock)
            {
                return _inFlight > LimitBytes;
            }
        }
    }

    /// <summary>Completes when there is room again.</summary>
    public Task WaitForRoomAsync(CancellationToken ct)
    {
        Task t;
        lock (_lock)
        {
            if (_inFlight <= LimitBytes)
            {
                return Task.CompletedTask;
            }

            t = _room.Task;
        }

        return t.WaitAsync(ct);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
