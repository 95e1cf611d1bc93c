using System.CommandLine;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Reconciler;
using Peeq.Cdc.Reconciler.Reports;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>reconcile</c>: compares sources and targets; exit code 1 on a real difference.</summary>
public static class ReconcileCommand
{
    public static Command Create()
    {
        var config = CliOptions.Config();
        var output = new Option<DirectoryInfo?>("--out", "-o") { Description = "Directory for the reports (reconciliation.html/.json, differences.csv, ...); default reconcile.out from the config" };
        var rounds = new Option<int?>("--recheck-rounds") { Description = "Re-check rounds for keys that moved after the watermark (default reconcile.recheckRounds, 3)" };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Log level", DefaultValueFactory = _ => LogLevel.Warning };
        var command = new Command("reconcile",
            "Compare every mapped source table with its target rows (counts, checksums), the balances and the references; exits 0 clean, 1 on a real difference, 2 on an error, 3 when only unresolved items remain")
        {
            config,
            output,
            rounds,
            logLevel,
        };
        command.SetAction(async (parse, ct) =>
        {
            var pipeline = PipelineConfig.Load(parse.GetValue(config)!.FullName);
            if (parse.GetValue(rounds) is { } r)
            {
                pipeline.Options.Reconcile.RecheckRounds = r;
            }

            var dir = parse.GetValue(output)?.FullName ?? pipeline.Resolve(pipeline.Options.Reconcile.Out);
            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(parse.GetValue(logLevel)));
            var report = await ReconcileRunner.RunAsync(pipeline, Mappings.Load(pipeline), dir, loggers.CreateLogger("Peeq.Cdc.Reconciler"), ct);
            Print(report);
            await Operations.Notifications.NotificationsSetup.PublishReconciliationAsync(pipeline.Options.Notifications, report, Path.Combine(dir, ReportFiles.Json), ct);
            Console.WriteLine($"reports: {Path.Combine(dir, ReportFiles.Html)}");
            return ExitCode(report);
        });
        return command;
    }

    public static int ExitCode(ReconciliationReport report) => report.Verdict switch
    {
        Verdict.Clean => 0,
        Verdict.Different => 1,
        Verdict.Unresolved => 3,
        _ => 2,
    };

    public static void Print(ReconciliationReport report)
    {
        foreach (var c in report.Counts)
        {
            var mark = c.Verdict switch { Verdict.Clean => "ok  ", Verdict.Unresolved => "MOVE", _ => "DIFF" };
            Console.WriteLine($"{mark} {c.Source,-14} {c.SourceTable,-34} → {c.Target}.{c.TargetTable,-30} source {c.SourceRows,10}  target {c.TargetRows,10}{(c.Note is null ? "" : "  (" + c.Note + ")")}");
        }

        foreach (var t in report.TableTotals.Where(t => t.UnattributedRows > 0))
        {
            Console.WriteLine($"DIFF {t.Target}.{t.TargetTable}: {t.UnattributedRows} row(s) no configured source owns");
        }

        foreach (var b in report.Balances)
        {
            Console.WriteLine($"{(b.Verdict == Verdict.Clean ? "ok  " : b.Verdict == Verdict.Unresolved ? "MOVE" : "DIFF")} balance {b.Name}: {b.Groups} groups, {b.GroupsDiffering} differ, {b.GroupsUnresolved} unresolved; totals source {string.Join("/", b.SourceTotals)} target {string.Join("/", b.TargetTotals)}");
        }

        foreach (var d in report.Differences.Where(d => d.Status is DifferenceStatus.Different or DifferenceStatus.Unresolved).Take(20))
        {
            var cols = string.Join("; ", d.Columns.Select(c => $"{c.Column}: {c.Expected} → {c.Actual}"));
            Console.WriteLine($"  {d.Status.ToString().ToLowerInvariant()} {d.Kind.ToString().ToLowerInvariant()} {d.Target}.{d.TargetTable} {d.Key}{(cols.Length > 0 ? " " + cols : "")}");
        }

        foreach (var e in report.Errors)
        {
            Console.WriteLine($"ERROR {e}");
        }

        Console.WriteLine(report.Summary);
    }
}
