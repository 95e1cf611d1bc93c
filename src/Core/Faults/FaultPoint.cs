using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Peeq.Cdc.Faults;

/// <summary>
/// Deterministic crash points for the fault-injection tests and the soak. <c>PEEQ_CDC_FAULT=&lt;point&gt;[:&lt;count&gt;]</c>
/// makes the process kill itself with SIGKILL the <c>count</c>-th time (default 1) it reaches <c>point</c>,
/// after printing one line to stderr naming it. The variable is read once, at first use; without it every
/// <see cref="Reached"/> is a test of a static readonly field that the JIT folds away.
/// </summary>
/// <remarks>The points, each placed at a moment where a crash leaves work half acknowledged.</remarks>
public static class FaultPoint
{
    public const string Variable = "PEEQ_CDC_FAULT";

    /// <summary>Capture: the Sink has applied (so Kafka acknowledged) past the slot's confirmed LSN, and the confirm is not yet sent.</summary>
    public const string CaptureBeforeConfirm = "capture-before-confirm";

    /// <summary>Capture: a snapshot chunk has been read, merged with the stream at its watermark and handed to the producer; the next chunk not yet read.</summary>
    public const string CaptureAfterSnapshotChunk = "capture-after-snapshot-chunk";

    /// <summary>Transform: unified events are acknowledged by Kafka, the raw topic's consumer offset not yet committed.</summary>
    public const string TransformBeforeOffsetCommit = "transform-before-offset-commit";

    /// <summary>Sink: the batch's rows are written in the open target transaction, not yet committed.</summary>
    public const string SinkBeforeTargetCommit = "sink-before-target-commit";

    /// <summary>Sink: the target transaction is committed, the unified topic's consumer offset not yet committed.</summary>
    public const string SinkAfterTargetCommit = "sink-after-target-commit";

    public static readonly IReadOnlyList<string> All =
        [CaptureBeforeConfirm, CaptureAfterSnapshotChunk, TransformBeforeOffsetCommit, SinkBeforeTargetCommit, SinkAfterTargetCommit];

    private static readonly bool Armed;
    private static readonly string? Point;
    private static readonly int Count;
    private static int _hits;

    static FaultPoint()
    {
        if (Parse(Environment.GetEnvironmentVariable(Variable)) is { } armed)
        {
            (Point, Count) = armed;
            Armed = true;
        }
    }

    /// <summary>Loads the variable (at start, so a typo fails the command at once); the armed point, or null.</summary>
    public static string? Describe() => Armed ? $"{Point}:{Count}" : null;

    /// <summary>Parses <c>&lt;point&gt;[:&lt;count&gt;]</c>; null when empty. An unknown point or a bad count throws, so a typo cannot silently disarm a test.</summary>
    public static (string Point, int Count)? Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var parts = value.Trim().Split(':');
        var count = 1;
        if (!All.Contains(parts[0]) || parts.Length > 2
            || (parts.Length == 2 && (!int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out count) || count < 1)))
        {
            throw new ArgumentException($"{Variable}='{value}': expected <point>[:<count>] with count >= 1 and point one of {string.Join(", ", All)}");
        }

        return (parts[0], count);
    }

    /// <summary>Marks that the process reached <paramref name="point"/>; kills it there when armed for it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Reached(string point)
    {
        if (Armed)
        {
            Hit(point);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Hit(string point)
    {
        if (point != Point || Interlocked.Increment(ref _hits) != Count)
        {
            return;
        }

        Console.Error.WriteLine($"fault injection: {point}:{Count} reached; killing process {Environment.ProcessId} with SIGKILL");
        Console.Error.Flush();
        // Process.Kill sends SIGKILL to this process: no finally block, flush or shutdown hook runs.
        Process.GetCurrentProcess().Kill();
        Thread.Sleep(Timeout.Infinite);
    }
}
