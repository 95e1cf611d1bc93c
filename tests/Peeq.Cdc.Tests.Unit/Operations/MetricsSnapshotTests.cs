using Peeq.Cdc.Operations.Status;
using Prometheus;

namespace Peeq.Cdc.Tests.Unit.Operations;

/// <summary>Reading /metrics pages: the exposition format, sums, and quantiles as Prometheus computes them.</summary>
public sealed class MetricsSnapshotTests
{
    [Fact]
    public void parses_the_exposition_format_with_escaped_labels()
    {
        var samples = MetricsSnapshot.Parse("""
            # HELP peeq_cdc_capture_events_total Row change events.
            # TYPE peeq_cdc_capture_events_total counter
            peeq_cdc_capture_events_total{source="wallet",op="c"} 10
            peeq_cdc_capture_events_total{source="wallet",op="u"} 5 1700000000000
            peeq_cdc_capture_events_total{source="odd \"name\"\\x",op="c"} 1e3
            peeq_cdc_status_sample_timestamp_seconds 1.7e9
            peeq_cdc_capture_slot_safe_wal_size_bytes{source="fan"} -1
            weird_gauge{a="1"} NaN
            """);
        var m = new MetricsSnapshot(samples, []);
        Assert.Equal(15, m.Sum("peeq_cdc_capture_events_total", ("source", "wallet")));
        Assert.Equal(1000, m.Sum("peeq_cdc_capture_events_total", ("source", "odd \"name\"\\x")));
        Assert.Equal(1.7e9, m.Max("peeq_cdc_status_sample_timestamp_seconds"));
        Assert.Equal(-1, m.Max("peeq_cdc_capture_slot_safe_wal_size_bytes", ("source", "fan")));
        Assert.Null(m.Sum("peeq_cdc_capture_events_total", ("source", "absent")));
        Assert.True(double.IsNaN(m.Max("weird_gauge")!.Value));
    }

    [Fact]
    public void histogram_quantile_interpolates_like_prometheus()
    {
        // 100 observations: 50 in (0, 0.1], 40 in (0.1, 0.5], 10 in (0.5, 1].
        var buckets = new SortedDictionary<double, double> { [0.1] = 50, [0.5] = 90, [1] = 100, [double.PositiveInfinity] = 100 };
        Assert.Equal(0.1, MetricsSnapshot.Quantile(0.5, buckets)!.Value, 9);
        Assert.Equal(0.5 + 0.5 * 0.9, MetricsSnapshot.Quantile(0.99, buckets)!.Value, 9);
        Assert.Equal(0.1 + 0.4 * (20.0 / 40), MetricsSnapshot.Quantile(0.7, buckets)!.Value, 9);
        Assert.Null(MetricsSnapshot.Quantile(0.99, new SortedDictionary<double, double> { [1] = 0, [double.PositiveInfinity] = 0 }));
        var window = MetricsSnapshot.Delta(buckets, new SortedDictionary<double, double> { [0.1] = 50, [0.5] = 50, [1] = 50, [double.PositiveInfinity] = 50 });
        Assert.Equal(new[] { 0.0, 40, 50, 50 }, window.Values);
    }

    [Fact]
    public async Task in_process_reader_sees_what_the_registry_exports()
    {
        var registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(registry);
        factory.CreateCounter("peeq_cdc_test_events_total", "test", "source").WithLabels("a").Inc(7);
        var histogram = factory.CreateHistogram("peeq_cdc_test_latency_seconds", "test", new HistogramConfiguration { LabelNames = ["source"], Buckets = [0.1, 1] });
        histogram.WithLabels("a").Observe(0.05);
        histogram.WithLabels("a").Observe(0.5);
        var m = await new InProcessMetrics(registry).ReadAsync(CancellationToken.None);
        Assert.Equal(7, m.Sum("peeq_cdc_test_events_total", ("source", "a")));
        Assert.Equal(2, m.Sum("peeq_cdc_test_latency_seconds_count", ("source", "a")));
        Assert.Equal(0.55, m.Sum("peeq_cdc_test_latency_seconds_sum", ("source", "a"))!.Value, 9);
        Assert.Equal(new[] { 1.0, 2, 2 }, m.Buckets("peeq_cdc_test_latency_seconds", ("source", "a")).Values);
    }

    [Theory]
    [InlineData("-1", -1L)]
    [InlineData("10GB", 10L * 1024 * 1024 * 1024)]
    [InlineData("1024MB", 1024L * 1024 * 1024)]
    [InlineData("512kB", 512L * 1024)]
    [InlineData("12345", 12345L)]
    public void postgres_size_settings_parse_to_bytes(string text, long bytes) =>
        Assert.Equal(bytes, StatusCollector.ParseSize(text));
}
