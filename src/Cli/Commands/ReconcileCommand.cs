using System.CommandLine;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Reconciler.Counts;
using Peeq.Cdc.Reconciler.Reports;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>reconcile</c>: compares sources and targets; exit code 1 on a real difference.</summary>
public static class ReconcileCommand
{
    public static Command Create()
    {
        var config = CliOptions.Config();
        var output = new Option<DirectoryInfo?>("--out", "-o") { Description = "Directory for the report (reconciliation.json)" };
        var command = new Command("reconcile", "Compare every source table with its target rows and report; exits 1 on a difference, 2 on an error")
        {
            config,
            output,
        };
        command.SetAction(async (parse, ct) =>
        {
            var pipeline = PipelineConfig.Load(parse.GetValue(config)!.FullName);
            var report = await new CountReconciler(pipeline.Options).RunAsync(ct);
            if (parse.GetValue(output) is { } dir)
            {
                await report.WriteAsync(dir.FullName, ct);
            }

            Print(report);
            Operations.Status.ReconciliationMetrics.Record(report);
            await Operations.Notifications.NotificationsSetup.PublishReconciliationAsync(pipeline.Options.Notifications, report,
                parse.GetValue(output) is { } d ? Path.Combine(d.FullName, "reconciliation.json") : null, ct);
            return report.Verdict switch
            {
                Verdict.Clean => 0,
                Verdict.Failed => 2,
                _ => 1,
            };
        });
        return command;
    }

    public static void Print(ReconciliationReport report)
    {
        foreach (var c in report.Counts)
        {
            var mark = c.Verdict == Verdict.Clean ? "ok  " : "DIFF";
            Console.WriteLine($"{mark} {c.Source,-16} {c.SourceTable,-40} source {c.SourceRows,10}  target {c.TargetRows,10}{(c.Note is null ? "" : "  (" + c.Note + ")")}");
        }

        foreach (var e in report.Errors)
        {
            Console.WriteLine($"ERROR {e}");
        }

        Console.WriteLine(report.Summary);
    }
}
