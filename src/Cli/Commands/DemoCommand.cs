using System.CommandLine;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Cli.Demo;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>demo</c>: the whole pipeline on the embedded default, with the 22 legacy databases.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var duration = new Option<int>("--duration") { Description = "Seconds of live workload", DefaultValueFactory = _ => 30 };
        var output = new Option<DirectoryInfo>("--out") { Description = "Where the reconciliation report (and the seed and workload summaries) go", DefaultValueFactory = _ => new DirectoryInfo("out/demo") };
        var rate = new Option<double>("--rate") { Description = "Workload operations per second", DefaultValueFactory = _ => 50 };
        var scale = new Option<double>("--scale") { Description = "seed-data scale of the 22 legacy databases (1 = the seed's volumes)", DefaultValueFactory = _ => 0.01 };
        var seed = new Option<long>("--seed") { Description = "Seed of the data and the workload", DefaultValueFactory = _ => 1 };
        var http = CliOptions.Http();
        var mapping = new Option<string>("--mapping")
        {
            Description = "consolidation (default): the 22 sources through mappings/ into the 6 targets' unified schemas (reconciles clean; slow on a loaded machine, see README); "
                + "identity: each legacy database into its domain's target, one schema per database (quicker)",
            DefaultValueFactory = _ => "consolidation",
        };
        mapping.AcceptOnlyFromAmong("identity", "consolidation");
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Pipeline log level", DefaultValueFactory = _ => LogLevel.Warning };
        var command = new Command("demo", "Start embedded PostgreSQL and Kafka, seed the 22 legacy databases, replicate them into the 6 targets under a live workload, reconcile")
        {
            duration,
            output,
            rate,
            scale,
            seed,
            http,
            mapping,
            logLevel,
        };
        command.SetAction((parse, ct) => new DemoRunner(new DemoOptions
        {
            Duration = TimeSpan.FromSeconds(parse.GetValue(duration)),
            OutDir = parse.GetValue(output)!.FullName,
            Rate = parse.GetValue(rate),
            Scale = parse.GetValue(scale),
            Seed = parse.GetValue(seed),
            Http = parse.GetValue(http),
            LogLevel = parse.GetValue(logLevel),
            Mapping = parse.GetValue(mapping)!,
        }).RunAsync(ct));
        return command;
    }
}
