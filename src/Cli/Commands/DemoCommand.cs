using System.CommandLine;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Cli.Demo;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>demo</c>: the whole pipeline on the embedded default.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var duration = new Option<int>("--duration") { Description = "Seconds of live workload", DefaultValueFactory = _ => 30 };
        var output = new Option<DirectoryInfo>("--out") { Description = "Where the reconciliation report goes", DefaultValueFactory = _ => new DirectoryInfo("out/demo") };
        var rate = new Option<double>("--rate") { Description = "Workload transactions per second", DefaultValueFactory = _ => 50 };
        var http = CliOptions.Http();
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Pipeline log level", DefaultValueFactory = _ => LogLevel.Warning };
        var command = new Command("demo", "Start embedded PostgreSQL and Kafka, seed a source, run the pipeline under a live workload, reconcile")
        {
            duration,
            output,
            rate,
            http,
            logLevel,
        };
        command.SetAction((parse, ct) => new DemoRunner(
            TimeSpan.FromSeconds(parse.GetValue(duration)),
            parse.GetValue(output)!.FullName,
            parse.GetValue(rate),
            parse.GetValue(http),
            parse.GetValue(logLevel)).RunAsync(ct));
        return command;
    }
}
