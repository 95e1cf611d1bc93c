using Peeq.Cdc.Tests.Integration.Infrastructure;

namespace Peeq.Cdc.Tests.Integration;

/// <summary>A bad configuration fails fast with one specific message naming the file, the key and the problem.</summary>
public sealed class ConfigErrorTests(ITestOutputHelper output)
{
    private static async Task<string> WriteAsync(string yaml)
    {
        var path = Path.Combine(Path.GetTempPath(), $"peeq-config-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(path, yaml);
        return path;
    }

    private static readonly Lazy<Task> Database = new(async () =>
    {
        var cs = await SharedPostgres.CreateDatabaseAsync("config_errors");
        await SharedPostgres.ExecuteAsync(cs, "CREATE TABLE things (id int PRIMARY KEY)");
    });

    private static async Task<string> ValidConfigAsync(string table = "public.things", int? port = null)
    {
        var pg = await SharedPostgres.GetAsync();
        await Database.Value;
        return $"""
            kafka:
              bootstrapServers: 127.0.0.1:1
            sources:
              - name: legacy
                connectionString: Host=127.0.0.1;Port={port ?? pg.Port};Database=config_errors;Username=postgres
                target: unified
                tables: [{table}]
            targets:
              - name: unified
                connectionString: Host=127.0.0.1;Port={pg.Port};Database=config_errors;Username=postgres
            """;
    }

    private async Task<(int Code, string Output)> RunAsync(string yaml)
    {
        var path = await WriteAsync(yaml);
        var (code, text, elapsed) = await PipelineProcess.RunAsync(TimeSpan.FromSeconds(60), "run", "--config", path, "--http", "off");
        // Speed is measured, not asserted (about 1 s on an idle machine; see the notes). What is asserted is
        // that a bad config ends the process instead of leaving it retrying: connection checks are bounded
        // by a 3 s timeout and run in parallel.
        output.WriteLine($"exited {code} after {elapsed.TotalSeconds:0.00} s");
        Assert.True(elapsed < TimeSpan.FromSeconds(30), $"still running after {elapsed.TotalSeconds:0.0} s: {text}");
        Assert.Equal(2, code);
        Assert.DoesNotContain("   at ", text); // no stack trace
        Assert.Contains(Path.GetFileName(path), text);
        return (code, text);
    }

    [Fact]
    public async Task unknown_key_is_named_with_its_line_and_the_likely_intended_key()
    {
        var yaml = (await ValidConfigAsync()).Replace("    tables:", "    tabels:");
        var (_, text) = await RunAsync(yaml);
        Assert.Contains(":7: sources[0].tabels: unknown setting (did you mean 'tables'?)", text);
    }

    [Fact]
    public async Task unknown_table_is_named()
    {
        var (_, text) = await RunAsync(await ValidConfigAsync("public.nope"));
        Assert.Contains("sources[0].tables[0]: source 'legacy': table public.nope does not exist in database 'config_errors'", text);
    }

    [Fact]
    public async Task unreachable_database_is_named_without_its_password()
    {
        var yaml = (await ValidConfigAsync(port: 1)).Replace("Username=postgres\n    target", "Username=postgres;Password=hunter2-secret\n    target");
        var (_, text) = await RunAsync(yaml);
        Assert.Contains("source 'legacy': cannot connect to 127.0.0.1:1/config_errors as postgres", text);
        Assert.DoesNotContain("hunter2-secret", text);
    }

    [Fact]
    public async Task value_of_the_wrong_type_and_an_unknown_target_are_both_reported()
    {
        var yaml = (await ValidConfigAsync()).Replace("target: unified", "target: unifed") + "\ncapture:\n  inFlightBytes: lots\n";
        var (_, text) = await RunAsync(yaml);
        Assert.Contains("capture.inFlightBytes: 'lots' is not a whole number", text);
        Assert.Contains("sources[0].target: 'unifed' is not a configured target (did you mean 'unified'?)", text);
    }

    [Fact]
    public async Task missing_environment_variable_is_named()
    {
        var yaml = (await ValidConfigAsync()).Replace("Username=postgres\n    target", "Username=postgres;Password=${PEEQ_TEST_UNSET_PASSWORD}\n    target");
        var (_, text) = await RunAsync(yaml);
        Assert.Contains("environment variable 'PEEQ_TEST_UNSET_PASSWORD' is not set", text);
    }
}
