using System.Diagnostics;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>
/// Rows written so far against the rows planned. On a terminal it redraws one progress bar line;
/// otherwise it prints a line every few seconds (and each finished database), so logs stay readable.
/// </summary>
public sealed class SeedProgress(long plannedRows, TextWriter? output)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _terminal = output is not null && output == Console.Error && !Console.IsErrorRedirected;
    private long _rows;
    private TimeSpan _lastPrint = TimeSpan.Zero;
    private readonly Lock _lock = new();

    public long Rows => Interlocked.Read(ref _rows);

    public long PlannedRows => plannedRows;

    /// <summary>The table being written (for the progress line).</summary>
    public string Current { get; set; } = "";

    public void Add(long rows) => Interlocked.Add(ref _rows, rows);

    /// <summary>Prints the progress line if it is time (called from a timer).</summary>
    public void Tick(bool force = false)
    {
        if (output is null)
        {
            return;
        }

        lock (_lock)
        {
            var now = _clock.Elapsed;
            if (!force && now - _lastPrint < (_terminal ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromSeconds(5)))
            {
                return;
            }

            _lastPrint = now;
            var rows = Rows;
            var fraction = plannedRows == 0 ? 1 : Math.Min(1, (double)rows / plannedRows);
            const int width = 30;
            var filled = (int)(fraction * width);
            var bar = new string('#', filled) + new string('-', width - filled);
            var rate = now.TotalSeconds > 0 ? rows / now.TotalSeconds : 0;
            var line = $"seed-data [{bar}] {fraction,4:P0} {rows,12:N0} rows {now.TotalSeconds,6:0.0} s {rate,9:N0} rows/s  {Current}";
            if (_terminal)
            {
                output.Write("\r" + line.PadRight(Console.BufferWidth > 0 ? Math.Min(Console.BufferWidth - 1, 160) : 120));
            }
            else
            {
                output.WriteLine(line);
            }
        }
    }

    /// <summary>A line of its own (a finished database), without breaking the bar.</summary>
    public void Say(string message)
    {
        if (output is null)
        {
            return;
        }

        lock (_lock)
        {
            output.WriteLine(_terminal ? "\r" + message.PadRight(Math.Max(message.Length, 120)) : message);
        }
    }

    public void Finish()
    {
        Tick(force: true);
        if (_terminal && output is not null)
        {
            output.WriteLine();
        }
    }
}
