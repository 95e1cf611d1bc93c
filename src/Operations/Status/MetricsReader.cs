using Prometheus;

namespace Peeq.Cdc.Operations.Status;

/// <summary>Where the status reads the workers' metrics from.</summary>
public interface IMetricsReader
{
    /// <summary>in-process, scraped, or none.</summary>
    string Mode { get; }

    Task<MetricsSnapshot> ReadAsync(CancellationToken ct);
}

/// <summary>
/// This process's own metrics (the dashboard inside <c>run</c> or <c>demo</c>): the default registry rendered in
/// the exposition format, so the figures are computed by the same code as for scraped workers and agree
/// with what /metrics serves.
/// </summary>
public sealed class InProcessMetrics(CollectorRegistry? registry = null) : IMetricsReader
{
    public string Mode => "in-process";

    public async Task<MetricsSnapshot> ReadAsync(CancellationToken ct)
    {
        using var stream = new MemoryStream();
        await (registry ?? Metrics.DefaultRegistry).CollectAndExportAsTextAsync(stream, ct);
        var text = System.Text.Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
        return new MetricsSnapshot(MetricsSnapshot.Parse(text), []);
    }
}

/// <summary>The workers' /metrics pages, scraped over HTTP (the standalone dashboard and <c>peeq-cdc status</c>).</summary>
public sealed class ScrapedMetrics(IReadOnlyList<string> urls, HttpClient http) : IMetricsReader
{
    public string Mode => urls.Count == 0 ? "none" : "scraped";

    public async Task<MetricsSnapshot> ReadAsync(CancellationToken ct)
    {
        var pages = await Task.WhenAll(urls.Select(async url =>
        {
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromSeconds(3));
                var text = await http.GetStringAsync(new Uri(url), cts.Token);
                return (Samples: MetricsSnapshot.Parse(text), Problem: (string?)null);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or FormatException)
            {
                return (Samples: new List<MetricSample>(), Problem: $"metrics {url}: {(e is TaskCanceledException ? "timed out" : e.Message)}");
            }
        }));
        return new MetricsSnapshot(pages.SelectMany(p => p.Samples).ToList(), pages.Where(p => p.Problem is not null).Select(p => p.Problem!).ToList());
    }
}
