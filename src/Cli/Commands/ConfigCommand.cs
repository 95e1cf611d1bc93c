using System.CommandLine;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>config check</c>: validates a configuration file and reaches every database in it.</summary>
public static class ConfigCommand
{
    public static Command Create()
    {
        var config = CliOptions.Config();
        var offline = new Option<bool>("--offline") { Description = "Only check the file, do not connect" };
        var check = new Command("check", "Validate the configuration and connect to every database it names") { config, offline };
        check.SetAction(async (parse, ct) =>
        {
            var pipeline = PipelineConfig.Load(parse.GetValue(config)!.FullName);
            if (!parse.GetValue(offline))
            {
                var problems = await Preflight.CheckAsync(pipeline, sources: true, targets: true, ct);
                if (problems.Count > 0)
                {
                    throw new ConfigurationException(string.Join(Environment.NewLine, problems));
                }
            }

            Console.WriteLine($"{parse.GetValue(config)!.Name}: ok ({pipeline.Options.Sources.Count} sources, {pipeline.Options.Targets.Count} targets)");
            return 0;
        });
        return new Command("config", "Configuration helpers") { check };
    }
}
