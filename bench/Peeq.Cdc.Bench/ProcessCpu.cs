using System.Globalization;
using System.Runtime.InteropServices;

namespace Peeq.Cdc.Bench;

/// <summary>
/// CPU time (user + system) of a process, read from <c>/proc/&lt;pid&gt;/stat</c>: a worker's own, or a PostgreSQL
/// server's — the postmaster, its live children and the children it has already reaped (a backend that exited, whose
/// time the kernel adds to the postmaster's <c>cutime</c>/<c>cstime</c>). Used to say where a benchmark's CPU went on
/// a machine whose cores every stage, both servers and the broker share.
/// </summary>
public static class ProcessCpu
{
    private const int ScClkTck = 2;

    private static readonly double TicksPerSecond = Math.Max(1, sysconf(ScClkTck));

    /// <summary>The process's own CPU time, or null once it has exited.</summary>
    public static TimeSpan? Of(int pid) => Read(pid) is { } t ? TimeSpan.FromSeconds((t.User + t.System) / TicksPerSecond) : null;

    /// <summary>
    /// A PostgreSQL server's CPU time: its postmaster (pid from <c>postmaster.pid</c> in <paramref name="dataDirectory"/>),
    /// the children it has reaped and the ones still running.
    /// </summary>
    public static TimeSpan Server(string dataDirectory)
    {
        var postmaster = int.Parse(File.ReadLines(Path.Combine(dataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        var own = Read(postmaster) ?? throw new InvalidOperationException($"the postmaster of {dataDirectory} (process {postmaster}) is not running");
        var ticks = own.User + own.System + own.ChildrenUser + own.ChildrenSystem;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && pid != postmaster && Read(pid) is { } child && child.Parent == postmaster)
            {
                ticks += child.User + child.System;
            }
        }

        return TimeSpan.FromSeconds(ticks / TicksPerSecond);
    }

    private static Stat? Read(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // The command name (field 2) is in parentheses and may hold spaces: the fields after it start at field 3 (state).
        var f = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        long L(int field) => long.Parse(f[field - 3], CultureInfo.InvariantCulture);
        return new Stat((int)L(4), L(14), L(15), L(16), L(17));
    }

    [DllImport("libc")]
    private static extern long sysconf(int name);

    private readonly record struct Stat(int Parent, long User, long System, long ChildrenUser, long ChildrenSystem);
}
