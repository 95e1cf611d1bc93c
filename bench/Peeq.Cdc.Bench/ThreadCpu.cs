using System.Globalization;
using System.Text.RegularExpressions;

namespace Peeq.Cdc.Bench;

/// <summary>
/// CPU time (user + system) of this process, whole and by thread name, from /proc/self/stat and
/// /proc/self/task/*/stat: what a stage costs per row, much less sensitive to a shared machine's load than
/// wall time. Threads are grouped by name without digits (".NET TP Worker", "rdk:broker", "rdk:main", …), so
/// the .NET side, the producer's librdkafka threads and the embedded broker's can be told apart.
/// </summary>
public sealed partial class ThreadCpu
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ; 100 on every Linux this runs on

    private readonly Dictionary<int, (string Name, long Ticks)> _threads;
    private readonly long _process;

    private ThreadCpu(Dictionary<int, (string Name, long Ticks)> threads, long process)
    {
        _threads = threads;
        _process = process;
    }

    public static ThreadCpu Take()
    {
        var threads = new Dictionary<int, (string, long)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
        {
            if (Read(Path.Combine(dir, "stat")) is { } t)
            {
                threads[int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture)] = t;
            }
        }

        return new ThreadCpu(threads, Read("/proc/self/stat")?.Ticks ?? 0);
    }

    /// <summary>Process CPU seconds from <paramref name="before"/> to this snapshot (exited threads included).</summary>
    public double ProcessSecondsSince(ThreadCpu before) => (_process - before._process) / TicksPerSecond;

    /// <summary>CPU seconds by thread group from <paramref name="before"/> to this snapshot, largest first (threads alive at this snapshot).</summary>
    public IReadOnlyList<KeyValuePair<string, double>> GroupsSince(ThreadCpu before)
    {
        var groups = new Dictionary<string, long>();
        foreach (var (tid, (name, ticks)) in _threads)
        {
            var delta = ticks - (before._threads.TryGetValue(tid, out var b) ? b.Ticks : 0);
            if (delta > 0)
            {
                var group = Digits().Replace(name, "#");
                groups[group] = groups.GetValueOrDefault(group) + delta;
            }
        }

        return groups.OrderByDescending(g => g.Value).Select(g => new KeyValuePair<string, double>(g.Key, g.Value / TicksPerSecond)).ToList();
    }

    private static (string Name, long Ticks)? Read(string statPath)
    {
        string text;
        try
        {
            text = File.ReadAllText(statPath);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        // pid (comm) state ppid … utime stime: comm may hold spaces and parentheses, so split after the last ')'.
        var open = text.IndexOf('(', StringComparison.Ordinal);
        var close = text.LastIndexOf(')');
        var fields = text[(close + 2)..].Split(' ');
        var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
        var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        return (text[(open + 1)..close], utime + stime);
    }

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Digits();
}
