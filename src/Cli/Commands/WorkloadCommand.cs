using System.CommandLine;
using System.Diagnostics;
using Peeq.Cdc.Workload.Live;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>workload</c>: keeps writing to the legacy databases the way the legacy services do.</summary>
public static class WorkloadCommand
{
    public static Command Create()
    {
        var world = new LegacyWorldOptions();
        var rate = new Option<double>("--rate") { Description = "Operations per second (most are one transaction; a purchase commits in up to three databases); 0 = as fast as possible", DefaultValueFactory = _ => 50 };
        var duration = new Option<double?>("--duration") { Description = "Stop after this many seconds (default: until --operations, or Ctrl+C)" };
        var operations = new Option<long?>("--operations") { Description = "Stop after this many operations" };
        var seed = new Option<long>("--seed") { Description = "Same seed, same operations on the same data (the rate only paces them)", DefaultValueFactory = _ => 1 };
        var summary = new Option<FileInfo?>("--summary") { Description = "Write the summary (operations, transactions, rows per table, money moved) as JSON here" };
        var command = new Command("workload", "Write a realistic mix to the 22 legacy databases (follows, purchases, wallet credits, debits and transfers, edits, price changes, deletions) and summarise it")
        {
            rate,
            duration,
            operations,
            seed,
            summary,
        };
        world.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            Workload.LegacyWorld? legacy;
            try
            {
                legacy = world.Resolve(parse);
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            if (legacy is null)
            {
                Console.Error.WriteLine("error: give the server(s) the legacy databases are on (--server or --servers-file); seed them first with seed-data");
                return 2;
            }

            var options = new WorkloadOptions
            {
                Seed = parse.GetValue(seed),
                Rate = parse.GetValue(rate),
                Duration = parse.GetValue(duration) is { } d ? TimeSpan.FromSeconds(d) : null,
                Operations = parse.GetValue(operations),
            };
            await using var workload = new LegacyWorkload(legacy, options);
            var clock = Stopwatch.StartNew();
            using var progress = new Timer(_ => Console.Error.WriteLine(
                $"workload: {workload.Operations,9:N0} operations, {workload.Transactions,9:N0} transactions, {clock.Elapsed.TotalSeconds,6:0} s"), null, 5000, 5000);
            WorkloadSummary result;
            try
            {
                result = await workload.RunAsync(ct);
            }
            catch (Postgres.DatabaseUnavailableException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            result.Print(Console.Out);
            if (parse.GetValue(summary) is { } file)
            {
                await result.WriteAsync(file.FullName, CancellationToken.None);
                Console.WriteLine($"workload: summary written to {file.FullName}");
            }

            return 0;
        });
        return command;
    }
}
