using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Peeq.Cdc.Tests.Unit.Deploy;

/// <summary>
/// deploy/helm/peeq-cdc, checked without Helm: Chart.yaml complete, every value a template reads exists and is
/// documented, every template well-formed YAML once its actions are set aside, the objects the issue asks for present.
/// </summary>
public sealed partial class HelmChartTests
{
    private static readonly string Chart = Repository.Path("deploy", "helm", "peeq-cdc");

    private static IEnumerable<string> Templates() => Directory.EnumerateFiles(Path.Combine(Chart, "templates"));

    [Fact]
    public void chart_yaml_has_the_required_fields()
    {
        var chart = YamlFiles.Effective(YamlFiles.LoadMapping(Path.Combine(Chart, "Chart.yaml")));
        Assert.Equal("v2", chart.Scalar("apiVersion"));
        Assert.Equal("peeq-cdc", chart.Scalar("name"));
        Assert.Matches(@"^\d+\.\d+\.\d+$", chart.Scalar("version"));
        Assert.False(string.IsNullOrWhiteSpace(chart.Scalar("appVersion")));
        Assert.False(string.IsNullOrWhiteSpace(chart.Scalar("description")));
        Assert.Equal("application", chart.Scalar("type"));
    }

    [Fact]
    public void every_value_a_template_reads_exists_in_values_yaml()
    {
        var values = YamlFiles.LoadMapping(Path.Combine(Chart, "values.yaml"));
        var missing = new List<string>();
        var used = 0;
        foreach (var file in Templates())
        {
            foreach (Match m in ValuesPath().Matches(File.ReadAllText(file)))
            {
                used++;
                YamlNode node = values;
                foreach (var part in m.Groups[1].Value.Split('.', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(part), out var child))
                    {
                        node = child;
                    }
                    else
                    {
                        missing.Add($"{Path.GetFileName(file)}: .Values{m.Groups[1].Value}");
                        break;
                    }
                }
            }
        }

        Assert.True(used > 30, $"only {used} value references found");
        Assert.True(missing.Count == 0, $"templates read values that values.yaml does not define: {string.Join(", ", missing.Distinct())}");
    }

    [Fact]
    public void every_value_is_documented_in_values_yaml_and_the_readme()
    {
        var path = Path.Combine(Chart, "values.yaml");
        var lines = File.ReadAllLines(path);
        var values = YamlFiles.LoadMapping(path);
        var undocumented = new List<string>();
        void Check(YamlMappingNode map, string prefix, int depth)
        {
            foreach (var (k, v) in map.Children)
            {
                var key = ((YamlScalarNode)k).Value!;
                var line = (int)k.Start.Line - 1;
                var previous = line - 1;
                while (previous >= 0 && lines[previous].Trim().Length == 0)
                {
                    previous--;
                }

                if (!lines[line].Contains('#', StringComparison.Ordinal) && (previous < 0 || !lines[previous].TrimStart().StartsWith('#')))
                {
                    undocumented.Add(prefix + key);
                }

                // Resource quantities and secret names are examples of free-form maps, documented by their parent.
                if (v is YamlMappingNode child && depth < 2 && key is not ("resources" or "env"))
                {
                    Check(child, prefix + key + ".", depth + 1);
                }
            }
        }

        Check(values, "", 0);
        Assert.True(undocumented.Count == 0, $"values.yaml keys without a comment: {string.Join(", ", undocumented)}");
        var readme = File.ReadAllText(Path.Combine(Chart, "README.md"));
        var absent = values.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).Where(k => !readme.Contains($"`{k}", StringComparison.Ordinal)).ToList();
        Assert.True(absent.Count == 0, $"values the chart README does not describe: {string.Join(", ", absent)}");
    }

    [Fact]
    public void every_template_is_well_formed_yaml_once_template_actions_are_set_aside()
    {
        foreach (var file in Templates())
        {
            var text = File.ReadAllText(file);
            var bodies = Path.GetExtension(file) == ".tpl"
                ? Define().Matches(text).Select(m => m.Groups[1].Value).ToList()
                : [text];
            foreach (var body in bodies)
            {
                var stripped = string.Join('\n', body.Split('\n')
                    .Where(l => !ActionOnly().IsMatch(l))
                    .Select(l => Action().Replace(l, "x")));
                try
                {
                    YamlFiles.LoadAll(stripped);
                }
                catch (YamlDotNet.Core.YamlException e)
                {
                    Assert.Fail($"{Path.GetFileName(file)} is not well-formed YAML once template actions are removed: {e.Message}\n{stripped}");
                }
            }
        }
    }

    [Fact]
    public void the_chart_has_the_objects_operations_need()
    {
        string Read(string name) => File.ReadAllText(Path.Combine(Chart, "templates", name));
        var pod = Read("_helpers.tpl");
        Assert.Contains("path: /healthz", pod, StringComparison.Ordinal);
        Assert.Contains("livenessProbe:", pod, StringComparison.Ordinal);
        Assert.Contains("readinessProbe:", pod, StringComparison.Ordinal);
        Assert.Contains("runAsNonRoot: true", pod, StringComparison.Ordinal);
        Assert.Contains("resources:", pod, StringComparison.Ordinal);
        var capture = Read("capture.yaml");
        Assert.Contains("range $source := .Values.capture.sources", capture, StringComparison.Ordinal);
        Assert.Contains("type: Recreate", capture, StringComparison.Ordinal);
        Assert.Contains("\"--source\" $source", capture, StringComparison.Ordinal);
        Assert.Contains("kind: Deployment", Read("transform.yaml"), StringComparison.Ordinal);
        Assert.Contains("kind: Deployment", Read("sink.yaml"), StringComparison.Ordinal);
        Assert.Contains("kind: ConfigMap", Read("configmap.yaml"), StringComparison.Ordinal);
        Assert.Contains("kind: Secret", Read("secret.yaml"), StringComparison.Ordinal);
        Assert.Contains("kind: Service", Read("service.yaml"), StringComparison.Ordinal);
        Assert.Contains("kind: ServiceMonitor", Read("servicemonitor.yaml"), StringComparison.Ordinal);
        Assert.Contains("kind: PodDisruptionBudget", Read("pdb.yaml"), StringComparison.Ordinal);
        Assert.Contains("kind: PrometheusRule", Read("prometheusrule.yaml"), StringComparison.Ordinal);

        // The seal key reaches Capture and the Sink only (docs/contracts.md).
        Assert.Contains("\"seal\" true", capture, StringComparison.Ordinal);
        Assert.Contains("\"seal\" true", Read("sink.yaml"), StringComparison.Ordinal);
        Assert.Contains("\"seal\" false", Read("transform.yaml"), StringComparison.Ordinal);
        Assert.Contains("\"seal\" false", Read("dashboard.yaml"), StringComparison.Ordinal);

        foreach (Match m in FilesGet().Matches(string.Concat(Templates().Select(File.ReadAllText))))
        {
            Assert.True(File.Exists(Path.Combine(Chart, m.Groups[1].Value)), $"a template reads {m.Groups[1].Value}, which the chart does not contain");
        }
    }

    [Fact]
    public void every_command_the_chart_runs_is_a_real_command()
    {
        foreach (var (stage, extra) in new[] { ("capture", new[] { "--source", "wallet" }), ("transform", []), ("sink", []), ("dashboard", []) })
        {
            string[] args = [stage, .. extra, "--config", "/etc/peeq-cdc/peeq-cdc.yaml", "--http", "http://0.0.0.0:9464", "--log-level", "Information"];
            var parse = Cli.Program.BuildRoot().Parse(args);
            Assert.True(parse.Errors.Count == 0, $"peeq-cdc {string.Join(' ', args)}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
        }
    }

    [GeneratedRegex(@"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")]
    private static partial Regex ValuesPath();

    [GeneratedRegex(@"^\s*\{\{-?[^}]*-?\}\}\s*$")]
    private static partial Regex ActionOnly();

    [GeneratedRegex(@"\{\{-?.*?-?\}\}")]
    private static partial Regex Action();

    [GeneratedRegex(@"\{\{-? define ""[^""]+"" -?\}\}\n(.*?)\{\{-? end -?\}\}\s*(?=\{\{-? define|\{\{/\*|$)", RegexOptions.Singleline)]
    private static partial Regex Define();

    [GeneratedRegex(@"\.Files\.Get ""([^""]+)""")]
    private static partial Regex FilesGet();
}
