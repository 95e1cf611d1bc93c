using System.Globalization;
using System.Text.Json;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Operations.Status;
using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration.Dashboard;

/// <summary>
/// The built-in dashboard in a real browser (Debian's headless Chromium) while a pipeline runs: the page loads,
/// polls /api/status, and the figures it shows agree with /metrics and with the status API.
/// </summary>
public sealed class DashboardBrowserTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(20) };

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _http.Dispose();
        _kafka.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task page_in_chromium_shows_the_figures_of_metrics_and_the_status_api()
    {
        HeadlessChromium.Executable(); // fail first, with the reason, on a machine without a browser
        var source = await SharedPostgres.CreateDatabaseAsync("dash_browser_src");
        var target = await SharedPostgres.CreateDatabaseAsync("dash_browser_dst");
        await SharedPostgres.ExecuteAsync(source, MixedWorkload.Schema);
        await MixedWorkload.RunAsync(source, 500, seed: 1);
        var options = PipelineHarness.Identity("dashbrowser", source, target, _kafka.BootstrapServers, MixedWorkload.Tables);

        // Metrics are process-wide and other test classes name their target "target" too: a name of its own.
        options.Targets[0].Name = "dashtarget";
        options.Sources[0].Target = "dashtarget";

        // No heartbeats while the figures are compared: they would add transactions between two reads.
        options.Capture.HeartbeatInterval = TimeSpan.FromHours(1);
        options.Dashboard.RefreshInterval = TimeSpan.FromMilliseconds(500);
        await using var pipeline = new PipelineHarness(options, _kafka, output);
        await pipeline.StartAsync(Stages.All, dashboard: true);
        var url = PipelineHarness.BaseUrl(pipeline.App(Stages.All));

        // 1. While a workload runs: the page renders the source live, and each counter it shows lies between
        //    the /metrics value read before the browser started and the one read after it finished.
        using var workloadCts = new CancellationTokenSource();
        var workload = Task.Run(async () =>
        {
            var total = 0;
            var seed = 10;
            while (!workloadCts.IsCancellationRequested)
            {
                total += await MixedWorkload.RunAsync(source, 200, seed: seed, firstId: 100_000 + seed * 1000);
                seed++;
            }

            return total;
        });
        await WaitUntilAsync(async () => (await MetricAsync(url, "peeq_cdc_sink_transactions_total", "dashbrowser")) > 0, "the pipeline applies transactions");
        var eventsBefore = await MetricAsync(url, "peeq_cdc_capture_events_total", "dashbrowser");
        var appliedBefore = await MetricAsync(url, "peeq_cdc_sink_transactions_total", "dashbrowser");
        var live = HeadlessChromium.Figures(await HeadlessChromium.DumpDomAsync(url + "/", 3000, output));
        var eventsAfter = await MetricAsync(url, "peeq_cdc_capture_events_total", "dashbrowser");
        var appliedAfter = await MetricAsync(url, "peeq_cdc_sink_transactions_total", "dashbrowser");
        output.WriteLine($"live: events {eventsBefore} <= {live.GetValueOrDefault("source.dashbrowser.eventsCaptured")} <= {eventsAfter}");
        Assert.Contains(live["source.dashbrowser.state"], new[] { "caught-up", "behind", "snapshotting" });
        Assert.InRange(Number(live, "source.dashbrowser.eventsCaptured"), eventsBefore - 1e-9, eventsAfter + 1e-9);
        Assert.InRange(Number(live, "source.dashbrowser.transactionsApplied"), appliedBefore - 1e-9, appliedAfter + 1e-9);
        Assert.True(Number(live, "source.dashbrowser.eventsCaptured") > 0);
        Assert.False(string.IsNullOrEmpty(live["source.dashbrowser.lagSeconds"]), "the page shows no lag for the source");
        Assert.False(string.IsNullOrEmpty(live["source.dashbrowser.retainedWalBytes"]), "the page shows no retained WAL for the slot");
        Assert.Equal("reserved", live["source.dashbrowser.walStatus"]);

        // 2. Quiet: the workload stops, a marker row proves the target has everything, and once two samples
        //    agree the page, /metrics and /api/status must show the same figures exactly.
        await workloadCts.CancelAsync();
        var changes = await workload;
        output.WriteLine($"workload: {changes} changes");
        await SharedPostgres.ExecuteAsync(source, "INSERT INTO events (account_id, kind, at) VALUES (-1, 'marker', now())");
        await WaitUntilAsync(async () => await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM events WHERE kind = 'marker'") == 1, "the marker row arrives");
        // Snapshots are read in chunks beside the stream: their rows still count as captured until the last chunk.
        await WaitUntilAsync(async () => (await Peeq.Cdc.Postgres.PipelineProgress.SnapshotsPendingAsync(options, CancellationToken.None)).Count == 0, "every snapshot is complete");
        await WaitUntilAsync(async () =>
        {
            var a = await StatusAsync(url);
            await Task.Delay(1200);
            var b = await StatusAsync(url);
            var (sa, sb) = (a.Sources.Single(), b.Sources.Single());
            return sa.EventsCaptured == sb.EventsCaptured && sa.TransactionsApplied == sb.TransactionsApplied && sb.TransactionsApplied > 0
                && sb.SinkLagMessages == 0 && sb.TransformLagMessages == 0 && b.Targets.Single().RowsApplied == a.Targets.Single().RowsApplied;
        }, "the status settles");

        var page = HeadlessChromium.Figures(await HeadlessChromium.DumpDomAsync(url + "/", 2500, output));
        var metrics = new MetricsSnapshot(MetricsSnapshot.Parse(await _http.GetStringAsync(url + "/metrics")), []);
        var api = await StatusAsync(url);
        var src = ("source", "dashbrowser");
        foreach (var (figure, value) in page.Where(f => f.Key.StartsWith("source.", StringComparison.Ordinal) || f.Key.StartsWith("target.", StringComparison.Ordinal)))
        {
            output.WriteLine($"page {figure} = {value}");
        }

        Assert.Equal(metrics.Sum("peeq_cdc_capture_events_total", src)!.Value, Number(page, "source.dashbrowser.eventsCaptured"));
        Assert.Equal(metrics.Sum("peeq_cdc_sink_transactions_total", src, ("kind", "transaction"))!.Value, Number(page, "source.dashbrowser.transactionsApplied"));
        Assert.Equal(metrics.Sum("peeq_cdc_sink_rows_applied_total", ("target", "dashtarget"))!.Value, Number(page, "target.dashtarget.rowsApplied"));
        var latencyMean = metrics.Sum("peeq_cdc_sink_end_to_end_latency_seconds_sum", src)!.Value / metrics.Sum("peeq_cdc_sink_end_to_end_latency_seconds_count", src)!.Value;
        Assert.Equal(latencyMean, Number(page, "source.dashbrowser.latencyMeanSeconds"), 9);
        Assert.Equal(new Lsn((ulong)metrics.Max("peeq_cdc_sink_applied_lsn", src)!.Value).ToString(), page["source.dashbrowser.appliedLsn"]);
        Assert.Equal(0, Number(page, "source.dashbrowser.parkedRows"));
        Assert.Equal(await SharedPostgres.ScalarAsync<long>(target, "SELECT count(*) FROM peeq_cdc.parked_rows WHERE status = 'parked'"), (long)Number(page, "target.dashtarget.parkedRows"));
        Assert.Equal(0, Number(page, "source.dashbrowser.sinkLagMessages"));
        Assert.Equal(0, Number(page, "source.dashbrowser.transformLagMessages"));
        Assert.Equal(0, Number(page, "total.sinkLag"));

        // The page and the API it polls: the same values for everything that does not move with the server's WAL.
        var s = api.Sources.Single();
        Assert.Equal(s.EventsCaptured, Number(page, "source.dashbrowser.eventsCaptured"));
        Assert.Equal(s.TransactionsApplied, Number(page, "source.dashbrowser.transactionsApplied"));
        Assert.Equal(s.AppliedLsn, page["source.dashbrowser.appliedLsn"]);
        Assert.Equal("dashtarget", s.Target);
        Assert.Equal(api.Targets.Single().RowsApplied, Number(page, "target.dashtarget.rowsApplied"));
        Assert.Equal(s.WalStatus, page["source.dashbrowser.walStatus"]);
        Assert.Equal(1, Number(page, "total.caughtUp"));
        Assert.Equal("caught-up", page["source.dashbrowser.state"]);
        Assert.Equal(0, Number(page, "source.dashbrowser.lagSeconds"));
    }

    private static double Number(Dictionary<string, string> figures, string key)
    {
        Assert.True(figures.TryGetValue(key, out var v), $"the page shows no figure '{key}'; it shows: {string.Join(", ", figures.Keys)}");
        Assert.False(string.IsNullOrEmpty(v), $"the page's figure '{key}' is empty");
        return double.Parse(v, CultureInfo.InvariantCulture);
    }

    private async Task<double> MetricAsync(string url, string name, string source)
    {
        var m = new MetricsSnapshot(MetricsSnapshot.Parse(await _http.GetStringAsync(url + "/metrics")), []);
        return name == "peeq_cdc_sink_transactions_total"
            ? m.Sum(name, ("source", source), ("kind", "transaction")) ?? 0
            : m.Sum(name, ("source", source)) ?? 0;
    }

    private async Task<PipelineStatus> StatusAsync(string url) =>
        JsonSerializer.Deserialize<PipelineStatus>(await _http.GetStringAsync(url + "/api/status"), Operations.Dashboard.DashboardEndpoints.Json)!;

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, int seconds = 90)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(250);
        }

        Assert.Fail($"timed out after {seconds} s waiting until {what}");
    }
}
