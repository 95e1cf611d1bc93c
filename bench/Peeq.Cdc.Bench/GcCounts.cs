namespace Peeq.Cdc.Bench;

/// <summary>The process's garbage collector at one moment: bytes allocated, collections by generation, time paused.</summary>
internal readonly record struct GcCounts(long Allocated, int Gen0, int Gen1, int Gen2, TimeSpan Paused)
{
    public static GcCounts Take() =>
        new(GC.GetTotalAllocatedBytes(precise: true), GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
}
