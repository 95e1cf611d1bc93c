using System.CommandLine;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Cutover;
using Peeq.Cdc.Cutover.Progress;
using Peeq.Cdc.Cutover.References;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>cutover plan|check|run|decide</c>: hands a domain (a target and the sources feeding it) over to the services.</summary>
public static class CutoverCommand
{
    public static Command Create() => new("cutover", "Prove a domain (a target and its sources) complete and hand it over: plan, check, decide, run")
    {
        Plan(),
        Check(),
        Decide(),
        Run(),
    };

    private static Option<string> Domain() => new("--domain") { Description = "The domain: a configured target's name", Required = true };

    private static Option<FileInfo?> ForeignKeys() => new("--foreign-keys")
    {
        Description = "The constraints to add at cutover (default: the built-in schemas/target/<database>.foreign-keys.sql)",
    };

    private static Option<string[]> Roles() => new("--service-role")
    {
        Description = "A role of the domain's services: may write the target after cutover and no longer the sources (repeatable)",
        AllowMultipleArgumentsPerToken = true,
    };

    private static Option<bool> ServicesStopped() => new("--services-stopped")
    {
        Description = "The services are already stopped: do not set the sources read-only, refuse if any other session is connected",
    };

    private static Option<LogLevel> LogLevelOption() => new("--log-level") { Description = "Log level", DefaultValueFactory = _ => LogLevel.Warning };

    private static CutoverDomain Resolve(ParseResult parse, Option<FileInfo> config, Option<string> domain, Option<FileInfo?> fks, out PipelineConfig pipeline)
    {
        pipeline = PipelineConfig.Load(parse.GetValue(config)!.FullName);
        return CutoverDomain.Resolve(pipeline, parse.GetValue(domain)!, parse.GetValue(fks)?.FullName);
    }

    private static Command Plan()
    {
        var config = CliOptions.Config();
        var domain = Domain();
        var fks = ForeignKeys();
        var roles = Roles();
        var stopped = ServicesStopped();
        var command = new Command("plan", "What 'run' will do for the domain, in order: lag, blocking parked rows and dangling references, sequences, foreign keys, grants")
        {
            config, domain, fks, roles, stopped,
        };
        command.SetAction(async (parse, ct) =>
        {
            var d = Resolve(parse, config, domain, fks, out _);
            foreach (var line in await CutoverPlan.BuildAsync(d, parse.GetValue(roles) ?? [], parse.GetValue(stopped), ct))
            {
                Console.WriteLine(line);
            }

            return 0;
        });
        return command;
    }

    private static Command Check()
    {
        var config = CliOptions.Config();
        var domain = Domain();
        var fks = ForeignKeys();
        var output = new Option<DirectoryInfo?>("--out", "-o") { Description = "Directory for the check's reconciliation reports (default <reconcile.out>/cutover-check-<domain>)" };
        var lagWait = new Option<TimeSpan>("--lag-wait") { Description = "How long the Sink gets to apply a marker written into each source", DefaultValueFactory = _ => TimeSpan.FromSeconds(30) };
        var logLevel = LogLevelOption();
        var command = new Command("check", "Go or no-go for the domain, with every reason: lag, parked rows, undecided dangling references, reconciliation, writes after its watermark. Exit 0 go, 1 no-go")
        {
            config, domain, fks, output, lagWait, logLevel,
        };
        command.SetAction(async (parse, ct) =>
        {
            var d = Resolve(parse, config, domain, fks, out var pipeline);
            var dir = parse.GetValue(output)?.FullName ?? Path.Combine(pipeline.Resolve(pipeline.Options.Reconcile.Out), $"cutover-check-{d.Name}");
            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(parse.GetValue(logLevel)));
            var result = await new CutoverCheck(d, Mappings.Load(pipeline), loggers.CreateLogger("Peeq.Cdc.Cutover")) { LagWait = parse.GetValue(lagWait) }.RunAsync(dir, ct);
            foreach (var r in result.Reasons)
            {
                Console.WriteLine($"NO-GO {r.Kind}: {r.Message}");
            }

            if (result.Reconciliation is { } rec)
            {
                Console.WriteLine($"reconciliation: {rec.Summary} ({dir})");
            }

            Console.WriteLine(result.Go ? $"GO: domain {d.Name} is ready for 'cutover run'" : $"NO-GO: {result.Reasons.Count} reason(s)");
            return result.Go ? 0 : 1;
        });
        return command;
    }

    private static Command Decide()
    {
        var config = CliOptions.Config();
        var domain = Domain();
        var fks = ForeignKeys();
        var reference = new Option<string>("--reference") { Description = "The reference (references.yaml name), as 'plan' and 'check' list it", Required = true };
        var key = new Option<string>("--key") { Description = "The referring row's key: its value, or a JSON object for a key of several columns", Required = true };
        var action = new Option<string>("--action") { Description = "delete (the row), keep (as is; the constraint is added NOT VALID), placeholder (attach to --placeholder)", Required = true };
        var placeholder = new Option<string?>("--placeholder") { Description = "With --action placeholder: the existing parent to attach the row to" };
        var by = new Option<string>("--by") { Description = "Who decides (recorded with the time)", Required = true };
        var command = new Command("decide", "Record what to do with one dangling reference before cutover; 'run' carries it out")
        {
            config, domain, fks, reference, key, action, placeholder, by,
        };
        command.SetAction(async (parse, ct) =>
        {
            var d = Resolve(parse, config, domain, fks, out _);
            var r = d.Enforced.FirstOrDefault(x => x.Name == parse.GetValue(reference))
                ?? throw new ConfigurationException($"domain {d.Name}: no reference '{parse.GetValue(reference)}' that a constraint enforces (known: {string.Join(", ", d.Enforced.Select(x => x.Name))})");
            await using var progress = await CutoverProgress.OpenAsync(d.Target.ConnectionString, d.Name, ct);
            var decisions = await DanglingDecisions.LoadAsync(progress.Connection, r, ct)
                ?? throw new ConfigurationException($"reference {r.Name}: {r.From.Table} or {r.To.Table} does not exist in the target");
            var k = await decisions.DecideAsync(progress.Connection, d.Name, parse.GetValue(key)!, parse.GetValue(action)!, parse.GetValue(placeholder), parse.GetValue(by)!, ct);
            var (_, _, rows) = await decisions.ListAsync(progress.Connection, d.Name, int.MaxValue, ct);
            Console.WriteLine($"{r.Name} {k}: {parse.GetValue(action)} (by {parse.GetValue(by)})"
                + (rows.Any(x => x.Key == k) ? "" : " — note: this key does not dangle now; the decision applies if it does at cutover"));
            return 0;
        });
        return command;
    }

    private static Command Run()
    {
        var config = CliOptions.Config();
        var domain = Domain();
        var fks = ForeignKeys();
        var roles = Roles();
        var stopped = ServicesStopped();
        var output = new Option<DirectoryInfo?>("--out", "-o") { Description = "Directory for the final reconciliation and the cutover report (default <reconcile.out>/cutover-<domain>)" };
        var fenceWait = new Option<TimeSpan>("--fence-wait") { Description = "How long open transactions on a source get to finish before their sessions are ended", DefaultValueFactory = _ => TimeSpan.FromSeconds(30) };
        var drainTimeout = new Option<TimeSpan>("--drain-timeout") { Description = "How long the pipeline gets to apply every source up to its fence", DefaultValueFactory = _ => TimeSpan.FromMinutes(5) };
        var by = new Option<string>("--by") { Description = "Who runs and signs off the cutover", DefaultValueFactory = _ => $"{Environment.UserName}@{Environment.MachineName}" };
        var logLevel = LogLevelOption();
        var command = new Command("run", "Fence the sources, drain, reconcile, set sequences, carry out decisions and validate foreign keys, switch grants, write the report. Resumes an interrupted run. Exit 0 done, 1 refused or failed")
        {
            config, domain, fks, roles, stopped, output, fenceWait, drainTimeout, by, logLevel,
        };
        command.SetAction(async (parse, ct) =>
        {
            var d = Resolve(parse, config, domain, fks, out var pipeline);
            var dir = parse.GetValue(output)?.FullName ?? Path.Combine(pipeline.Resolve(pipeline.Options.Reconcile.Out), $"cutover-{d.Name}");
            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(parse.GetValue(logLevel)));
            var options = new CutoverRunOptions
            {
                ServiceRoles = parse.GetValue(roles) ?? [],
                ServicesStopped = parse.GetValue(stopped),
                FenceWait = parse.GetValue(fenceWait),
                DrainTimeout = parse.GetValue(drainTimeout),
                Out = dir,
                By = parse.GetValue(by)!,
            };
            var outcome = await new CutoverRunner(d, Mappings.Load(pipeline), options, loggers.CreateLogger("Peeq.Cdc.Cutover")).RunAsync(ct);
            Console.WriteLine($"{outcome.State}: {outcome.Message}");
            if (outcome.ReportHtml is not null)
            {
                Console.WriteLine($"report: {outcome.ReportHtml}");
            }

            return outcome.Done ? 0 : 1;
        });
        return command;
    }
}
