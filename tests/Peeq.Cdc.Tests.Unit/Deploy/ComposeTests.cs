using System.Text.RegularExpressions;
using Npgsql;
using Peeq.Cdc.Cli;
using Peeq.Cdc.Operations.Connectors;
using YamlDotNet.RepresentationModel;

namespace Peeq.Cdc.Tests.Unit.Deploy;

/// <summary>
/// docker-compose.yml, checked without a Docker engine: well-formed, every image pinned, every file it mounts
/// present, every peeq-cdc command it runs a real command of this build, every reference resolvable.
/// </summary>
public sealed partial class ComposeTests
{
    private static readonly YamlMappingNode Root = YamlFiles.LoadMapping(Repository.Path("docker-compose.yml"));

    private static Dictionary<string, Dictionary<string, YamlNode>> Services() =>
        ((YamlMappingNode)Root["services"]).Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => YamlFiles.Effective((YamlMappingNode)kv.Value));

    [Fact]
    public void every_image_is_pinned_to_a_version()
    {
        foreach (var (name, s) in Services())
        {
            var image = s.Scalar("image");
            Assert.False(image is null, $"service {name} has no image");
            var tag = image![(image.LastIndexOf('/') + 1)..].Split(':') is { Length: 2 } parts ? parts[1] : null;
            Assert.False(tag is null || tag == "latest" || !tag.Any(char.IsAsciiDigit), $"service {name}: image '{image}' is not pinned to a version tag");
        }
    }

    [Fact]
    public void the_pipeline_services_build_from_the_dockerfile()
    {
        foreach (var (name, s) in Services().Where(s => s.Value.Scalar("image")!.StartsWith("peeq-cdc:", StringComparison.Ordinal)))
        {
            Assert.True(s.Scalar("build") == ".", $"service {name} runs the pipeline image but does not build it from ./Dockerfile");
        }

        Assert.True(File.Exists(Repository.Path("Dockerfile")));
        Assert.Contains(Services().Keys, k => k == "kafka");
        foreach (var required in new[] { "kafka", "legacy-postgres", "target-postgres", "seed-data", "capture", "transform", "sink", "dashboard", "prometheus", "grafana", "kafka-connect", "connect-register" })
        {
            Assert.Contains(required, Services().Keys);
        }
    }

    [Fact]
    public void every_file_it_mounts_exists_and_named_volumes_are_declared()
    {
        var declared = ((YamlMappingNode)Root["volumes"]).Children.Keys.Select(k => ((YamlScalarNode)k).Value).ToHashSet();
        foreach (var (name, s) in Services())
        {
            if (!s.TryGetValue("volumes", out var v))
            {
                continue;
            }

            foreach (var entry in ((YamlSequenceNode)v).Children.Select(c => ((YamlScalarNode)c).Value!))
            {
                var host = entry.Split(':')[0];
                if (host.StartsWith("./", StringComparison.Ordinal))
                {
                    var path = Repository.Path(host[2..]);
                    Assert.True(File.Exists(path) || Directory.Exists(path), $"service {name} mounts {host}, which does not exist");
                }
                else
                {
                    Assert.True(declared.Contains(host), $"service {name} uses volume '{host}', which is not declared under volumes:");
                }
            }
        }
    }

    [Fact]
    public void every_peeq_cdc_command_it_runs_is_a_real_command()
    {
        var checkedCommands = 0;
        foreach (var (name, s) in Services().Where(s => s.Value.Scalar("image")!.StartsWith("peeq-cdc:", StringComparison.Ordinal)))
        {
            var command = ((YamlSequenceNode)s["command"]).Children.Select(c => ((YamlScalarNode)c).Value!).ToList();
            var invocations = s.TryGetValue("entrypoint", out var ep) && ((YamlSequenceNode)ep).Children.Select(c => ((YamlScalarNode)c).Value).First() == "/bin/sh"
                ? ShellInvocations(command.Single())
                : [command];
            foreach (var args in invocations)
            {
                var parse = Program.BuildRoot().Parse(args);
                Assert.True(parse.Errors.Count == 0, $"service {name}: 'peeq-cdc {string.Join(' ', args)}' is not a valid command: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
                checkedCommands++;
            }
        }

        Assert.True(checkedCommands >= 7, $"only {checkedCommands} peeq-cdc invocations found");
    }

    [Fact]
    public void depends_on_names_existing_services_and_one_shots_are_awaited_to_completion()
    {
        var services = Services();
        foreach (var (name, s) in services)
        {
            if (!s.TryGetValue("depends_on", out var d))
            {
                continue;
            }

            var deps = d is YamlMappingNode m ? m.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => (string?)((YamlScalarNode)((YamlMappingNode)kv.Value)["condition"]).Value)
                : ((YamlSequenceNode)d).Children.ToDictionary(c => ((YamlScalarNode)c).Value!, _ => (string?)null);
            foreach (var (dep, condition) in deps)
            {
                Assert.True(services.ContainsKey(dep), $"service {name} depends on '{dep}', which does not exist");
                if (services[dep].Scalar("restart") == "no" && services[dep].Scalar("profiles") is null)
                {
                    Assert.True(condition == "service_completed_successfully", $"service {name} must wait for one-shot '{dep}' to complete");
                }
            }
        }
    }

    [Fact]
    public void the_mounted_pipeline_config_is_valid_and_names_the_compose_hosts()
    {
        var services = Services();
        var config = DebeziumConnectors.LoadConfig(Repository.Path("deploy", "peeq-cdc.example.yaml")).Options;
        Assert.Equal(22, config.Sources.Count);
        Assert.Equal(6, config.Targets.Count);
        Assert.Contains(config.Kafka.BootstrapServers.Split(':')[0], services.Keys);
        foreach (var cs in config.Sources.Select(x => x.ConnectionString).Concat(config.Targets.Select(t => t.ConnectionString)))
        {
            var host = new NpgsqlConnectionStringBuilder(cs).Host!;
            Assert.True(services.ContainsKey(host), $"the config connects to '{host}', which is not a compose service");
            Assert.DoesNotMatch("Password=[^$]", cs);
        }

        foreach (var url in config.Dashboard.Metrics)
        {
            var u = new Uri(url);
            Assert.True(services.ContainsKey(u.Host), $"dashboard.metrics scrapes '{u.Host}', which is not a compose service");
            Assert.Equal(9464, u.Port);
        }

        var env = services["capture"]["environment"];
        var settings = string.Join('\n', File.ReadAllLines(Repository.Path("deploy", "peeq-cdc.example.yaml")).Where(l => !l.TrimStart().StartsWith('#')));
        foreach (Match m in EnvReference().Matches(settings))
        {
            Assert.True(((YamlMappingNode)env).Children.ContainsKey(new YamlScalarNode(m.Groups[1].Value)),
                $"the config references ${{{m.Groups[1].Value}}}, which the pipeline services do not set");
        }
    }

    [Fact]
    public void the_reconciler_runs_with_a_64_mib_gen0_budget_cap_and_keeps_the_pipeline_environment()
    {
        // DOTNET_GCGen0MaxBudget is read as hex bytes; the workers keep the runtime's default (their memory figures are measured with it).
        var services = Services();
        var reconcile = YamlFiles.Effective((YamlMappingNode)services["reconcile"]["environment"]);
        Assert.Equal("0x4000000", reconcile.Scalar("DOTNET_GCGen0MaxBudget"));
        Assert.Equal(64L << 20, Convert.ToInt64(reconcile.Scalar("DOTNET_GCGen0MaxBudget"), 16));
        foreach (var k in YamlFiles.Effective((YamlMappingNode)services["capture"]["environment"]).Keys)
        {
            Assert.True(reconcile.ContainsKey(k), $"the reconcile service lost {k} of the pipeline environment");
        }

        foreach (var worker in new[] { "capture", "transform", "sink" })
        {
            Assert.False(YamlFiles.Effective((YamlMappingNode)services[worker]["environment"]).ContainsKey("DOTNET_GCGen0MaxBudget"), worker);
        }
    }

    [Fact]
    public void the_debezium_profile_registers_the_generated_connectors_with_env_config_providers()
    {
        var services = Services();
        var connect = services["kafka-connect"];
        Assert.Equal("debezium", ((YamlScalarNode)((YamlSequenceNode)connect["profiles"]).Children.Single()).Value);
        var env = (YamlMappingNode)connect["environment"];
        Assert.Equal("org.apache.kafka.common.config.provider.EnvVarConfigProvider", ((YamlScalarNode)env["CONNECT_CONFIG_PROVIDERS_ENV_CLASS"]).Value);
        var register = services["connect-register"];
        Assert.Contains("./connectors:/connectors:ro", ((YamlSequenceNode)register["volumes"]).Children.Select(c => ((YamlScalarNode)c).Value));
        Assert.Contains("/connectors/*.json", ((YamlScalarNode)((YamlSequenceNode)register["command"]).Children.Single()).Value, StringComparison.Ordinal);
    }

    /// <summary>The peeq-cdc invocations in a /bin/sh -c script (commands split on unquoted ||, &amp;&amp; and ;), as argument lists.</summary>
    private static List<List<string>> ShellInvocations(string script) =>
        ShellCommands(script.Replace("$$", "$", StringComparison.Ordinal))
            .Where(words => words.Count > 0 && words[0] == "peeq-cdc")
            .Select(words => words.Skip(1).ToList())
            .ToList();

    private static List<List<string>> ShellCommands(string text)
    {
        var commands = new List<List<string>> { new() };
        var current = new System.Text.StringBuilder();
        var inWord = false;
        char? quote = null;
        void EndWord()
        {
            if (inWord)
            {
                commands[^1].Add(current.ToString());
                current.Clear();
                inWord = false;
            }
        }

        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quote is not null)
            {
                if (c == quote)
                {
                    quote = null;
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c is '"' or '\'')
            {
                quote = c;
                inWord = true;
            }
            else if (c == ';' || (c is '|' or '&' && i + 1 < text.Length && text[i + 1] == c))
            {
                EndWord();
                commands.Add([]);
                i += c == ';' ? 0 : 1;
            }
            else if (char.IsWhiteSpace(c))
            {
                EndWord();
            }
            else
            {
                current.Append(c);
                inWord = true;
            }
        }

        EndWord();
        return commands;
    }

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex EnvReference();
}
