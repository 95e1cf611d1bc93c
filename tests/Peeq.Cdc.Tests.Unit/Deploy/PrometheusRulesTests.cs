namespace Peeq.Cdc.Tests.Unit.Deploy;

/// <summary>deploy/prometheus: the alert rules pass promtool's checks and their unit tests (Debian's prometheus package).</summary>
public sealed class PrometheusRulesTests
{
    private const string Install = "install Debian's 'prometheus' package (apt-get install -y prometheus), which ships promtool; ./dev test installs it";

    private static readonly string Dir = Repository.Path("deploy", "prometheus");

    [Fact]
    public void promtool_check_rules_passes()
    {
        var (code, output) = Repository.Run("promtool", Dir, Install, "check", "rules", "rules/peeq-cdc.rules.yml");
        Assert.True(code == 0, $"promtool check rules failed:\n{output}");
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [Fact]
    public void promtool_test_rules_passes()
    {
        var (code, output) = Repository.Run("promtool", Dir, Install, "test", "rules", "tests/peeq-cdc.rules.test.yml");
        Assert.True(code == 0, $"promtool test rules failed:\n{output}");
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [Fact]
    public void promtool_check_config_passes_for_the_compose_prometheus()
    {
        var (code, output) = Repository.Run("promtool", Dir, Install, "check", "config", "--syntax-only", "prometheus.yml");
        Assert.True(code == 0, $"promtool check config failed:\n{output}");
    }

    [Fact]
    public void every_alert_has_a_unit_test()
    {
        var rules = File.ReadAllText(Path.Combine(Dir, "rules", "peeq-cdc.rules.yml"));
        var tests = File.ReadAllText(Path.Combine(Dir, "tests", "peeq-cdc.rules.test.yml"));
        var alerts = System.Text.RegularExpressions.Regex.Matches(rules, @"- alert: (\w+)").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(alerts);
        var untested = alerts.Where(a => !tests.Contains($"alertname: {a}", StringComparison.Ordinal)).ToList();
        Assert.True(untested.Count == 0, $"alerts without a promtool unit test: {string.Join(", ", untested)}");
    }

    [Fact]
    public void every_metric_the_rules_use_is_documented()
    {
        var used = Repository.MetricNames(File.ReadAllText(Path.Combine(Dir, "rules", "peeq-cdc.rules.yml")));
        var missing = used.Except(Repository.DocumentedMetrics()).ToList();
        Assert.True(missing.Count == 0, $"metrics used by the alert rules but not in docs/metrics.md: {string.Join(", ", missing)}");
    }

    [Fact]
    public void the_chart_ships_the_same_rules()
    {
        Assert.Equal(
            File.ReadAllText(Path.Combine(Dir, "rules", "peeq-cdc.rules.yml")),
            File.ReadAllText(Repository.Path("deploy", "helm", "peeq-cdc", "files", "peeq-cdc.rules.yml")));
    }
}
