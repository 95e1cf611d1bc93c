using System.Text.Json;

namespace Peeq.Cdc.Tests.Unit.Deploy;

/// <summary>deploy/grafana: the dashboard is well-formed and queries only metrics that exist.</summary>
public sealed class GrafanaDashboardTests
{
    private static readonly string DashboardFile = Repository.Path("deploy", "grafana", "dashboards", "peeq-cdc.json");

    [Fact]
    public void dashboard_is_well_formed_grafana_json()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(DashboardFile));
        var root = doc.RootElement;
        Assert.Equal("peeq-cdc-pipeline", root.GetProperty("uid").GetString());
        Assert.False(string.IsNullOrWhiteSpace(root.GetProperty("title").GetString()));
        var ids = new HashSet<int>();
        var queries = 0;
        foreach (var panel in root.GetProperty("panels").EnumerateArray())
        {
            Assert.True(ids.Add(panel.GetProperty("id").GetInt32()), $"panel id {panel.GetProperty("id")} is used twice");
            var grid = panel.GetProperty("gridPos");
            Assert.InRange(grid.GetProperty("x").GetInt32() + grid.GetProperty("w").GetInt32(), 1, 24);
            if (panel.GetProperty("type").GetString() == "row")
            {
                continue;
            }

            var targets = panel.GetProperty("targets").EnumerateArray().ToList();
            Assert.True(targets.Count > 0, $"panel '{panel.GetProperty("title")}' queries nothing");
            foreach (var t in targets)
            {
                Assert.False(string.IsNullOrWhiteSpace(t.GetProperty("expr").GetString()), $"panel '{panel.GetProperty("title")}' has an empty query");
                queries++;
            }
        }

        Assert.True(queries >= 20, $"only {queries} queries");
    }

    [Fact]
    public void every_metric_the_dashboard_queries_is_documented_and_exported_or_reserved()
    {
        var used = Repository.MetricNames(File.ReadAllText(DashboardFile));
        var documented = Repository.DocumentedMetrics();
        var missing = used.Except(documented).ToList();
        Assert.True(missing.Count == 0, $"metrics the Grafana dashboard queries that docs/metrics.md does not document: {string.Join(", ", missing)}");
        Assert.Contains("peeq_cdc_status_source_lag_seconds", used);
        Assert.Contains("peeq_cdc_capture_retained_wal_bytes", used);
    }

    [Fact]
    public void every_metric_created_in_the_code_is_documented()
    {
        var undocumented = Repository.MetricsInCode().Except(Repository.DocumentedMetrics()).ToList();
        Assert.True(undocumented.Count == 0, $"metrics in the code missing from docs/metrics.md: {string.Join(", ", undocumented)}");
    }

    [Fact]
    public void provisioning_points_grafana_at_the_dashboards_folder_and_prometheus()
    {
        var provider = File.ReadAllText(Repository.Path("deploy", "grafana", "provisioning", "dashboards", "peeq-cdc.yaml"));
        Assert.Contains("/var/lib/grafana/dashboards", provider, StringComparison.Ordinal);
        var compose = File.ReadAllText(Repository.Path("docker-compose.yml"));
        Assert.Contains("./deploy/grafana/dashboards:/var/lib/grafana/dashboards", compose, StringComparison.Ordinal);
        var datasource = File.ReadAllText(Repository.Path("deploy", "grafana", "provisioning", "datasources", "prometheus.yaml"));
        Assert.Contains("http://prometheus:9090", datasource, StringComparison.Ordinal);
    }
}
