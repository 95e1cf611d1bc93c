using System.Globalization;
using System.Text;

namespace Peeq.Cdc.Operations.Status;

/// <summary>The status as plain-text tables (<c>peeq-cdc status</c>): the same figures the dashboard shows.</summary>
public static class StatusTable
{
    public static string Render(PipelineStatus s)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"peeq-cdc status at {s.SampledAt:yyyy-MM-dd HH:mm:ss} UTC (metrics: {s.Metrics})");
        sb.AppendLine();
        Table(sb,
            ["source", "target", "state", "lag", "lag WAL", "slot lag", "retained WAL", "wal_status", "heartbeat", "events/s", "tx/s", "latency", "p99 30s", "parked", "snapshot", "transform lag", "sink lag"],
            s.Sources.Select(x => new[]
            {
                x.Name, x.Target, x.State, Seconds(x.LagSeconds), Bytes(x.LagBytes), Bytes(x.SlotLagBytes), Bytes(x.RetainedWalBytes), x.WalStatus ?? "",
                Seconds(x.HeartbeatAgeSeconds), Rate(x.EventsPerSecond), Rate(x.TransactionsPerSecond), Seconds(x.LatencyMeanSeconds), Seconds(x.LatencyP99Seconds),
                Number(x.ParkedRows), x.Snapshot is { } sn ? (sn.Percent is { } p ? $"{p:0}%" : "") + (sn.TablesLoading > 0 ? $" {sn.TablesLoading} loading" : "") : "",
                Number(x.TransformLagMessages), Number(x.SinkLagMessages),
            }),
            rightAligned: [3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 15, 16]);
        sb.AppendLine();
        Table(sb, ["server", "retained WAL (all slots)", "slots", "max_slot_wal_keep_size"],
            s.Servers.Select(x => new[] { x.Server, Bytes(x.RetainedWalBytes), Number(x.Slots), Bytes(x.MaxSlotWalKeepSizeBytes) }), rightAligned: [1, 2, 3]);
        sb.AppendLine();
        Table(sb, ["target", "reachable", "rows applied", "rows/s", "parked rows", "tables loading", "tables parked", "dangling refs"],
            s.Targets.Select(x => new[]
            {
                x.Name, x.Reachable ? "yes" : "NO", Number(x.RowsApplied), Rate(x.RowsPerSecond), Number(x.ParkedRows), Number(x.TablesLoading), Number(x.TablesParked), Number(x.DanglingReferences),
            }),
            rightAligned: [2, 3, 4, 5, 6, 7]);
        if (s.Stages.Count > 0)
        {
            sb.AppendLine();
            Table(sb, ["stage", "group", "consumer lag"], s.Stages.Select(x => new[] { x.Stage, x.Group, x.Problem is null ? Number(x.LagMessages) : "?" }), rightAligned: [2]);
        }

        if (s.Reconciliations.Count > 0)
        {
            sb.AppendLine();
            Table(sb, ["reconciliation", "finished", "verdict", "summary"],
                s.Reconciliations.Take(5).Select(r => new[] { r.RunId, r.FinishedAt.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), r.Verdict, r.Summary }), rightAligned: []);
        }

        foreach (var p in s.Problems)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"problem: {p}");
        }

        foreach (var x in s.Sources.Where(x => x.StateReason is not null && x.State != "caught-up"))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{x.Name}: {x.State}: {x.StateReason}");
        }

        return sb.ToString();
    }

    private static void Table(StringBuilder sb, string[] header, IEnumerable<string[]> rows, int[] rightAligned)
    {
        var all = new List<string[]> { header };
        all.AddRange(rows);
        var widths = header.Select((_, i) => all.Max(r => r[i].Length)).ToArray();
        foreach (var r in all)
        {
            sb.AppendLine(string.Join("  ", r.Select((c, i) => rightAligned.Contains(i) ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd());
        }
    }

    public static string Bytes(long? v)
    {
        if (v is null)
        {
            return "";
        }

        if (v < 0)
        {
            return "unlimited";
        }

        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double x = v.Value;
        var i = 0;
        while (x >= 1024 && i < units.Length - 1)
        {
            x /= 1024;
            i++;
        }

        return i == 0 ? $"{x:0} B" : string.Create(CultureInfo.InvariantCulture, $"{x:0.0} {units[i]}");
    }

    public static string Seconds(double? v) => v switch
    {
        null => "",
        < 1 => string.Create(CultureInfo.InvariantCulture, $"{v * 1000:0} ms"),
        < 120 => string.Create(CultureInfo.InvariantCulture, $"{v:0.0} s"),
        < 7200 => string.Create(CultureInfo.InvariantCulture, $"{v / 60:0.0} min"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{v / 3600:0.0} h"),
    };

    private static string Rate(double? v) => v is null ? "" : string.Create(CultureInfo.InvariantCulture, $"{v:0.#}");

    private static string Number(double? v) => v is null ? "" : v.Value.ToString("#,0", CultureInfo.InvariantCulture);

    private static string Number(long? v) => v is null ? "" : v.Value.ToString("#,0", CultureInfo.InvariantCulture);

    private static string Number(int? v) => v is null ? "" : v.Value.ToString("#,0", CultureInfo.InvariantCulture);
}
